"""Speech backends side by side on the same clips: speed (real-time factor), peak memory and accuracy (CER).

    .venv/bin/python benchmarks/transcription.py [--clips DIR | --manifest FILE] [--limit N]
        [--backends fw-int8,fw-float32,openai] [--org DIR|sample] [--bias none,lexicon,org,org+lexicon]
        [--lexicon FILE] [--reporter CODE] [--fix]

Biasing (``--org``): the org tree's CSV folder is imported into a throw-away SQLite database, and every clip is
decoded once per ``--bias`` variant: ``none``; ``lexicon`` (the county lexicon only); ``org`` (the reporter's
names from the org tree only, nearest first); ``org+lexicon`` (what the bot does). A clip's reporter is the
manifest's ``reporter`` (a person code) if present, else ``--reporter``, else the Mandarin-speaking liaison
workers of the org tree in turn (clip i -> worker i mod n), as notes from a county would come in. ``--fix``
also scores the pinyin post-correction (:mod:`transcription.correct`) on each variant's transcripts, on two
halves of the clips (even / odd rows) so a limit chosen on one half is checked on the other.

Each backend runs in its own subprocess, one after the other, so peak resident memory (``ru_maxrss``) is the
backend's own and runs do not compete for the 2 cores. All use the same packaged Whisper base weights, the same
decoding settings (language forced to zh, beam 5, temperatures 0/0.2/0.4, VAD) and the same post-processing;
only the inference engine / precision differs. The clips folder needs a ``manifest.jsonl`` with ``file`` and
``text`` (rows with empty text are edge cases, reported separately and not scored). Default clips:
``../shared/data/audio-dev`` (relative to the repository) if present, else ``tests/data/audio``.

RTF = transcription wall time / audio duration (lower is faster; includes decoding the OGG). Model load time is
reported apart. Ratios are relative to faster-whisper int8, the default backend.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BACKENDS = {
    "fw-int8": (
        "faster-whisper int8",
        "transcription.backends.faster_whisper",
        "FasterWhisperTranscriber",
        {"compute_type": "int8"},
    ),
    "fw-float32": (
        "faster-whisper float32",
        "transcription.backends.faster_whisper",
        "FasterWhisperTranscriber",
        {"compute_type": "float32"},
    ),
    "openai": (
        "openai-whisper (torch fp32)",
        "transcription.backends.openai_whisper",
        "OpenAIWhisperTranscriber",
        {},
    ),
}
BASELINE = "fw-int8"


def default_clips() -> Path:
    shared = ROOT.parent / "shared" / "data" / "audio-dev"
    return shared if (shared / "manifest.jsonl").exists() else ROOT / "tests" / "data" / "audio"


def load_manifest(clips: Path) -> list[dict]:
    with (clips / "manifest.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def reporter_names(org: str | None, manifest: list[dict], reporter: str | None) -> list[tuple[str, ...]]:
    """The org-tree names (nearest first) for each clip's reporter, from a throw-away SQLite copy of ``org``."""
    if not org:
        return [() for _ in manifest]
    import tempfile

    from sqlalchemy import select

    from storage.db import Database
    from storage.models import Person, Role
    from storage.orgtree import SAMPLE_DIR, import_org_dir
    from workflows.speech_context import reporter_names as names_for

    folder = SAMPLE_DIR if org == "sample" else Path(org)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/org.db")
        db.migrate()
        with db.session() as s:
            import_org_dir(s, folder)
        with db.session() as s:
            codes = {p.code: p.id for p in s.scalars(select(Person))}
            workers = [
                p.id
                for p in s.scalars(
                    select(Person).where(Person.role == Role.liaison_worker).order_by(Person.code)
                )
                if (p.speech_language or "zh") == "zh"
            ]
            out = []
            for index, row in enumerate(manifest):
                code = row.get("reporter") or reporter
                person = codes.get(code) if code else (workers[index % len(workers)] if workers else None)
                if code and person is None:
                    raise SystemExit(f"reporter {code!r} is not in {folder}/people.csv")
                out.append(names_for(s, person) if person is not None else ())
        db.dispose()
    return out


def worker(
    key: str,
    clips: Path,
    limit: int | None,
    threads: int,
    bias_variants: list[str],
    org: str | None,
    lexicon_file: str | None,
    reporter: str | None,
    fix: bool,
    layout: str | None = None,
) -> dict:
    """Runs inside the subprocess: load one backend, transcribe every clip once per bias variant."""
    import importlib

    from transcription.base import TranscriptionError
    from transcription.biasing import DEFAULT_LEXICON, Bias, load_lexicon
    from transcription.correct import correct
    from transcription.metrics import cer, edit_distance, normalize_for_cer

    label, module, cls_name, options = BACKENDS[key]
    cls = getattr(importlib.import_module(module), cls_name)
    if layout:
        options = {**options, "bias_layout": layout}
    transcriber = cls(cpu_threads=threads, **options)
    started = time.perf_counter()
    transcriber.warm_up()
    load_s = time.perf_counter() - started

    rows = load_manifest(clips)
    speech = [r for r in rows if r.get("text")][: limit or None]
    edge = [r for r in rows if not r.get("text")]
    lexicon = load_lexicon(lexicon_file or DEFAULT_LEXICON)
    names = reporter_names(org, speech, reporter)
    biased = getattr(transcriber, "accepts_bias", False)

    def bias_for(variant: str, index: int) -> Bias | None:
        parts = set(variant.split("+"))
        if variant == "none" or not biased:
            return None
        return Bias(
            names=names[index] if "org" in parts else (), lexicon=lexicon if "lexicon" in parts else ()
        )

    def score(texts: list[str], picks: list[int]) -> tuple[float, float]:
        scores = [cer(speech[i]["text"], texts[i]) for i in picks]
        ref = sum(len(normalize_for_cer(speech[i]["text"])) for i in picks)
        edits = sum(
            edit_distance(normalize_for_cer(speech[i]["text"]), normalize_for_cer(texts[i])) for i in picks
        )
        return (statistics.fmean(scores) if scores else float("nan"), edits / ref if ref else float("nan"))

    variants: dict[str, dict] = {}
    for variant in bias_variants:
        audio_s = elapsed_s = 0.0
        texts: list[str] = []
        for index, row in enumerate(speech):
            data = (clips / row["file"]).read_bytes()
            bias = bias_for(variant, index)
            t0 = time.perf_counter()
            result = (
                transcriber.transcribe(data, "zh", bias=bias) if bias else transcriber.transcribe(data, "zh")
            )
            elapsed_s += time.perf_counter() - t0
            audio_s += result.duration_s
            texts.append(result.text)
        every = list(range(len(speech)))
        scores = [cer(speech[i]["text"], texts[i]) for i in every]
        mean, corpus = score(texts, every)
        out = {
            "audio_s": audio_s,
            "elapsed_s": elapsed_s,
            "rtf": elapsed_s / audio_s if audio_s else float("nan"),
            "cer_mean": mean,
            "cer_median": statistics.median(scores) if scores else float("nan"),
            "cer_corpus": corpus,
            "cer_even": score(texts, every[0::2])[0],
            "cer_odd": score(texts, every[1::2])[0],
            "empty": sum(1 for t in texts if not t),
            "per_clip": [
                {"file": speech[i]["file"], "cer": round(scores[i], 3), "text": texts[i]} for i in every
            ],
        }
        if fix:
            terms = [Bias(names=names[i], lexicon=lexicon).terms for i in every]
            fixed = [correct(texts[i], terms[i]) for i in every]
            out["fixed"] = {
                "cer_mean": score(fixed, every)[0],
                "cer_even": score(fixed, every[0::2])[0],
                "cer_odd": score(fixed, every[1::2])[0],
                "changes": [
                    {"file": speech[i]["file"], "from": texts[i], "to": fixed[i]}
                    for i in every
                    if fixed[i] != texts[i]
                ],
            }
        variants[variant] = out
    edges = {}
    for row in edge:
        try:
            result = transcriber.transcribe((clips / row["file"]).read_bytes(), "zh")
            edges[row.get("kind", row["file"])] = repr(result.text)
        except TranscriptionError as exc:
            edges[row.get("kind", row["file"])] = f"{type(exc).__name__}"
    first = variants[bias_variants[0]]
    return {
        "key": key,
        "label": label,
        "name": transcriber.name,
        "clips": len(speech),
        "load_s": load_s,
        **{k: v for k, v in first.items() if k != "fixed"},
        "variants": variants,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "edges": edges,
    }


def run_in_subprocess(key: str, args: argparse.Namespace) -> dict | str:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        key,
        "--clips",
        str(args.clips),
        "--threads",
        str(args.threads),
        "--bias",
        args.bias,
    ]
    for flag in ("limit", "org", "lexicon", "reporter", "layout"):
        if getattr(args, flag):
            cmd += [f"--{flag}", str(getattr(args, flag))]
    if args.fix:
        cmd.append("--fix")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"failed: {last}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(results: dict[str, dict | str]) -> None:
    base = results.get(BASELINE)
    header = (
        f"{'backend':<28} {'clips':>5} {'audio s':>8} {'load s':>7} {'RTF':>6} {'×RTF':>6} "
        f"{'peak MB':>8} {'×mem':>5} {'CER mean':>8} {'median':>7} {'corpus':>7} {'empty':>5} {'s/clip':>6}"
    )
    print(header)
    print("-" * len(header))
    for key, r in results.items():
        if isinstance(r, str):
            print(f"{BACKENDS[key][0]:<28} {r}")
            continue
        ratio_rtf = r["rtf"] / base["rtf"] if isinstance(base, dict) else float("nan")
        ratio_mem = r["peak_rss_mb"] / base["peak_rss_mb"] if isinstance(base, dict) else float("nan")
        print(
            f"{r['label']:<28} {r['clips']:>5} {r['audio_s']:>8.1f} {r['load_s']:>7.1f} {r['rtf']:>6.3f} "
            f"{ratio_rtf:>6.2f} {r['peak_rss_mb']:>8.0f} {ratio_mem:>5.2f} {r['cer_mean']:>8.3f} "
            f"{r['cer_median']:>7.3f} {r['cer_corpus']:>7.3f} {r['empty']:>5} "
            f"{r['elapsed_s'] / max(1, r['clips']):>6.2f}"
        )
    for r in results.values():
        if (
            not isinstance(r, dict)
            or len(r["variants"]) < 2
            and not any("fixed" in v for v in r["variants"].values())
        ):
            continue
        print(f"\nbiasing, {r['label']} (CER mean over all clips / even rows / odd rows; RTF):")
        plain = r["variants"].get("none", {}).get("cer_mean")
        for name, v in r["variants"].items():
            gain = f"  {v['cer_mean'] - plain:+.3f} vs none" if plain is not None and name != "none" else ""
            print(
                f"  {name:<14} {v['cer_mean']:.3f} / {v['cer_even']:.3f} / {v['cer_odd']:.3f}  "
                f"RTF {v['rtf']:.3f}{gain}"
            )
            if "fixed" in v:
                f = v["fixed"]
                print(
                    f"  {name + ' +fix':<14} {f['cer_mean']:.3f} / {f['cer_even']:.3f} / {f['cer_odd']:.3f}  "
                    f"({len(f['changes'])} transcripts changed)"
                )
                for change in f["changes"][:12]:
                    print(f"      {change['file']}: {change['from']}  ->  {change['to']}")
    print()
    for r in results.values():
        if isinstance(r, dict) and r["edges"]:
            print(f"edge clips, {r['label']}: " + ", ".join(f"{k} -> {v}" for k, v in r["edges"].items()))
    if isinstance(base, dict):
        print()
        print("worst clips (faster-whisper int8, first variant):")
        for clip in sorted(base["per_clip"], key=lambda c: -c["cer"])[:3]:
            print(f"  {clip['file']}  CER {clip['cer']:.3f}  {clip['text']}")


VARIANTS = ("none", "lexicon", "org", "org+lexicon")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=Path, default=None, help="folder with manifest.jsonl")
    parser.add_argument(
        "--manifest", type=Path, default=None, help="a manifest.jsonl (its folder holds the clips)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N speech clips")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default 2)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma list of {', '.join(BACKENDS)}")
    parser.add_argument(
        "--org", help="org-tree CSV folder to bias with ('sample' = the shipped sample county)"
    )
    parser.add_argument(
        "--bias",
        default=None,
        help=f"comma list of {', '.join(VARIANTS)} (default: all of them with --org, else none,lexicon)",
    )
    parser.add_argument(
        "--lexicon", help="county lexicon file (default: transcription/lexicon/pastoral-zh.txt)"
    )
    parser.add_argument("--reporter", help="person code every clip is reported by (default: in turn)")
    parser.add_argument("--layout", help="faster-whisper bias_layout: split, hotwords or prompt")
    parser.add_argument("--fix", action="store_true", help="also score the pinyin post-correction")
    parser.add_argument("--json", type=Path, help="also write all figures (per clip too) to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.manifest:
        args.clips = args.manifest.parent
    args.clips = args.clips or default_clips()
    if not (args.clips / "manifest.jsonl").exists():
        parser.error(f"{args.clips}: no manifest.jsonl")
    args.bias = args.bias or ("none,org,lexicon,org+lexicon" if args.org else "none")
    variants = [v.strip() for v in args.bias.split(",") if v.strip()]
    if bad := [v for v in variants if v not in VARIANTS]:
        parser.error(f"unknown --bias variant(s) {bad}; choose from {', '.join(VARIANTS)}")
    if any("org" in v for v in variants) and not args.org:
        parser.error("--bias org needs --org DIR (or --org sample)")
    if args.worker:
        print(
            json.dumps(
                worker(
                    args.worker,
                    args.clips,
                    args.limit,
                    args.threads,
                    variants,
                    args.org,
                    args.lexicon,
                    args.reporter,
                    args.fix,
                    args.layout,
                ),
                ensure_ascii=False,
            )
        )
        return
    keys = [k.strip() for k in args.backends.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    load = os.getloadavg()
    print(
        f"clips: {args.clips}  limit: {args.limit or 'all'}  threads: {args.threads}  bias: {args.bias}  "
        f"org: {args.org or '-'}  load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n"
    )
    results = {}
    for key in keys:
        print(f"running {BACKENDS[key][0]} ...", file=sys.stderr, flush=True)
        results[key] = run_in_subprocess(key, args)
    print_table(results)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
