"""Synthetic voice notes from a labelled JSONL file: every Mandarin row becomes a Telegram-format voice clip.

    .venv/bin/python benchmarks/synthesize_voice.py LABELLED.jsonl OUT_DIR [--voice m1|f2|m3] [--limit N]

Writes ``OUT_DIR/NNN.ogg`` (Ogg/Opus, mono, 48 kHz, ~24 kb/s, like a Telegram voice note) and
``OUT_DIR/manifest.jsonl`` with ``file, text, urgent, category, six_visit`` (and ``voice``), the folder format
``benchmarks/voice_triage.py`` reads. Tibetan rows are skipped (espeak-ng has no Tibetan voice).

Voices are espeak-ng's Mandarin (``cmn-latn-pinyin``) with three variants, so a figure is never one voice's:
``m1`` (default male, 150 wpm), ``f2`` (female variant, 140 wpm, higher pitch), ``m3`` (male variant, 170 wpm,
lower pitch). Needs the ``espeak-ng`` Debian package (``apt-get install -y espeak-ng``).

Minimal version written for issue 8 (voice-to-triage figures); issue 9 owns this script and may extend it.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "audio"))

from make_tts import RATE, encode_opus  # noqa: E402

VOICES = {
    "m1": ("cmn-latn-pinyin", 150, 50),
    "f2": ("cmn-latn-pinyin+f2", 140, 65),
    "m3": ("cmn-latn-pinyin+m3", 170, 35),
}


def synthesize(text: str, voice: str = "m1") -> np.ndarray:
    """espeak-ng WAV -> float32 mono at 48 kHz, with 0.3 s of silence either side."""
    name, speed, pitch = VOICES[voice]
    wav = subprocess.run(
        ["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    chunks = []
    with av.open(io.BytesIO(wav)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    pad = np.zeros(int(0.3 * RATE), dtype=np.float32)
    return np.concatenate([pad, *chunks, pad]).astype(np.float32)


def is_mandarin(row: dict) -> bool:
    return row.get("lang", "zh") == "zh" and any("\u4e00" <= ch <= "\u9fff" for ch in row.get("text", ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labelled", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--voice", choices=sorted(VOICES), default="m1")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if is_mandarin(r)][: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for i, row in enumerate(rows):
        name = f"{i:03d}.ogg"
        samples = synthesize(row["text"], args.voice)
        encode_opus(samples, args.out / name)
        manifest.append(
            {
                "file": name,
                "text": row["text"],
                "urgent": bool(row["urgent"]),
                "category": row["category"],
                "six_visit": row.get("six_visit"),
                "voice": f"espeak-ng {VOICES[args.voice][0]}",
                "duration_s": round(samples.size / RATE, 3),
            }
        )
    (args.out / "manifest.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in manifest), encoding="utf-8"
    )
    print(f"{len(manifest)} clips ({args.voice}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
