"""Regenerate the robotic-voice Mandarin test clips in ``tts/`` with espeak-ng (Mandarin voice ``cmn-latn-pinyin``).

Why: the shared dev clips all come from one neural TTS voice; a second, very different synthetic voice
(formant synthesis, flat prosody) checks that the pipeline still returns something close to the words, with
a looser CER bound. The OGG files are committed, so CI needs neither espeak-ng nor this script; run it only to
change the clips:

    apt-get install -y espeak-ng
    .venv/bin/python tests/data/audio/make_tts.py

Output matches Telegram voice notes: Ogg/Opus, mono, 48 kHz, ~24 kb/s, encoded in-process with PyAV.
The script rewrites the ``kind == "tts"`` rows of ``manifest.jsonl`` and leaves the others alone.
"""

from __future__ import annotations

import io
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).parent
CLIPS = {
    "tts/yak_lost.ogg": "牦牛丢了三头 快帮忙找一下",
    "tts/pipe_frozen.ogg": "村里的水管冻裂了 好几户人家没有水喝",
    "tts/fever.ogg": "娃娃发高烧 要赶紧送到医院去",
    "tts/pasture.ogg": "草场被别人占了 请领导过来看看",
}
RATE = 48000
# Debian's "cmn" voice turns Hanzi into pinyin with tone digits and then reads those as *English*
# ("mao2" -> "mao two"); "cmn-latn-pinyin" is the same Mandarin voice reading the pinyin as Mandarin.
VOICE = "cmn-latn-pinyin"


def synthesize(text: str) -> np.ndarray:
    """espeak-ng WAV on stdout -> float32 mono at 48 kHz (resampled with PyAV)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", "150", "--stdout", text], check=True, capture_output=True
    ).stdout
    chunks = []
    with av.open(io.BytesIO(wav)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    samples = np.concatenate(chunks)
    pad = np.zeros(int(0.3 * RATE), dtype=np.float32)
    return np.concatenate([pad, samples, pad]).astype(np.float32)


def encode_opus(samples: np.ndarray, path: Path) -> None:
    with av.open(str(path), mode="w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = 24000
        frame_size = 960
        pts = 0
        for start in range(0, samples.size, frame_size):
            block = samples[start : start + frame_size]
            if block.size < frame_size:
                block = np.pad(block, (0, frame_size - block.size))
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = pts
            frame.time_base = Fraction(1, RATE)
            pts += frame_size
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> None:
    rows = []
    for name, text in CLIPS.items():
        samples = synthesize(text)
        (HERE / name).parent.mkdir(exist_ok=True)
        encode_opus(samples, HERE / name)
        rows.append(
            {
                "file": name,
                "text": text,
                "kind": "tts",
                "voice": f"espeak-ng {VOICE}",
                "duration_s": round(samples.size / RATE, 3),
            }
        )
        print(f"{name}: {samples.size / RATE:.2f} s, {(HERE / name).stat().st_size} bytes")
    manifest = HERE / "manifest.jsonl"
    kept = [
        line
        for line in manifest.read_text("utf-8").splitlines()
        if line and json.loads(line).get("kind") != "tts"
    ]
    manifest.write_text("\n".join(kept + [json.dumps(r, ensure_ascii=False) for r in rows]) + "\n", "utf-8")


if __name__ == "__main__":
    main()
