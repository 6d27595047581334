"""Decoding: every container Telegram sends, the shared edge clips, and the limits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.transcription.audiofiles import encode, ogg_opus, tone, video_only_mp4
from tests.transcription.conftest import DEV_CLIPS, EDGE, clip_bytes
from transcription import audio
from transcription.audio import decode_audio, probe_duration
from transcription.base import AudioDecodeError, AudioTooLongError

FORMATS = {
    "wav": dict(container="wav", codec="pcm_s16le", rate=44100),
    "mp3": dict(container="mp3", codec="libmp3lame", rate=44100),
    "m4a": dict(container="ipod", codec="aac", rate=44100),
    "mp4 video note": dict(container="mp4", codec="aac", rate=48000, with_video=True),
    "ogg/opus": dict(container="ogg", codec="libopus", rate=48000),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_decodes_stereo_tone_to_16k_mono(kind: str) -> None:
    spec = dict(FORMATS[kind])
    rate = spec.pop("rate")
    data = encode(tone(2.0, rate, freq=440.0, channels=2), rate, **spec)
    samples = decode_audio(data)
    assert samples.dtype == np.float32 and samples.ndim == 1
    # encoders add priming/padding samples; the length stays within 50 ms of 2 s
    assert abs(samples.size / 16000 - 2.0) < 0.05
    # the tone survives: its dominant frequency is 440 Hz after resampling
    spectrum = np.abs(np.fft.rfft(samples[1600:-1600]))
    peak_hz = np.argmax(spectrum) * 16000 / (samples.size - 3200)
    assert abs(peak_hz - 440.0) < 5.0
    assert 0.3 < np.abs(samples).max() <= 1.0


def test_decodes_dev_voice_note_with_header_duration() -> None:
    row = DEV_CLIPS[0]
    data = clip_bytes(row)
    samples = decode_audio(data)
    assert samples.size / 16000 == pytest.approx(row["duration_s"], abs=0.05)
    assert probe_duration(data) == pytest.approx(row["duration_s"], abs=0.05)


def test_other_sample_rate() -> None:
    samples = decode_audio(clip_bytes(DEV_CLIPS[0]), sample_rate=8000)
    assert samples.size / 8000 == pytest.approx(DEV_CLIPS[0]["duration_s"], abs=0.05)


def test_silence_decodes_to_zeros_not_error() -> None:
    samples = decode_audio(clip_bytes(EDGE["silence"]))
    assert samples.size / 16000 == pytest.approx(5.0, abs=0.05)
    assert np.abs(samples).max() < 1e-3


def test_not_audio_is_a_decode_error() -> None:
    with pytest.raises(AudioDecodeError, match="not a recognised audio file"):
        decode_audio(clip_bytes(EDGE["not_audio"]))
    with pytest.raises(AudioDecodeError):
        probe_duration(clip_bytes(EDGE["not_audio"]))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 1000, b"OggS" + b"\xff" * 200, "羊圈着火了".encode()],
    ids=["empty", "zeros", "bad-ogg-header", "utf8-text"],
)
def test_garbage_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(AudioDecodeError):
        decode_audio(data)


def test_video_without_audio_track() -> None:
    with pytest.raises(AudioDecodeError, match="no audio track"):
        decode_audio(video_only_mp4())


def test_truncated_ogg_decodes_what_it_can() -> None:
    samples = decode_audio(clip_bytes(EDGE["truncated"]))
    assert samples.size / 16000 == pytest.approx(2.0, abs=0.1)
    assert np.abs(samples).max() > 0.1  # it is the start of real speech


def test_truncated_mid_packet_keeps_partial_audio() -> None:
    data = encode(tone(3.0, 44100), 44100, container="mp3", codec="libmp3lame")
    cut = data[: len(data) // 2 + 37]  # cut inside a frame
    samples = decode_audio(cut)
    assert 1.0 < samples.size / 16000 < 2.0


def test_max_bytes_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = clip_bytes(DEV_CLIPS[0])
    monkeypatch.setattr(audio, "_open", lambda _d: pytest.fail("must not parse an over-size upload"))
    with pytest.raises(AudioTooLongError, match=f"{len(data)} bytes, limit is 1000"):
        decode_audio(data, max_bytes=1000)


def test_max_seconds_from_header() -> None:
    with pytest.raises(AudioTooLongError, match="limit is 3 s"):
        decode_audio(clip_bytes(DEV_CLIPS[0]), max_seconds=3)


def test_max_seconds_enforced_while_decoding_when_header_has_no_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Streams without a declared duration are cut off once the limit is passed, not decoded to the end."""
    data = ogg_opus(np.tile(tone(1.0, 16000)[0], 60))  # 60 s
    monkeypatch.setattr(audio, "_declared_duration", lambda *_: None)
    with pytest.raises(AudioTooLongError, match="longer than the limit of 5 s"):
        decode_audio(data, max_seconds=5)  # this message only comes from the decoding loop
    assert decode_audio(data, max_seconds=61).size / 16000 == pytest.approx(60.0, abs=0.1)


def test_within_limits_passes() -> None:
    row = DEV_CLIPS[0]
    data = clip_bytes(row)
    samples = decode_audio(data, max_seconds=row["duration_s"], max_bytes=len(data))
    assert samples.size > 0
