"""sherpa-onnx backend: SenseVoice-Small or Paraformer (Mandarin), Omnilingual-ASR CTC (Tibetan), from a folder.

Why: these models are much stronger than Whisper base for Mandarin, Omnilingual-ASR was trained on Standard,
Amdo and Kham Tibetan, and sherpa-onnx runs them on CPU with onnxruntime alone (no torch). No package ships
their weights, so an operator copies the model folder onto the server (docs/speech-backends.md lists the exact
files) and names it in ``config.toml``. Because a half-copied or wrong file would otherwise fail deep inside
onnxruntime, every file is checked first, by name and by the sha256 written in the config, and the error names
the file. If the model still cannot be loaded, the packaged Whisper base takes over (``fallback = true``, the
default), so voice notes keep working; a Tibetan note decoded by that stand-in comes back ``reliable=False``
and goes to a person with the recording, as without a Tibetan model.

    [transcription.languages.zh]
    backend = "sherpa_onnx"
    kind = "sense_voice"            # or "paraformer"; "omnilingual_ctc" for Tibetan
    model_dir = "/srv/lianhu/models/sense-voice-small"
    model_file = "model.int8.onnx"  # the default
    tokens_file = "tokens.txt"      # the default
    sha256 = { "model.int8.onnx" = "…64 hex…", "tokens.txt" = "…" }
    num_threads = 2
    fallback = true
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from transcription.backends import BackendConfigError, check_keys, positive, settings
from transcription.backends.common import AudioTranscriber, backend_name
from transcription.base import BackendUnavailableError, Transcript, TranscriptionError
from transcription.postprocess import RawSegment

# Tokenizer markers a recognizer can leave in its text (SenseVoice's <|zh|><|NEUTRAL|>..., </s>, <unk>):
# they are not words and must never reach a transcript an official reads.
_MARKERS = re.compile(r"<\|[^|<>]{0,32}\|>|</?[A-Za-z_]{1,16}>")

log = logging.getLogger(__name__)

__all__ = ["KINDS", "ModelFileError", "SherpaOnnxTranscriber", "verify_files"]

#: kind -> (sherpa-onnx constructor, the languages it is for)
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "sense_voice": ("from_sense_voice", frozenset({"zh", "en", "yue", "ja", "ko"})),
    "paraformer": ("from_paraformer", frozenset({"zh"})),
    "omnilingual_ctc": ("from_omnilingual_asr_ctc", frozenset({"bo", "zh"})),
}
_CHUNK = 1 << 20
PROBE_TIMEOUT_S = 300


class ModelFileError(BackendUnavailableError):
    """A model file is missing or is not the file the config names (by sha256)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(folder: Path, names: list[str], expected: Mapping[str, str]) -> None:
    """Every file in ``names`` is in ``folder`` and has the sha256 ``expected`` gives it; else
    :class:`ModelFileError` naming the file (all problems at once, so one copy fixes them all)."""
    problems = []
    if not folder.is_dir():
        raise ModelFileError(
            f"model folder {folder} does not exist (copy the model folder there; see docs/speech-backends.md)"
        )
    for name in names:
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing (copy it from the model's release)")
            continue
        want = (expected.get(name) or "").lower()
        if not want:
            problems.append(
                f"{path}: no sha256 in the config for it (its sha256 is {file_sha256(path)}; check "
                "it against the model's published checksum, then add it to sha256)"
            )
            continue
        got = file_sha256(path)
        if got != want:
            problems.append(f"{path}: wrong file (sha256 {got}, the config expects {want}): copy it again")
    if problems:
        raise ModelFileError("; ".join(problems))


def _sha_table(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError('expected a table of file name = "sha256 hex"')
    out = {}
    for name, digest in value.items():
        digest = str(digest).strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{name}: {digest!r} is not a sha256 (64 hex digits)")
        out[str(name)] = digest
    return out


class SherpaOnnxTranscriber(AudioTranscriber):
    """One sherpa-onnx offline recognizer from an operator's folder, with the packaged base as fallback."""

    accepts_bias = False  # CTC/non-autoregressive models here take no prompt

    def __init__(
        self,
        kind: str,
        model_dir: str | Path,
        *,
        model_file: str = "model.int8.onnx",
        tokens_file: str = "tokens.txt",
        sha256: Mapping[str, str] | None = None,
        num_threads: int = 2,
        use_itn: bool = True,
        fallback: bool = True,
        max_seconds: float | None = 300.0,
        max_bytes: int | None = 20_000_000,
        name_suffix: str = "",
    ) -> None:
        if kind not in KINDS:
            raise BackendConfigError("kind", f"unknown '{kind}' (choose {', '.join(KINDS)})")
        self.kind = kind
        self.model_dir = Path(model_dir)
        self.model_file = model_file
        self.tokens_file = tokens_file
        self.sha256 = dict(sha256 or {})
        self.num_threads = num_threads
        self.use_itn = use_itn
        self.fallback = fallback
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.name = backend_name(f"sherpa-onnx:{kind}:{self.model_dir.name}", name_suffix)
        self._recognizer: Any = None
        self._fallback: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()

    _CONVERTERS: dict[str, Any] = {
        "kind": str,
        "model_dir": str,
        "model_file": str,
        "tokens_file": str,
        "sha256": _sha_table,
        "num_threads": positive(int),
        "use_itn": bool,
        "fallback": bool,
        "max_seconds": positive(float),
        "max_bytes": positive(int),
        "name_suffix": str,
    }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SherpaOnnxTranscriber:
        """Build from a language table; errors name the key (files are checked when the model loads)."""
        cfg = check_keys(cfg, cls._CONVERTERS)
        for key, example in (("kind", f"one of {', '.join(KINDS)}"), ("model_dir", '"/srv/lianhu/models/…"')):
            if not str(cfg.get(key, "")).strip():
                raise BackendConfigError(key, f"missing ({example})")
        if "sha256" not in cfg:
            raise BackendConfigError(
                "sha256", "missing: the sha256 of each model file (see docs/speech-backends.md)"
            )
        return cls(**settings(cfg, cls._CONVERTERS))

    # --- model ---------------------------------------------------------------------------------------------

    def _files(self) -> list[str]:
        return [self.model_file, self.tokens_file]

    def _load(self) -> Any:
        verify_files(self.model_dir, self._files(), self.sha256)
        try:
            import sherpa_onnx
        except ImportError as exc:
            raise BackendUnavailableError("sherpa-onnx is not installed (pip install sherpa-onnx)") from exc
        constructor = getattr(sherpa_onnx.OfflineRecognizer, KINDS[self.kind][0])
        model, tokens = str(self.model_dir / self.model_file), str(self.model_dir / self.tokens_file)
        kwargs: dict[str, Any] = {"tokens": tokens, "num_threads": self.num_threads}
        if self.kind == "paraformer":
            kwargs["paraformer"] = model
        else:
            kwargs["model"] = model
        if self.kind == "sense_voice":
            kwargs["use_itn"] = self.use_itn
        self._probe(kwargs)
        started = time.perf_counter()
        try:
            recognizer = constructor(**kwargs)
        except Exception as exc:  # onnxruntime raises RuntimeError / its own types for a bad graph
            raise BackendUnavailableError(f"{model}: sherpa-onnx could not load it: {exc}") from exc
        log.info("loaded %s from %s in %.1f s", self.name, self.model_dir, time.perf_counter() - started)
        return recognizer

    def _probe(self, kwargs: dict[str, Any]) -> None:
        """Load the model once in a child process first: sherpa-onnx *exits the process* on a model whose
        metadata it does not find (SHERPA_ONNX_EXIT), which would take the whole bot down. The child's last
        error line names what is wrong."""
        import json
        import subprocess
        import sys

        spec = json.dumps({"constructor": KINDS[self.kind][0], "kwargs": kwargs})
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "transcription.backends.sherpa", spec],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise BackendUnavailableError(
                f"{self.model_dir}: loading the model took over {PROBE_TIMEOUT_S} s"
            ) from exc
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or "").splitlines() if line.strip()]
            detail = lines[-1] if lines else f"exit status {proc.returncode}"
            raise BackendUnavailableError(
                f"{self.model_dir / self.model_file}: sherpa-onnx could not load it ({detail})"
            )

    def _get(self) -> tuple[Any, Any]:
        """(recognizer, None) or, when it cannot load and ``fallback`` is on, (None, packaged Whisper base)."""
        if self._recognizer is not None or self._fallback is not None:
            return self._recognizer, self._fallback
        with self._lock:
            if self._recognizer is None and self._fallback is None:
                try:
                    self._recognizer = self._load()
                except BackendUnavailableError as exc:
                    if not self.fallback:
                        raise
                    self._error = str(exc)
                    log.error("%s cannot be used, the packaged Whisper base stands in: %s", self.name, exc)
                    from transcription.backends.faster_whisper import FasterWhisperTranscriber

                    self._fallback = FasterWhisperTranscriber(
                        max_seconds=self.max_seconds, max_bytes=self.max_bytes, name_suffix="fallback"
                    )
        return self._recognizer, self._fallback

    @property
    def load_error(self) -> str | None:
        """Why the operator's model is not in use (None while it is, or before the first load)."""
        return self._error

    def warm_up(self) -> None:
        """Check the files and load the model now (start-up), or load the fallback."""
        _recognizer, fallback = self._get()
        if fallback is not None:
            fallback.warm_up()

    # --- transcription ---------------------------------------------------------------------------------------

    def check_language(self, language: str) -> str:
        from transcription.backends.common import check_language

        language = check_language(language)
        if language not in KINDS[self.kind][1]:
            raise TranscriptionError(f"language '{language}' is not one {self.kind} models are used for here")
        return language

    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None
    ) -> Transcript:
        """Decode 16 kHz mono samples with the recognizer (or the fallback, see :meth:`_get`)."""
        started = time.perf_counter() if started is None else started
        recognizer, fallback = self._get()
        if fallback is not None:
            result = fallback.transcribe_array(samples, language, started=started)
            # Whisper base is a stand-in for Tibetan: a person listens (the case keeps the recording)
            return replace(result, reliable=result.reliable and language != "bo")
        try:
            stream = recognizer.create_stream()
            stream.accept_waveform(16000, np.ascontiguousarray(samples, dtype=np.float32))
            recognizer.decode_stream(stream)
            text = _MARKERS.sub("", stream.result.text or "")
        except Exception as exc:
            raise TranscriptionError(f"{self.name} failed: {exc.__class__.__name__}: {exc}") from exc
        end = round(samples.size / 16000, 3)
        return self.finish(
            [RawSegment(text=text, start=0.0, end=end)], language, samples=samples, started=started
        )

    def __repr__(self) -> str:
        return f"SherpaOnnxTranscriber({self.name!r})"


if __name__ == "__main__":  # the probe of SherpaOnnxTranscriber._probe: load, then exit 0
    import json
    import sys

    import sherpa_onnx

    _spec = json.loads(sys.argv[1])
    getattr(sherpa_onnx.OfflineRecognizer, _spec["constructor"])(**_spec["kwargs"])
