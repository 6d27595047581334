"""Hugging Face ``transformers`` models from a local folder, for languages Whisper base does not know (Tibetan).

Why: Whisper base barely transcribes Amdo Tibetan. The open Tibetan ASR models (OpenPecha's wav2vec2 / MMS
fine-tunes, community Whisper fine-tunes) are published as ``transformers`` folders. Deployments download one
*once*, by hand, onto the server; this backend loads it with ``local_files_only=True``, so nothing is fetched at
run time.

Two kinds:

- ``ctc`` (wav2vec2, MMS, HuBERT, XLS-R ``...ForCTC``): greedy CTC decoding (arg-max per frame, then the
  tokenizer collapses repeats and drops the blank). Long audio is cut into ``chunk_s`` windows with
  ``context_s`` of extra audio on each side whose frames are thrown away, so words at a cut are heard whole.
  Memory is then bounded by the window, not the voice note.
- ``whisper`` (``WhisperForConditionalGeneration``): ``generate`` per 30 s (at most) window, language forced
  through the model's ``<|xx|>`` token when its generation config knows it.

``kind="auto"`` reads ``config.json`` (``model_type``/``architectures``) to choose.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from transcription.audio import SAMPLE_RATE
from transcription.backends import BackendConfigError, positive, settings
from transcription.backends.common import AudioTranscriber, backend_name
from transcription.base import BackendUnavailableError, Transcript, TranscriptionError
from transcription.postprocess import RawSegment

log = logging.getLogger(__name__)

__all__ = ["HFTranscriber", "Window", "collapse_ctc", "detect_kind", "windows"]

KINDS = ("auto", "ctc", "whisper")
WHISPER_MAX_S = 30.0  # Whisper's encoder sees exactly 30 s
MIN_CTC_SAMPLES = SAMPLE_RATE // 10


@dataclass(frozen=True)
class Window:
    """Samples ``[start, end)`` are fed to the model; only ``[keep_start, keep_end)`` is kept."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def windows(n_samples: int, chunk: int, context: int) -> list[Window]:
    """Cut ``n_samples`` into kept regions of ``chunk`` samples, each read with ``context`` samples either side.

    The kept regions tile ``[0, n_samples)`` exactly, with no gap and no overlap, so concatenating the frames
    they keep gives one frame sequence for the whole clip.
    """
    if chunk <= 0 or context < 0:
        raise ValueError("chunk must be > 0 and context >= 0")
    out = []
    for keep_start in range(0, max(n_samples, 1), chunk):
        keep_end = min(keep_start + chunk, n_samples)
        out.append(
            Window(max(0, keep_start - context), min(n_samples, keep_end + context), keep_start, keep_end)
        )
    return out


def collapse_ctc(frame_ids: list[int], *, blank: int | None, drop: set[int]) -> list[int]:
    """Greedy CTC: merge runs of the same id, *then* remove the blank and ``drop`` ids.

    The order matters: ``a _ a`` is two ``a`` (the blank separates them), ``a a`` is one. transformers'
    ``decode(skip_special_tokens=True)`` removes the blank before merging and loses doubled letters, so we
    group ids ourselves and let the tokenizer only map ids to characters.
    """
    return [i for i, _run in groupby(frame_ids) if i != blank and i not in drop]


def detect_kind(folder: Path) -> str:
    """``ctc`` or ``whisper`` from ``config.json``; a clear error for anything else."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackendUnavailableError(
            f"model: {folder} has no config.json (not a transformers model folder)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise BackendUnavailableError(f"model: {path} is unreadable ({exc})") from exc
    architectures = [str(a) for a in config.get("architectures") or []]
    if config.get("model_type") == "whisper" or any(a.startswith("Whisper") for a in architectures):
        return "whisper"
    if any(a.endswith("ForCTC") for a in architectures):
        return "ctc"
    raise BackendUnavailableError(
        f"model: cannot tell how to run {folder} (model_type={config.get('model_type')!r}, "
        f'architectures={architectures}); set kind = "ctc" or "whisper"'
    )


class HFTranscriber(AudioTranscriber):
    """``Transcriber`` for a local transformers speech model folder. Loads lazily, once, thread-safe."""

    def __init__(
        self,
        model: str | Path,
        *,
        kind: str = "auto",
        device: str = "cpu",
        chunk_s: float = 30.0,
        context_s: float = 2.0,
        max_seconds: float | None = 300.0,
        max_bytes: int | None = 20_000_000,
        cpu_threads: int | None = None,
        num_beams: int = 1,
        max_new_tokens: int = 200,
        name_suffix: str = "",
    ) -> None:
        if not str(model).strip():
            raise BackendConfigError("model", "missing: the path of a local transformers model folder")
        if kind not in KINDS:
            raise BackendConfigError("kind", f"unknown {kind!r} (choose {', '.join(KINDS)})")
        if chunk_s <= 0 or context_s < 0 or context_s >= chunk_s:
            raise BackendConfigError(
                "chunk_s", f"need chunk_s > 0 and 0 <= context_s < chunk_s, got {chunk_s}/{context_s}"
            )
        self.folder = Path(model).expanduser()
        self.kind = kind
        self.device = device
        self.chunk_s = float(chunk_s)
        self.context_s = float(context_s)
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.cpu_threads = cpu_threads
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.name = backend_name(f"transformers:{self.folder.name or self.folder}", name_suffix)
        self._loaded: tuple[str, Any, Any] | None = None  # (kind, processor, model)
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    _CONVERTERS: dict[str, Any] = {
        "model": str,
        "kind": str,
        "device": str,
        "chunk_s": positive(float),
        "context_s": float,
        "max_seconds": positive(float),
        "max_bytes": positive(int),
        "cpu_threads": positive(int),
        "num_beams": positive(int),
        "max_new_tokens": positive(int),
        "name_suffix": str,
    }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HFTranscriber:
        """Build from a language table merged over the global limits; unknown keys are errors naming the key."""
        kwargs = settings(cfg, cls._CONVERTERS)
        if not kwargs.get("model"):
            raise BackendConfigError("model", "missing: the path of a local transformers model folder")
        return cls(**kwargs)

    # ------------------------------------------------------------------------------------------ loading
    def _load(self) -> tuple[str, Any, Any]:
        if self._loaded is not None:
            return self._loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_now()
            return self._loaded

    def _load_now(self) -> tuple[str, Any, Any]:
        if not self.folder.is_dir():
            raise BackendUnavailableError(
                f"model: folder {self.folder} not found (download the model onto this server first; "
                "Lianhu never fetches weights at run time)"
            )
        kind = detect_kind(self.folder) if self.kind == "auto" else self.kind
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendUnavailableError("transformers is not installed (pip install 'lianhu[hf]')") from exc
        if self.cpu_threads is not None:
            torch.set_num_threads(self.cpu_threads)  # process-wide: torch has no per-model setting
        started = time.perf_counter()
        try:
            processor = transformers.AutoProcessor.from_pretrained(self.folder, local_files_only=True)
            if kind == "ctc":
                model = transformers.AutoModelForCTC.from_pretrained(self.folder, local_files_only=True)
            else:
                model = transformers.WhisperForConditionalGeneration.from_pretrained(
                    self.folder, local_files_only=True
                )
            model = model.to(self.device).eval()
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError... all mean "cannot run"
            raise BackendUnavailableError(
                f"model: cannot load {self.folder} as a {kind} model: {exc.__class__.__name__}: {exc}"
            ) from exc
        if kind == "ctc" and not hasattr(processor, "tokenizer"):
            raise BackendUnavailableError(f"model: {self.folder} has no CTC tokenizer (vocab.json)")
        log.info("%s (%s) loaded in %.1f s", self.name, kind, time.perf_counter() - started)
        return kind, processor, model

    def warm_up(self) -> None:
        """Load the model now (e.g. at bot start-up) instead of on the first voice note."""
        self._load()

    # ------------------------------------------------------------------------------------------ transcribe
    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None
    ) -> Transcript:
        """Transcribe decoded 16 kHz mono float32 samples (used by ``transcribe`` and by the benchmarks)."""
        started = time.perf_counter() if started is None else started
        language = self.check_language(language)
        kind, processor, model = self._load()
        if samples.size == 0:
            raise TranscriptionError("no audio samples to transcribe")
        with self._run_lock:
            try:
                if kind == "ctc":
                    raw = self._ctc(processor, model, samples)
                else:
                    raw = self._whisper(processor, model, samples, language)
            except TranscriptionError:
                raise
            except Exception as exc:  # torch / transformers runtime errors
                raise BackendUnavailableError(f"{self.name}: {exc.__class__.__name__}: {exc}") from exc
        return self.finish(raw, language, samples=samples, started=started)

    def _ctc(self, processor: Any, model: Any, samples: np.ndarray) -> list[RawSegment]:
        """Greedy CTC over context-padded windows; frame ids are joined *before* decoding so a repeat or a
        blank that straddles a cut is handled exactly as in one pass."""
        import torch

        ids: list[np.ndarray] = []
        chunk = int(self.chunk_s * SAMPLE_RATE)
        context = int(self.context_s * SAMPLE_RATE)
        for w in windows(samples.size, chunk, context):
            piece = samples[w.start : w.end]
            if piece.size < MIN_CTC_SAMPLES:  # the conv front end needs ~25 ms; pad a tiny clip with silence
                piece = np.pad(piece, (0, MIN_CTC_SAMPLES - piece.size))
            inputs = processor(piece, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            values = inputs["input_values"].to(self.device)
            with torch.inference_mode():
                logits = model(values).logits[0]
            ratio = logits.shape[0] / max(piece.size, 1)  # frames per sample (1/320 for wav2vec2)
            first = round((w.keep_start - w.start) * ratio)
            last = round((w.keep_end - w.start) * ratio)
            ids.append(logits[first:last].argmax(dim=-1).cpu().numpy())
        frame_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        tokenizer = processor.tokenizer
        delimiter = getattr(tokenizer, "word_delimiter_token_id", None)
        drop = set(tokenizer.all_special_ids) - {delimiter}  # [UNK], <s>, </s>: never text
        kept = collapse_ctc(frame_ids.tolist(), blank=tokenizer.pad_token_id, drop=drop)
        try:
            text = tokenizer.decode(kept, group_tokens=False)  # already grouped: keep "ཀཀ" from "ཀ _ ཀ"
        except TypeError:  # a CTC tokenizer without the group_tokens option
            text = tokenizer.decode(kept)
        text = " ".join(text.split())
        return [RawSegment(text=text, start=0.0, end=samples.size / SAMPLE_RATE)] if text else []

    def _whisper(self, processor: Any, model: Any, samples: np.ndarray, language: str) -> list[RawSegment]:
        import torch

        chunk = int(min(self.chunk_s, WHISPER_MAX_S) * SAMPLE_RATE)
        options: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        lang_to_id = getattr(model.generation_config, "lang_to_id", None) or {}
        if f"<|{language}|>" in lang_to_id:
            options.update(language=language, task="transcribe")
        else:  # a fine-tune trained without language tokens: its generation config decides
            log.debug(
                "%s: no <|%s|> token in the generation config; not forcing a language", self.name, language
            )
        segments = []
        for w in windows(samples.size, chunk, 0):
            piece = samples[w.start : w.end]
            features = processor(piece, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
            with torch.inference_mode():
                tokens = model.generate(features.to(self.device), **options)
            text = processor.batch_decode(tokens, skip_special_tokens=True)[0].strip()
            if text:
                segments.append(RawSegment(text=text, start=w.start / SAMPLE_RATE, end=w.end / SAMPLE_RATE))
        return segments
