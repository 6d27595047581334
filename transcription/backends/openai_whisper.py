"""openai-whisper (the reference PyTorch implementation) as a Lianhu speech backend.

Why a second Whisper: it is an independent decoder for the same weights, so it cross-checks faster-whisper
(same clip, same greedy settings -> same text; see ``tests/transcription/test_openai_backend.py``), and it runs
wherever PyTorch runs (GPUs CTranslate2 does not support). It is slower on CPU than faster-whisper.

Weights: ``"packaged:whisper-base"`` (default) converts the packaged CTranslate2 model once with
:mod:`transcription.convert` and caches the ``.pt`` beside it. A path to a ``.pt`` checkpoint, or to a
CTranslate2 folder, also works. A bare whisper name (``"base"``, ``"small"``) is loaded only if it is already in
whisper's download cache: nothing here downloads weights at run time.

Audio is decoded in-process with :func:`transcription.audio.decode_audio` and handed to ``whisper.transcribe``
as a numpy array, so the ``ffmpeg`` binary whisper normally shells out to is never needed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from transcription.audio import SAMPLE_RATE
from transcription.backends import BackendConfigError, float_tuple, positive, settings
from transcription.backends.common import AudioTranscriber, backend_name, check_language
from transcription.base import BackendUnavailableError, Transcript, TranscriptionError
from transcription.convert import ModelFormatError, cached_checkpoint
from transcription.postprocess import RawSegment, as_raw
from transcription.weights import PACKAGED_BASE, PACKAGED_PREFIX, resolve_model

log = logging.getLogger(__name__)

__all__ = ["OpenAIWhisperTranscriber"]

MAX_TEMPERATURE_STEPS = 4  # each fallback step re-decodes the whole window: bound the worst case


def _whisper_cache_dir() -> str:
    default = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.getenv("XDG_CACHE_HOME", default), "whisper")


class OpenAIWhisperTranscriber(AudioTranscriber):
    """``Transcriber`` backed by openai-whisper. Lazily loads the model once (thread-safe) on first use.

    Calls to :meth:`transcribe` are serialized: whisper installs its key/value-cache hooks on the shared model
    modules for the duration of a decode, so two concurrent decodes on one model would corrupt each other.
    Run one instance per worker if you need parallelism.
    """

    def __init__(
        self,
        model: str = PACKAGED_BASE,
        *,
        device: str = "cpu",
        fp16: bool = False,
        beam_size: int = 5,
        temperature: float | Sequence[float] = (0.0, 0.2, 0.4),
        condition_on_previous_text: bool = False,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        initial_prompt: str | None = None,
        max_seconds: float | None = 300.0,
        max_bytes: int | None = 20_000_000,
        cpu_threads: int | None = None,
        vad: bool = True,
        cache_dir: str | Path | None = None,
        name_suffix: str = "",
    ) -> None:
        if not str(model).strip():
            raise BackendConfigError("model", "empty model name")
        temps = float_tuple(temperature)
        if len(temps) > MAX_TEMPERATURE_STEPS or any(not 0.0 <= t <= 1.0 for t in temps):
            raise BackendConfigError(
                "temperature", f"1 to {MAX_TEMPERATURE_STEPS} values in [0, 1] expected, got {list(temps)}"
            )
        if beam_size < 1:
            raise BackendConfigError("beam_size", f"must be >= 1 (1 = greedy), got {beam_size}")
        if fp16 and device == "cpu":
            raise BackendConfigError("fp16", "not supported on CPU (whisper would silently use fp32)")
        if cpu_threads is not None and cpu_threads < 1:
            raise BackendConfigError("cpu_threads", f"must be >= 1, got {cpu_threads}")
        self.model_spec = str(model)
        self.device = device
        self.fp16 = fp16
        self.beam_size = beam_size
        self.temperature = temps
        self.condition_on_previous_text = condition_on_previous_text
        self.no_speech_threshold = no_speech_threshold
        self.log_prob_threshold = log_prob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.initial_prompt = initial_prompt or None
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.cpu_threads = cpu_threads
        self.vad = vad
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.name = backend_name(f"openai-whisper:{_short_name(self.model_spec)}", name_suffix)
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    _CONVERTERS: dict[str, Any] = {
        "model": str,
        "device": str,
        "fp16": bool,
        "beam_size": positive(int),
        "temperature": float_tuple,
        "condition_on_previous_text": bool,
        "no_speech_threshold": float,
        "log_prob_threshold": float,
        "compression_ratio_threshold": float,
        "initial_prompt": str,
        "max_seconds": positive(float),
        "max_bytes": positive(int),
        "cpu_threads": positive(int),
        "vad": bool,
        "cache_dir": str,
        "name_suffix": str,
    }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OpenAIWhisperTranscriber:
        """Build from a language table merged over the global limits; same option names as faster-whisper.

        Unknown keys are an error naming the key, so a typo like ``beam_szie`` does not silently do nothing.
        """
        return cls(**settings(cfg, cls._CONVERTERS))

    # ------------------------------------------------------------------------------------------ loading
    def _checkpoint_path(self) -> str:
        """Where to load from: a ``.pt`` file path, or a whisper model name that is already cached."""
        import whisper

        spec = self.model_spec
        # raises WeightsError (a BackendUnavailableError) for packaged-model problems
        resolved = resolve_model(spec, cache_dir=self.cache_dir)
        if isinstance(resolved, Path):
            if resolved.is_dir():
                return str(cached_checkpoint(resolved))
            if resolved.is_file():
                return str(resolved)
        if spec.startswith(PACKAGED_PREFIX):  # resolve_model raises for unknown packaged names already
            raise BackendUnavailableError(f"model: {spec} could not be resolved")
        if spec in whisper.available_models():
            cached = Path(_whisper_cache_dir()) / os.path.basename(whisper._MODELS[spec])
            if cached.is_file():
                return spec
            raise BackendUnavailableError(
                f"model: whisper '{spec}' is not in {cached.parent} and Lianhu never downloads weights at run "
                f"time; use 'packaged:whisper-base', a .pt path, or a CTranslate2 folder"
            )
        raise BackendUnavailableError(
            f"model: '{spec}' is neither a file, a folder, a packaged model nor a whisper model name "
            f"({', '.join(whisper.available_models())})"
        )

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is not None:
                return self._model
            try:
                import torch
                import whisper
            except ImportError as exc:
                raise BackendUnavailableError(
                    "openai-whisper is not installed (pip install 'lianhu[openai]')"
                ) from exc
            if self.cpu_threads is not None:
                torch.set_num_threads(self.cpu_threads)  # process-wide: torch has no per-model setting
            started = time.perf_counter()
            try:
                source = self._checkpoint_path()
                model = whisper.load_model(source, device=self.device, download_root=_whisper_cache_dir())
            except ModelFormatError as exc:
                raise BackendUnavailableError(f"model: {exc}") from exc
            except TranscriptionError:
                raise
            except (
                Exception
            ) as exc:  # torch.load/pickle/load_state_dict raise many types; all mean "cannot run"
                raise BackendUnavailableError(
                    f"model: cannot load {self.model_spec!r}: {exc.__class__.__name__}: {exc}"
                ) from exc
            heads = _alignment_heads_of(source)
            if heads is not None:
                _apply_alignment_heads(model, heads)
            log.info("%s loaded in %.1f s", self.name, time.perf_counter() - started)
            self._model = model
            return model

    def warm_up(self) -> None:
        """Load the model now (e.g. at bot start-up) instead of on the first voice note."""
        self._load()

    # ------------------------------------------------------------------------------------------ transcribe
    def check_language(self, language: str) -> str:
        """A language code whisper knows (checked before the audio is decoded)."""
        from whisper.tokenizer import LANGUAGES

        language = check_language(language)
        if language not in LANGUAGES:
            raise TranscriptionError(f"language: whisper does not know {language!r}")
        return language

    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None
    ) -> Transcript:
        """Transcribe decoded 16 kHz mono float32 samples (used by ``transcribe`` and by the benchmarks)."""
        import whisper

        started = time.perf_counter() if started is None else started
        language = self.check_language(language)
        model = self._load()
        speech, restore = _speech_only(samples) if self.vad else (samples, None)
        if speech.size == 0:  # VAD heard nothing: decoding silence only invites hallucinations
            return self.finish([], language, samples=samples, started=started)
        options: dict[str, Any] = {
            "language": language,
            "task": "transcribe",
            "fp16": self.fp16,
            "temperature": self.temperature,
            "condition_on_previous_text": self.condition_on_previous_text,
            "no_speech_threshold": self.no_speech_threshold,
            "logprob_threshold": self.log_prob_threshold,
            "compression_ratio_threshold": self.compression_ratio_threshold,
            "initial_prompt": self.initial_prompt,
            "verbose": None,
        }
        if self.beam_size > 1:  # whisper: no beam_size means greedy
            options["beam_size"] = self.beam_size
        with self._run_lock:
            try:
                result = whisper.transcribe(model, speech, **options)
            except RuntimeError as exc:  # torch errors (out of memory, bad device)
                raise BackendUnavailableError(f"{self.name}: {exc}") from exc
        raw = [_original_times(as_raw(seg), restore) for seg in result.get("segments", [])]
        return self.finish(
            raw,
            language,
            samples=samples,
            started=started,
            prompt=self.initial_prompt,
            no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.log_prob_threshold,
        )


def _short_name(spec: str) -> str:
    if spec.startswith(PACKAGED_PREFIX):
        return spec[len(PACKAGED_PREFIX) :]
    path = Path(spec)
    return path.stem if path.suffix == ".pt" else (path.name or spec)


def _speech_only(samples: np.ndarray) -> tuple[np.ndarray, Any]:
    """Keep only the speech, with faster-whisper's bundled Silero VAD (a local ONNX file, no download).

    Why: openai-whisper has no VAD, and on silence it invents text ("你不懂 我懂" repeated on 5 s of digital
    silence in our edge clips). Using the *same* VAD and defaults as the faster-whisper backend also means both
    backends decode the same samples, which is what makes them comparable. Returns the concatenated speech and
    a map back to original timestamps.
    """
    from faster_whisper.vad import SpeechTimestampsMap, VadOptions, collect_chunks, get_speech_timestamps

    chunks = get_speech_timestamps(samples, VadOptions())
    if not chunks:
        return np.zeros(0, dtype=np.float32), None
    pieces, _meta = collect_chunks(samples, chunks, sampling_rate=SAMPLE_RATE)
    return np.concatenate(pieces).astype(np.float32, copy=False), SpeechTimestampsMap(chunks, SAMPLE_RATE)


def _original_times(seg: RawSegment, restore: Any = None) -> RawSegment:
    """Segment times mapped back onto the original audio when VAD cut silence out."""
    if restore is None:
        return seg
    start = restore.get_original_time(seg.start)
    end = restore.get_original_time(seg.end, is_end=True)
    return replace(seg, start=start, end=end)


def _alignment_heads_of(source: str) -> list[list[int]] | None:
    """Alignment heads stored by our converter (``whisper.load_model`` ignores extra keys)."""
    if not os.path.isfile(source):
        return None
    import torch

    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # already loaded once by whisper; a failure here only loses word-timestamp heads
        return None
    heads = checkpoint.get("alignment_heads") if isinstance(checkpoint, dict) else None
    return heads or None


def _apply_alignment_heads(model: Any, heads: list[list[int]]) -> None:
    """Only word timestamps use these; set them so the converted model behaves like the original."""
    import torch

    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        if 0 <= layer < mask.shape[0] and 0 <= head < mask.shape[1]:
            mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
