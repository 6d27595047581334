"""Real media made in-test: a tiny PNG, and a real recording re-encoded as a phone would send it — an M4A
(AAC) audio file, and a round video note (MP4: an MPEG-4 video track plus the AAC audio track) — with PyAV,
the same library that decodes them in the bot. Nothing is faked: the bot must find and transcribe the audio
track of these files."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import av
import numpy as np

from transcription.audio import decode_audio


def png(width: int = 8, height: int = 6, seed: int = 0) -> bytes:
    """A valid RGB PNG (distinct bytes per ``seed``)."""
    raw = b"".join(
        b"\x00" + b"".join(bytes([(x * 31 + y * 17 + seed * 7) % 256, seed % 256, (x + y) % 256]) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _samples(recording: bytes, rate: int) -> np.ndarray:
    return decode_audio(recording, sample_rate=rate)


def _audio_stream(container: av.container.OutputContainer, rate: int) -> av.audio.stream.AudioStream:
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "mono"  # type: ignore[union-attr]
    return stream  # type: ignore[return-value]


def _write_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                 samples: np.ndarray, rate: int) -> None:
    step = 1024
    for start in range(0, samples.size, step):
        chunk = samples[start:start + step].astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def m4a(recording: bytes, rate: int = 44100) -> bytes:
    """The recording as an M4A audio file (AAC in MP4), as a phone's recorder app saves it."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="ipod") as container:
        _write_audio(container, _audio_stream(container, rate), _samples(recording, rate), rate)
    return out.getvalue()


def video_note(recording: bytes, rate: int = 44100, size: int = 64, fps: int = 10) -> bytes:
    """The recording as a round Telegram video note: MP4 with a square video track and the AAC audio."""
    samples = _samples(recording, rate)
    seconds = samples.size / rate
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = size  # type: ignore[union-attr]
        video.pix_fmt = "yuv420p"  # type: ignore[union-attr]
        audio = _audio_stream(container, rate)  # every stream before the first packet (MP4 header)
        for i in range(max(1, int(seconds * fps))):
            image = np.full((size, size, 3), (i * 9) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        _write_audio(container, audio, samples, rate)
    return out.getvalue()
