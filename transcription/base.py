"""The one small interface every speech backend implements.

``transcription`` stands alone: it imports nothing from ``bot``, ``workflows`` or ``storage``. The bot passes
audio bytes in and gets a :class:`Transcript` out; the language is always given by the caller (the worker's
speech language), never auto-detected, because Whisper's detection confuses Tibetan and Mandarin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class TranscriptionError(Exception):
    """Base class: the audio could not be transcribed. ``user_message_key`` names a reason for the user."""

    reason = "failed"


class AudioDecodeError(TranscriptionError):
    """Not audio, corrupt, or a format we cannot decode."""

    reason = "undecodable"


class AudioTooLongError(TranscriptionError):
    """Longer (seconds) or larger (bytes) than the configured limits."""

    reason = "too_long"


class BackendUnavailableError(TranscriptionError):
    """The backend cannot run (model missing, server down, timeout). Worth retrying later."""

    reason = "unavailable"


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str  # cleaned final text ("" when there was no speech)
    language: str  # "zh" | "bo" | ... as requested
    segments: tuple[Segment, ...] = ()
    duration_s: float = 0.0  # audio duration
    model: str = ""  # backend + model name, e.g. "faster-whisper:base-int8"
    elapsed_s: float = 0.0  # wall time spent transcribing
    dropped: tuple[str, ...] = field(default=())  # segments removed as hallucinations / echoes
    # False when the model is a stand-in that barely knows the language (e.g. Whisper base for Tibetan): the
    # text is a hint for a person, not something to classify and route on alone.
    reliable: bool = True

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


@runtime_checkable
class Transcriber(Protocol):
    """Audio bytes in (any common container: OGG/Opus, MP3, M4A, WAV, MP4 video notes), text out.

    Implementations are synchronous and CPU-bound; callers run them in a worker pool off the event loop.
    A backend whose class says ``accepts_bias = True`` also takes ``transcribe(audio, language, bias=Bias(...))``
    (:mod:`transcription.biasing`): the reporter's names and the county's words to expect.
    """

    name: str

    def transcribe(self, audio: bytes, language: str) -> Transcript: ...
