"""Speech backends side by side on the same clips: speed (real-time factor), peak memory and accuracy (CER).

    .venv/bin/python benchmarks/transcription.py [--clips DIR] [--limit N] [--backends fw-int8,fw-float32,openai]

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


def worker(key: str, clips: Path, limit: int | None, threads: int) -> dict:
    """Runs inside the subprocess: load one backend, transcribe every clip once, return figures."""
    import importlib

    from transcription.base import TranscriptionError
    from transcription.metrics import cer, edit_distance, normalize_for_cer

    label, module, cls_name, options = BACKENDS[key]
    cls = getattr(importlib.import_module(module), cls_name)
    transcriber = cls(cpu_threads=threads, **options)
    started = time.perf_counter()
    transcriber.warm_up()
    load_s = time.perf_counter() - started

    rows = load_manifest(clips)
    speech = [r for r in rows if r.get("text")][: limit or None]
    edge = [r for r in rows if not r.get("text")]
    audio_s = elapsed_s = 0.0
    scores, edits, ref_chars, clips_out = [], 0, 0, []
    for row in speech:
        data = (clips / row["file"]).read_bytes()
        t0 = time.perf_counter()
        result = transcriber.transcribe(data, "zh")
        elapsed_s += time.perf_counter() - t0
        audio_s += result.duration_s
        score = cer(row["text"], result.text)
        scores.append(score)
        ref, hyp = normalize_for_cer(row["text"]), normalize_for_cer(result.text)
        edits += edit_distance(ref, hyp)
        ref_chars += len(ref)
        clips_out.append({"file": row["file"], "cer": round(score, 3), "text": result.text})
    edges = {}
    for row in edge:
        try:
            result = transcriber.transcribe((clips / row["file"]).read_bytes(), "zh")
            edges[row.get("kind", row["file"])] = repr(result.text)
        except TranscriptionError as exc:
            edges[row.get("kind", row["file"])] = f"{type(exc).__name__}"
    return {
        "key": key,
        "label": label,
        "name": transcriber.name,
        "clips": len(speech),
        "load_s": load_s,
        "audio_s": audio_s,
        "elapsed_s": elapsed_s,
        "rtf": elapsed_s / audio_s if audio_s else float("nan"),
        "cer_mean": statistics.fmean(scores) if scores else float("nan"),
        "cer_median": statistics.median(scores) if scores else float("nan"),
        "cer_corpus": edits / ref_chars if ref_chars else float("nan"),
        "empty": sum(1 for c in clips_out if not c["text"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "edges": edges,
        "per_clip": clips_out,
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
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
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
        f"{'peak MB':>8} {'×mem':>5} {'CER mean':>8} {'median':>7} {'corpus':>7} {'empty':>5}"
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
            f"{r['cer_median']:>7.3f} {r['cer_corpus']:>7.3f} {r['empty']:>5}"
        )
    print()
    for r in results.values():
        if isinstance(r, dict) and r["edges"]:
            print(f"edge clips, {r['label']}: " + ", ".join(f"{k} -> {v}" for k, v in r["edges"].items()))
    if isinstance(base, dict):
        print()
        print("worst clips (faster-whisper int8):")
        for clip in sorted(base["per_clip"], key=lambda c: -c["cer"])[:3]:
            print(f"  {clip['file']}  CER {clip['cer']:.3f}  {clip['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=Path, default=default_clips(), help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="only the first N speech clips")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default 2)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma list of {', '.join(BACKENDS)}")
    parser.add_argument("--json", type=Path, help="also write all figures (per clip too) to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.clips / "manifest.jsonl").exists():
        parser.error(f"{args.clips}: no manifest.jsonl")
    if args.worker:
        print(json.dumps(worker(args.worker, args.clips, args.limit, args.threads), ensure_ascii=False))
        return
    keys = [k.strip() for k in args.backends.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    print(f"clips: {args.clips}  limit: {args.limit or 'all'}  threads: {args.threads}\n")
    results = {}
    for key in keys:
        print(f"running {BACKENDS[key][0]} ...", file=sys.stderr, flush=True)
        results[key] = run_in_subprocess(key, args)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
