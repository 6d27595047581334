"""Make small audio files in memory with PyAV, so decode tests cover containers we do not ship as fixtures."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np


def tone(seconds: float, rate: int, *, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A sine wave, shape (channels, samples), float32 in [-0.5, 0.5]."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def encode(
    samples: np.ndarray,
    rate: int,
    *,
    container: str,
    codec: str,
    bit_rate: int | None = None,
    with_video: bool = False,
    frame_size: int = 1024,
) -> bytes:
    """Encode planar float samples (channels, n) to bytes in ``container`` with ``codec``."""
    samples = np.atleast_2d(samples).astype(np.float32)
    channels = samples.shape[0]
    layout = "mono" if channels == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        if with_video:
            video = out.add_stream("mpeg4", rate=10)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        ctx_format = stream.codec_context.format.name  # encoder's preferred sample format
        resampler = av.AudioResampler(format=ctx_format, layout=layout, rate=rate)
        size = stream.codec_context.frame_size or frame_size
        pts = 0
        for start in range(0, samples.shape[1], size):
            block = samples[:, start : start + size]
            if block.shape[1] < size and stream.codec_context.frame_size:
                block = np.pad(block, ((0, 0), (0, size - block.shape[1])))
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += block.shape[1]
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if with_video:
            duration = samples.shape[1] / rate
            for i in range(max(1, int(duration * 10))):
                image = np.full((64, 64, 3), i % 255, dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24")
                vframe.pts = i
                for packet in video.encode(vframe):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
    return buffer.getvalue()


def video_only_mp4(seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        for i in range(int(seconds * 10)):
            vframe = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), dtype=np.uint8), format="rgb24")
            vframe.pts = i
            for packet in video.encode(vframe):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def ogg_opus(samples_16k: np.ndarray) -> bytes:
    """Mono 16 kHz float samples -> Telegram-style Ogg/Opus (48 kHz, 24 kb/s)."""
    up = np.interp(np.arange(samples_16k.size * 3) / 3, np.arange(samples_16k.size), samples_16k)
    return encode(
        up.astype(np.float32), 48000, container="ogg", codec="libopus", bit_rate=24000, frame_size=960
    )
