"""What every local-decoding backend does the same way, around its own model call.

A backend subclasses :class:`AudioTranscriber` and writes only ``transcribe_array`` (samples -> raw segments,
with its own model, locks and errors), ending with :meth:`AudioTranscriber.finish`. The base supplies:

- ``transcribe(audio, language)``: check the language, start the clock, decode the audio in-process with the
  backend's ``max_seconds``/``max_bytes`` limits (so an over-long or non-audio upload fails the same way
  everywhere), then hand the samples to ``transcribe_array``;
- ``finish(...)``: Traditional -> Simplified for Mandarin, :func:`clean_segments`, and the :class:`Transcript`
  with duration and elapsed time.

Kept apart from :mod:`transcription.backends` (the config helpers) so that reading a config never imports
numpy or PyAV.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from transcription.audio import SAMPLE_RATE, decode_audio
from transcription.base import Transcript, TranscriptionError
from transcription.postprocess import (
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    as_raw,
    clean_segments,
    join_segments,
    to_simplified,
)

__all__ = ["AudioTranscriber", "backend_name", "check_language"]


def check_language(language: str) -> str:
    """The language code, stripped and lower-cased; a clear error when there is none."""
    if not isinstance(language, str) or not language.strip():
        raise TranscriptionError("language: a language code is required (e.g. 'zh', 'bo')")
    return language.strip().lower()


def backend_name(label: str, suffix: str = "") -> str:
    """``label`` or ``label:suffix`` (``name_suffix`` tells two instances of one model apart in logs)."""
    return f"{label}:{suffix}" if suffix else label


class AudioTranscriber:
    """Base of the speech backends: ``transcribe`` = check language, decode with limits, ``transcribe_array``."""

    name: str
    max_seconds: float | None
    max_bytes: int | None

    def check_language(self, language: str) -> str:
        """Validate and normalise ``language``; backends that know their languages add to this."""
        return check_language(language)

    def transcribe(self, audio: bytes, language: str, bias: Any = None) -> Transcript:
        """Transcribe ``audio`` (any container PyAV reads) in ``language`` (forced, never detected). ``bias``
        (a :class:`transcription.biasing.Bias`) is passed on to backends that say ``accepts_bias``."""
        language = self.check_language(language)
        started = time.perf_counter()
        samples = decode_audio(
            audio, sample_rate=SAMPLE_RATE, max_seconds=self.max_seconds, max_bytes=self.max_bytes
        )
        if bias is not None and getattr(self, "accepts_bias", False):
            return self.transcribe_array(samples, language, started=started, bias=bias)  # type: ignore[call-arg]
        return self.transcribe_array(samples, language, started=started)

    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None
    ) -> Transcript:  # pragma: no cover - every backend overrides it
        """Transcribe decoded 16 kHz mono float32 samples (used by ``transcribe`` and by the benchmarks)."""
        raise NotImplementedError

    def finish(
        self,
        raw: Iterable[Any],
        language: str,
        *,
        samples: np.ndarray,
        started: float,
        prompt: str | None = None,
        no_speech_threshold: float = NO_SPEECH_THRESHOLD,
        logprob_threshold: float = LOGPROB_THRESHOLD,
    ) -> Transcript:
        """Raw segments (anything :func:`as_raw` accepts) -> the cleaned :class:`Transcript`.

        Mandarin is converted to Simplified *before* cleaning (Whisper often writes Traditional; reports are
        read in Simplified, and the hallucination patterns are written in Simplified).
        """
        segments = [as_raw(seg) for seg in raw]
        if language == "zh":
            segments = [replace(seg, text=to_simplified(seg.text)) for seg in segments]
        kept, dropped = clean_segments(
            segments,
            prompt=prompt,
            no_speech_threshold=no_speech_threshold,
            logprob_threshold=logprob_threshold,
        )
        return Transcript(
            text=join_segments(kept),
            language=language,
            segments=tuple(kept),
            duration_s=round(samples.size / SAMPLE_RATE, 3),
            model=self.name,
            elapsed_s=round(time.perf_counter() - started, 3),
            dropped=tuple(dropped),
        )
