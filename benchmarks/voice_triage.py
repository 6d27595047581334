"""The whole voice path, as a worker uses it: voice note → transcript (default backend) → triage.

    .venv/bin/python benchmarks/voice_triage.py [--clips DIR] [--limit N]

Speech recognition errors (homophones such as 羊圈→洋剑) reach the classifier, so the figure that matters to a
worker is triage quality on *transcripts*, not on the typed reference text. This prints both side by side on the
same labelled clips (the manifest's ``urgent`` and ``category``), plus the transcription CER.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcription.factory import build_transcribers  # noqa: E402
from transcription.metrics import cer  # noqa: E402
from workflows.triage import default_classifier  # noqa: E402
from workflows.triage.evaluate import Report, evaluate, format_evaluation  # noqa: E402


def default_clips() -> Path:
    shared = ROOT.parent / "shared" / "data" / "audio-dev"
    return shared if (shared / "manifest.jsonl").exists() else ROOT / "tests" / "data" / "audio"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args(argv)
    root = args.clips or default_clips()
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text(encoding="utf-8").splitlines() if line]
    rows = [r for r in rows if r.get("text") and r.get("category")][: args.limit]

    transcriber = build_transcribers({})["zh"]
    reference, heard, errors = [], [], []
    for r in rows:
        transcript = transcriber.transcribe((root / r["file"]).read_bytes(), "zh")
        errors.append(cer(r["text"], transcript.text))
        reference.append(Report(r["text"], "zh", bool(r["urgent"]), r["category"]))
        heard.append(Report(transcript.text, "zh", bool(r["urgent"]), r["category"]))
        print(f"  {r['file']}: CER {errors[-1]:.2f}  {transcript.text}", flush=True)

    classifier = default_classifier()
    print(f"\nclips: {len(rows)} from {root}; mean CER {sum(errors) / len(errors):.3f} ({transcriber.name})\n")
    print(format_evaluation(evaluate(classifier, reference), title="typed reference text"))
    print(format_evaluation(evaluate(classifier, heard), title="what the speech model heard",
                            show_misses=args.show_misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
