"""Voice-to-triage: per voice folder, triage quality on what the speech model heard, next to the same rows typed.

    .venv/bin/python benchmarks/voice_triage.py FOLDER [FOLDER ...] [--cache DIR] [--limit N] [--show-misses]
    .venv/bin/python benchmarks/voice_triage.py            # the dev clips (shared audio-dev, else tests/data/audio)

A voice folder holds clips and a ``manifest.jsonl`` with ``file, text, urgent, category`` (and optionally
``six_visit``), the format ``benchmarks/synthesize_voice.py LABELLED.jsonl OUT_DIR`` writes. For each folder
this transcribes every labelled clip with the default speech backend (what the bot runs), then prints, side by
side: urgent recall, urgent precision and category accuracy (and life-event recall/precision when labelled)

- ``typed``: the manifest's reference text, as if typed (``source="text"``);
- ``heard``: the transcripts, classified as the bot does (``source="speech"``: cues also match by sound);
- ``heard, exact``: the transcripts with exact matching only (``source="text"``), to show what matching by
  sound adds;

plus the mean character error rate. Speech recognition errors (羊圈→洋剑) reach the classifier, so the figure
that matters to a worker is the ``heard`` one. ``--cache DIR`` keeps transcripts (keyed by folder, file and
backend) so a second run after a classifier change does not transcribe again; the folder itself is never
written to.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcription.metrics import cer  # noqa: E402
from workflows.triage import default_classifier  # noqa: E402
from workflows.triage.evaluate import Evaluation, Report, evaluate, format_evaluation  # noqa: E402


def default_clips() -> Path:
    shared = ROOT.parent / "shared" / "data" / "audio-dev"
    return shared if (shared / "manifest.jsonl").exists() else ROOT / "tests" / "data" / "audio"


def labelled_rows(folder: Path, limit: int | None) -> list[dict]:
    rows = [
        json.loads(line)
        for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    return [r for r in rows if r.get("text") and r.get("category") and "urgent" in r][:limit]


class TranscriptCache:
    def __init__(self, folder: Path | None, backend: str) -> None:
        self.path = folder / f"transcripts-{backend}.jsonl" if folder else None
        self.data: dict[str, str] = {}
        if self.path and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line:
                    row = json.loads(line)
                    self.data[row["key"]] = row["text"]

    @staticmethod
    def key(clip: Path) -> str:
        return hashlib.sha256(clip.read_bytes()).hexdigest()[:24]

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, text: str) -> None:
        self.data[key] = text
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "text": text}, ensure_ascii=False) + "\n")


def report(row: dict, text: str) -> Report:
    six = row.get("six_visit")
    return Report(text, "zh", bool(row["urgent"]), row["category"], six or None, "six_visit" in row)


def row_line(label: str, ev: Evaluation) -> str:
    life = f"   {ev.life_recall:.3f}   {ev.life_precision:.3f}" if ev.life_n else "      -       -"
    return (
        f"  {label:14} {ev.urgent_recall:6.3f} ({ev.tp}/{ev.tp + ev.fn})  {ev.urgent_precision:6.3f} "
        f"({ev.tp}/{ev.tp + ev.fp})  {ev.category_accuracy:6.3f}{life}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--cache", type=Path, default=None, help="keep transcripts here between runs")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="do not print each transcript")
    ap.add_argument(
        "--cached-only",
        action="store_true",
        help="with --cache: classify only the clips already transcribed there (never load the speech model; "
        "the cache is not written), to re-measure the triage side while transcription is still running",
    )
    args = ap.parse_args(argv)

    from transcription.factory import build_transcribers

    transcriber = build_transcribers({})["zh"]  # builds lazily: the weights load on the first transcription
    classifier = default_classifier()
    cache = TranscriptCache(args.cache, transcriber.name.replace("/", "_"))
    summary = []
    for folder in args.folders or [default_clips()]:
        rows = labelled_rows(folder, args.limit)
        typed, heard, errors = [], [], []
        t0 = time.perf_counter()
        for r in rows:
            clip = folder / r["file"]
            key = cache.key(clip)
            text = cache.get(key)
            if text is None and args.cached_only:
                continue
            if text is None:
                text = transcriber.transcribe(clip.read_bytes(), "zh").text
                cache.put(key, text)
            errors.append(cer(r["text"], text))
            typed.append(report(r, r["text"]))
            heard.append(report(r, text))
            if not args.quiet:
                print(f"  {r['file']}: CER {errors[-1]:.2f}  {text}", flush=True)
        ev_typed = evaluate(classifier, typed)
        ev_heard = evaluate(classifier, heard, source="speech")
        ev_exact = evaluate(classifier, heard, source="text")
        mean_cer = sum(errors) / max(len(errors), 1)
        lines = [
            f"== {folder}: {len(heard)} clips, mean CER {mean_cer:.3f} ({transcriber.name}, "
            f"{time.perf_counter() - t0:.0f} s)",
            f"  {'':14} {'urgent recall':>13}  {'urgent precision':>16}  {'category':>8} "
            f"{'life recall':>11} {'life precision':>14}",
            row_line("typed", ev_typed),
            row_line("heard", ev_heard),
            row_line("heard, exact", ev_exact),
        ]
        summary.append((len(heard), ev_typed, ev_heard))
        print("\n".join(lines), flush=True)
        if args.show_misses:
            print(format_evaluation(ev_heard, title=f"{folder} heard (source=speech)", show_misses=True))
    if len(summary) > 1:
        total_typed, total_heard = Evaluation(), Evaluation()
        for _, a, b in summary:
            for total, ev in ((total_typed, a), (total_heard, b)):
                for k in (
                    "n",
                    "tp",
                    "fp",
                    "fn",
                    "tn",
                    "category_correct",
                    "life_labelled",
                    "life_flagged",
                    "life_correct",
                    "life_n",
                ):
                    setattr(total, k, getattr(total, k) + getattr(ev, k))
        print(f"== all {len(summary)} folders, {total_typed.n} clips")
        print(row_line("typed", total_typed))
        print(row_line("heard", total_heard))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
