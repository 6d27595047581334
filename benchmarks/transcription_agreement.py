"""Proof that the CTranslate2 → openai-whisper converter is exact: transcribe the same clips with both backends
on the same packaged weights and count identical transcripts.

    .venv/bin/python benchmarks/transcription_agreement.py [--mode greedy|default] [--clips DIR] [--limit N]

``greedy`` (beam 1, temperature 0, faster-whisper in float32) isolates the conversion: any difference is a
conversion bug. ``default`` compares the shipped settings (faster-whisper int8, beam 5), where small differences
come from int8 quantisation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcription.audio import decode_audio  # noqa: E402
from transcription.backends.faster_whisper import FasterWhisperTranscriber  # noqa: E402
from transcription.backends.openai_whisper import OpenAIWhisperTranscriber  # noqa: E402
from transcription.convert import convert  # noqa: E402
from transcription.metrics import cer  # noqa: E402
from transcription.weights import packaged_whisper_base  # noqa: E402


def default_clips() -> Path:
    shared = ROOT.parent / "shared" / "data" / "audio-dev"
    return shared if (shared / "manifest.jsonl").exists() else ROOT / "tests" / "data" / "audio"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["greedy", "default"], default="greedy")
    ap.add_argument("--clips", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    root = args.clips or default_clips()
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text(encoding="utf-8").splitlines() if line]
    rows = [r for r in rows if r.get("text")][: args.limit]

    folder = packaged_whisper_base()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        convert(folder, Path(tmp) / "check.pt")
        print(f"conversion: {time.perf_counter() - t0:.1f} s")

    if args.mode == "greedy":
        ow = OpenAIWhisperTranscriber(beam_size=1, temperature=0.0, cpu_threads=2)
        fw = FasterWhisperTranscriber(compute_type="float32", beam_size=1, temperature=(0.0,), cpu_threads=2)
    else:
        ow = OpenAIWhisperTranscriber(cpu_threads=2)
        fw = FasterWhisperTranscriber(cpu_threads=2)
    ow.warm_up()
    fw.warm_up()

    between, c_ow, c_fw, same = [], [], [], 0
    t_ow = t_fw = audio_s = 0.0
    for r in rows:
        samples = decode_audio((root / r["file"]).read_bytes())
        a = ow.transcribe_array(samples, "zh")
        b = fw.transcribe_array(samples, "zh")
        t_ow += a.elapsed_s
        t_fw += b.elapsed_s
        audio_s += a.duration_s
        d = cer(b.text, a.text) if b.text else float(bool(a.text))
        between.append(d)
        same += a.text == b.text
        c_ow.append(cer(r["text"], a.text))
        c_fw.append(cer(r["text"], b.text))
        if d > 0:
            print(f"  {r['file']}: openai={a.text!r} faster={b.text!r} diff={d:.3f}")
    n = len(rows)
    print(f"[{args.mode}] clips={n} identical={same}/{n} CER between backends mean={statistics.mean(between):.4f} "
          f"max={max(between):.3f}")
    print(f"CER vs reference: openai-whisper {statistics.mean(c_ow):.3f}  faster-whisper {statistics.mean(c_fw):.3f}")
    print(f"RTF: openai-whisper {t_ow / audio_s:.3f}  faster-whisper {t_fw / audio_s:.3f}  "
          f"ratio {t_ow / t_fw:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
