"""Decode any common audio container to 16 kHz mono float32 samples, in-process.

Why PyAV and not the ``ffmpeg`` binary: the bot runs on small county servers and in containers where an extra
system binary is one more thing to go missing; PyAV wheels bundle the FFmpeg libraries, and decoding in-process
lets us stop early when a file is longer than allowed (a 3-hour upload is never fully decoded).

Telegram sends voice notes as OGG/Opus, audio files as MP3/M4A, and round video notes as MP4 (we take the audio
track). Every failure of the decoder becomes an :class:`AudioDecodeError` with a short reason; limits raise
:class:`AudioTooLongError`. A truncated file (an upload cut short) decodes as far as it goes.
"""

from __future__ import annotations

import io
import logging

import av
import numpy as np

from transcription.base import AudioDecodeError, AudioTooLongError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

__all__ = ["SAMPLE_RATE", "decode_audio", "probe_duration"]


def _open(data: bytes) -> av.container.InputContainer:
    if not data:
        raise AudioDecodeError("empty audio: 0 bytes")
    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError, EOFError) as exc:
        raise AudioDecodeError(f"not a recognised audio file ({exc.__class__.__name__}: {exc})") from exc


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise AudioDecodeError("the file has no audio track")
    return container.streams.audio[0]


def _declared_duration(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> float | None:
    """Duration from the container headers, if any (not trusted for truncated files, only for early limits)."""
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return seconds
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def probe_duration(data: bytes) -> float | None:
    """Declared duration in seconds from the container headers, without decoding; None if unknown.

    OGG/Opus from Telegram usually has no header duration; the caller should then rely on the limit that
    :func:`decode_audio` enforces while decoding. Raises :class:`AudioDecodeError` for non-audio input.
    """
    container = _open(data)
    try:
        return _declared_duration(container, _audio_stream(container))
    finally:
        container.close()


def decode_audio(
    data: bytes,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Decode ``data`` to a 1-D float32 array (mono, ``sample_rate`` Hz, range about [-1, 1]).

    - ``max_bytes`` is checked before anything is parsed; ``max_seconds`` against the header duration when the
      container declares one, and again while decoding, so an over-long file stops after ``max_seconds``.
    - Raises :class:`AudioDecodeError` when the bytes are not audio, have no audio stream, or yield no samples;
      a decode error after some audio was produced (truncated upload) is logged and the partial audio returned.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise AudioTooLongError(f"audio is {len(data)} bytes, limit is {max_bytes}")
    container = _open(data)
    try:
        stream = _audio_stream(container)
        declared = _declared_duration(container, stream)
        if max_seconds is not None and declared is not None and declared > max_seconds * 1.1 + 1:
            raise AudioTooLongError(f"audio is {declared:.1f} s long, limit is {max_seconds:g} s")
        max_samples = None if max_seconds is None else int((max_seconds + 0.5) * sample_rate)
        chunks = _decode_stream(container, stream, sample_rate, max_samples, max_seconds)
    finally:
        container.close()
    if not chunks:
        raise AudioDecodeError("no audio samples could be decoded")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    if samples.size == 0:
        raise AudioDecodeError("no audio samples could be decoded")
    return samples


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    sample_rate: int,
    max_samples: int | None,
    max_seconds: float | None,
) -> list[np.ndarray]:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    total = 0

    def take(frames: list[av.AudioFrame]) -> None:
        nonlocal total
        for frame in frames:
            array = frame.to_ndarray().reshape(-1)
            chunks.append(array)
            total += array.size
        if max_samples is not None and total > max_samples:
            raise AudioTooLongError(f"audio is longer than the limit of {max_seconds:g} s")

    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    frame.pts = None  # let the resampler re-time; broken timestamps in cut files are common
                    take(resampler.resample(frame))
            except av.FFmpegError as exc:
                # one bad packet (bit error, cut page) should not lose the rest of the message
                log.debug("skipping undecodable packet: %s", exc)
        take(resampler.resample(None))  # flush
    except AudioTooLongError:
        raise
    except (av.FFmpegError, EOFError, ValueError) as exc:
        if not chunks:
            raise AudioDecodeError(f"could not decode audio ({exc.__class__.__name__}: {exc})") from exc
        log.warning("audio ended early (%s); keeping %.1f s decoded so far", exc, total / sample_rate)
    return chunks
