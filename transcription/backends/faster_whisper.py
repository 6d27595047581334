"""Default backend: faster-whisper (CTranslate2) on CPU, int8, with the packaged Whisper base.

Why these defaults: the county servers are small (2 cores); CTranslate2 int8 runs Whisper base at about 0.2×
real time there, and needs no torch. The language is always forced by the caller (Whisper's detection confuses
Tibetan and Mandarin); the temperature fallback is bounded to (0.0, 0.2, 0.4) and
``condition_on_previous_text`` is off, which together keep Whisper from looping on noisy voice notes; Silero VAD
(shipped inside faster-whisper) skips silence, which removes most "字幕由…提供" hallucinations at the source,
and :func:`transcription.postprocess.clean_segments` removes the rest.

Models are loaded lazily and shared: two transcribers with the same model and compute settings (Mandarin and
the Tibetan fallback, say) use one ``WhisperModel``; loading is guarded by a lock, and CTranslate2 models are
safe to call from several threads (``num_workers`` sets how many run in parallel).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transcription.backends import BackendConfigError, check_keys, float_tuple, positive, settings
from transcription.backends.common import AudioTranscriber, backend_name
from transcription.base import BackendUnavailableError, Transcript, TranscriptionError
from transcription.biasing import PROMPT_TOKEN_BUDGET, Bias, fit_terms
from transcription.correct import corrected
from transcription.weights import PACKAGED_BASE, resolve_model

log = logging.getLogger(__name__)

__all__ = ["FasterWhisperTranscriber"]

_models: dict[tuple[Any, ...], Any] = {}
_models_lock = threading.Lock()

#: How a :class:`Bias` is handed to Whisper, always within one budget of 223 tokens. "hotwords": names then
#: county words as ``hotwords``; "lexicon-first": the same, county words first; "split": names as hotwords
#: (half the budget at most), county words after the configured ``initial_prompt``; "prompt": everything in the
#: initial prompt. Measured in benchmarks/README.md.
BIAS_LAYOUTS = ("split", "hotwords", "lexicon-first", "prompt")

COMPUTE_TYPES = ("int8", "int8_float32", "int16", "float32", "float16", "int8_float16", "bfloat16", "default")


def _load_shared(key: tuple[Any, ...], factory: Any) -> Any:
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = factory()
            _models[key] = model
        return model


def _model_label(spec: str) -> str:
    if spec == PACKAGED_BASE:
        return "whisper-base"
    return Path(spec).name or spec


class FasterWhisperTranscriber(AudioTranscriber):
    """Audio bytes -> :class:`Transcript` with faster-whisper. See module docstring for the why of defaults."""

    def __init__(
        self,
        model: str = PACKAGED_BASE,
        *,
        compute_type: str = "int8",
        device: str = "cpu",
        cpu_threads: int = 2,
        num_workers: int = 1,
        beam_size: int = 5,
        vad: bool = True,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        temperature: Sequence[float] = (0.0, 0.2, 0.4),
        condition_on_previous_text: bool = False,
        initial_prompt: str | None = None,
        max_seconds: float | None = 300.0,
        max_bytes: int | None = 20_000_000,
        allow_download: bool = False,
        cache_dir: str | Path | None = None,
        name_suffix: str = "",
        bias_layout: str = "hotwords",
        correct: bool = True,
        without_timestamps: bool = False,
        batch_size: int = 0,
    ) -> None:
        self.correct = correct
        self.without_timestamps = without_timestamps
        self.batch_size = batch_size  # 0: one window after another; N: faster-whisper's batched pipeline
        if bias_layout not in BIAS_LAYOUTS:
            raise BackendConfigError(
                "bias_layout", f"unknown '{bias_layout}' (choose {', '.join(BIAS_LAYOUTS)})"
            )
        self.bias_layout = bias_layout
        if compute_type not in COMPUTE_TYPES:
            raise BackendConfigError(
                "compute_type", f"unknown '{compute_type}' (choose {', '.join(COMPUTE_TYPES)})"
            )
        self.model_spec = str(model)
        self.compute_type = compute_type
        self.device = device
        self.cpu_threads = cpu_threads
        self.num_workers = num_workers
        self.beam_size = beam_size
        self.vad = vad
        self.no_speech_threshold = no_speech_threshold
        self.log_prob_threshold = log_prob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.temperature = tuple(float(t) for t in temperature)
        self.condition_on_previous_text = condition_on_previous_text
        self.initial_prompt = initial_prompt or None
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.allow_download = allow_download
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.name = backend_name(
            f"faster-whisper:{_model_label(self.model_spec)}:{compute_type}", name_suffix
        )
        self._model: Any = None
        self._lock = threading.Lock()

    # --- configuration -----------------------------------------------------------------------------------

    _CONVERTERS: dict[str, Any] = {
        "model": str,
        "compute_type": str,
        "device": str,
        "cpu_threads": positive(int),
        "num_workers": positive(int),
        "beam_size": positive(int),
        "vad": bool,
        "no_speech_threshold": float,
        "log_prob_threshold": float,
        "compression_ratio_threshold": float,
        "temperature": float_tuple,
        "condition_on_previous_text": bool,
        "initial_prompt": str,
        "max_seconds": positive(float),
        "max_bytes": positive(int),
        "allow_download": bool,
        "cache_dir": str,
        "name_suffix": str,
        "bias_layout": str,
        "correct": bool,
        "without_timestamps": bool,
        "batch_size": int,
    }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FasterWhisperTranscriber:
        """Build from a language table (merged over the global limits). Errors name the key."""
        cfg = check_keys(cfg, cls._CONVERTERS)
        if not str(cfg.get("model", "")).strip():
            raise BackendConfigError(
                "model", f'missing (e.g. "{PACKAGED_BASE}" or a CTranslate2 model folder)'
            )
        return cls(**settings(cfg, cls._CONVERTERS))

    # --- model -----------------------------------------------------------------------------------------------

    def _get_model(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise BackendUnavailableError(
                "faster-whisper is not installed (pip install faster-whisper)"
            ) from exc
        location = str(resolve_model(self.model_spec, cache_dir=self.cache_dir))
        key = (location, self.device, self.compute_type, self.cpu_threads, self.num_workers)

        def create() -> Any:
            started = time.perf_counter()
            try:
                model = WhisperModel(
                    location,
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    num_workers=self.num_workers,
                    local_files_only=not self.allow_download,
                )
            except (
                Exception
            ) as exc:  # CTranslate2/HF raise RuntimeError, ValueError, OSError... all mean "cannot run"
                raise BackendUnavailableError(f"cannot load speech model '{self.model_spec}': {exc}") from exc
            log.info("loaded %s from %s in %.1f s", self.name, location, time.perf_counter() - started)
            return model

        return _load_shared(key, create)

    def _batched(self, model: Any) -> Any:
        """faster-whisper's batched pipeline around the shared model (VAD chunks decoded together)."""
        from faster_whisper import BatchedInferencePipeline

        pipeline = getattr(self, "_pipeline", None)
        if pipeline is None or pipeline.model is not model:
            pipeline = self._pipeline = BatchedInferencePipeline(model)
        return pipeline

    def warm_up(self) -> None:
        """Load the model now (at bot start-up) instead of on the first voice note."""
        self._get_model()

    # --- transcription ---------------------------------------------------------------------------------------

    accepts_bias = True

    def _count_tokens(self, model: Any) -> Any:
        tokenizer = getattr(model, "hf_tokenizer", None)
        if tokenizer is None:  # pragma: no cover - every faster-whisper model has one
            return len
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)

    def prompts(self, bias: Bias | None, model: Any | None = None) -> tuple[str | None, str | None]:
        """``(initial_prompt, hotwords)`` for one note: the configured prompt, plus the bias fitted into one
        token budget shared by both (see ``bias_layout``). Whisper's window is 448 tokens for prompt *and*
        answer, so the hints together get at most :data:`PROMPT_TOKEN_BUDGET`; terms that do not fit are left
        out whole, the farthest first."""
        if not bias:
            return self.initial_prompt, None
        count = self._count_tokens(model if model is not None else self._get_model())
        base = self.initial_prompt or ""
        budget = PROMPT_TOKEN_BUDGET - (count(" " + base) if base else 0)
        if self.bias_layout == "split":  # names as hotwords (half the budget at most), words in the prompt
            hotwords = fit_terms(bias.names, count, budget // 2)
            rest = budget - (count(" " + hotwords) if hotwords else 0)
            prompt = " ".join(p for p in (base, fit_terms(bias.lexicon, count, rest)) if p)
            return prompt or None, hotwords or None
        if self.bias_layout == "hotwords":
            return self.initial_prompt, fit_terms(bias.terms, count, budget) or None
        if self.bias_layout == "lexicon-first":
            return self.initial_prompt, fit_terms((*bias.lexicon, *bias.names), count, budget) or None
        prompt = " ".join(p for p in (base, fit_terms(bias.terms, count, budget)) if p)
        return prompt or None, None

    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None, bias: Bias | None = None
    ) -> Transcript:
        """Transcribe already-decoded 16 kHz mono float32 samples (used by benchmarks and by ``transcribe``)."""
        started = time.perf_counter() if started is None else started
        model = self._get_model()
        initial_prompt, hotwords = self.prompts(bias, model)
        supported = getattr(model, "supported_languages", None)
        if supported and language not in supported:
            raise TranscriptionError(f"language '{language}' is not supported by {self.name}")
        try:
            options: dict[str, Any] = dict(
                language=language,
                task="transcribe",
                beam_size=self.beam_size,
                temperature=list(self.temperature),
                compression_ratio_threshold=self.compression_ratio_threshold,
                log_prob_threshold=self.log_prob_threshold,
                no_speech_threshold=self.no_speech_threshold,
                condition_on_previous_text=self.condition_on_previous_text,
                initial_prompt=initial_prompt,
                hotwords=hotwords,
                vad_filter=self.vad,
                without_timestamps=self.without_timestamps,
            )
            if self.batch_size > 0:
                segments, _info = self._batched(model).transcribe(
                    samples, batch_size=self.batch_size, **options
                )
            else:
                segments, _info = model.transcribe(samples, **options)
            raw = list(segments)  # the generator does the work; consume it inside the try
        except TranscriptionError:
            raise
        except Exception as exc:
            raise TranscriptionError(f"{self.name} failed: {exc.__class__.__name__}: {exc}") from exc
        transcript = self.finish(
            raw,
            language,
            samples=samples,
            started=started,
            prompt=" ".join(p for p in (initial_prompt, hotwords) if p) or None,
            no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.log_prob_threshold,
        )
        if bias and self.correct and language == "zh":
            transcript = corrected(transcript, bias.terms)
        return transcript

    def __repr__(self) -> str:
        return f"FasterWhisperTranscriber({self.name!r})"
