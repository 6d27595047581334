"""Build one :class:`Transcriber` per speech language from the ``[transcription]`` TOML table.

Example::

    [transcription]
    max_seconds = 300          # longest voice note accepted
    max_bytes = 20_000_000     # largest upload accepted (Telegram bots may fetch up to 20 MB)
    workers = 1                # transcription worker threads (used by the bot, not here)
    job_lease_seconds = 600    # a job whose process died is taken by another after this (bot, not here)
    poll_seconds = 2           # how often an idle bot process looks for queued jobs (bot, not here)

    [transcription.languages.zh]
    backend = "faster_whisper"
    model = "packaged:whisper-base"
    compute_type = "int8"

    [transcription.languages.bo]
    backend = "transformers"            # or "http" with url = "...", or "openai_whisper"
    model = "/srv/models/tibetan-asr"

Biasing (``transcription.biasing``): ``[transcription] lexicon`` is the county lexicon file (default: the
shipped ``transcription/lexicon/pastoral-zh.txt``; ``""`` turns it off) and ``biasing = true`` (the default)
lets the voice pipeline bias each Mandarin note towards its reporter's names and that lexicon. A language table
may set its own ``lexicon`` and ``biasing``; biasing is on only for ``zh`` unless a table says otherwise (the
org tree's names are written in Chinese characters, which would pull a Tibetan model towards Chinese). The
factory sets ``transcriber.biasing`` and ``transcriber.lexicon`` on each transcriber whose backend can use a
bias (``accepts_bias``); a bad lexicon file is a start-up error naming the file and line.

Backends are imported only when configured, so a deployment without torch can still run faster-whisper.

Defaults when ``languages`` is absent (no table at all, or only the global limits): ``zh`` uses faster-whisper
with the packaged multilingual Whisper base; ``bo`` uses the *same* model instance with language "bo", and its
Transcript ``model`` name ends in ``:bo-fallback``. Whisper base barely knows Tibetan (its output for Amdo
Tibetan is mostly wrong), so that entry is marked ``trusted = false``: its transcripts come back with
``reliable=False``, and the case is routed for a person to listen to (never classified on that text alone).
Deployments should configure a real Tibetan model under ``[transcription.languages.bo]``. Any language table
may say ``trusted = false`` for a model that is only a stand-in. When ``languages`` is present, exactly the
languages listed there are built (a language left out has no transcriber: the bot keeps the audio for review).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from transcription.backends import BackendConfigError, option, positive
from transcription.base import Transcriber, Transcript
from transcription.biasing import DEFAULT_LEXICON, LexiconError, load_lexicon
from transcription.weights import PACKAGED_BASE

__all__ = [
    "BACKENDS",
    "DEFAULT_LIMITS",
    "TranscriptionConfigError",
    "Untrusted",
    "build_transcribers",
    "default_config",
]

# backend name -> (module, class); modules are imported lazily.
BACKENDS: dict[str, tuple[str, str]] = {
    "faster_whisper": ("transcription.backends.faster_whisper", "FasterWhisperTranscriber"),
    "openai_whisper": ("transcription.backends.openai_whisper", "OpenAIWhisperTranscriber"),
    "transformers": ("transcription.backends.hf", "HFTranscriber"),
    "http": ("transcription.backends.http", "HTTPTranscriber"),
    "sherpa_onnx": ("transcription.backends.sherpa", "SherpaOnnxTranscriber"),
}
# backends that load a model and therefore need ``model`` (http needs ``url`` instead, checked by the backend)
_NEEDS_MODEL = {"faster_whisper", "openai_whisper", "transformers"}

DEFAULT_LIMITS: dict[str, Any] = {
    "max_seconds": 300.0,
    "max_bytes": 20_000_000,
    "workers": 1,
    "job_lease_seconds": 600.0,
    "poll_seconds": 2.0,
}
_GLOBAL_KEYS = {
    "max_seconds",
    "max_bytes",
    "workers",
    "languages",
    "job_lease_seconds",
    "poll_seconds",
    "lexicon",
    "biasing",
    "names",
}
#: languages biased by default (the org tree's names and the shipped lexicon are written in Chinese)
BIASED_LANGUAGES = frozenset({"zh"})
ROOT = "transcription"


class TranscriptionConfigError(ValueError):
    """A bad ``[transcription]`` setting; the message starts with the full key, e.g.
    ``transcription.languages.bo.backend: unknown backend 'foo' (...)``."""


def default_config() -> dict[str, Any]:
    """The configuration used when none is given (see module docstring for why ``bo`` is a flagged fallback)."""
    shared = {"backend": "faster_whisper", "model": PACKAGED_BASE, "compute_type": "int8"}
    return {
        **DEFAULT_LIMITS,
        "languages": {"zh": dict(shared), "bo": {**shared, "name_suffix": "bo-fallback", "trusted": False}},
    }


def _global_limits(config: Mapping[str, Any]) -> dict[str, Any]:
    limits = dict(DEFAULT_LIMITS)
    for key in config:
        if key not in _GLOBAL_KEYS:
            raise TranscriptionConfigError(
                f"{ROOT}.{key}: unknown setting (known: {', '.join(sorted(_GLOBAL_KEYS))})"
            )
    try:
        limits["max_seconds"] = option(config, "max_seconds", positive(float), limits["max_seconds"])
        limits["max_bytes"] = option(config, "max_bytes", positive(int), limits["max_bytes"])
        limits["workers"] = option(config, "workers", positive(int), limits["workers"])
        # the bot's job queue (workflows.transcription_jobs), checked here with the other [transcription] keys
        limits["job_lease_seconds"] = option(
            config, "job_lease_seconds", positive(float), limits["job_lease_seconds"]
        )
        limits["poll_seconds"] = option(config, "poll_seconds", positive(float), limits["poll_seconds"])
    except BackendConfigError as exc:
        raise TranscriptionConfigError(f"{ROOT}.{exc}") from exc
    return limits


def _backend_class(name: Any, where: str) -> Any:
    if not isinstance(name, str) or name not in BACKENDS:
        raise TranscriptionConfigError(
            f"{where}.backend: unknown backend {name!r} (choose {', '.join(BACKENDS)})"
        )
    module_name, class_name = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TranscriptionConfigError(
            f"{where}.backend: backend '{name}' cannot be imported ({exc}); install its extra, "
            f"e.g. pip install 'lianhu[{'openai' if name == 'openai_whisper' else 'hf'}]'"
        ) from exc
    return getattr(module, class_name)


def build_transcribers(config: Mapping[str, Any] | None) -> dict[str, Transcriber]:
    """Return ``{language: transcriber}`` for the ``[transcription]`` table (``None``/``{}`` -> defaults).

    Models are not loaded here (each backend loads lazily on first use or ``warm_up()``), so building is cheap
    and configuration errors surface at start-up as :class:`TranscriptionConfigError` naming the key.
    """
    config = dict(config or {})
    limits = _global_limits(config)
    languages = config.get("languages")
    if languages is None:
        languages = default_config()["languages"]
    if not isinstance(languages, Mapping):
        raise TranscriptionConfigError(
            f"{ROOT}.languages: expected a table of languages, e.g. [{ROOT}.languages.zh]"
        )
    transcribers: dict[str, Transcriber] = {}
    for language, table in languages.items():
        where = f"{ROOT}.languages.{language}"
        if not isinstance(table, Mapping):
            raise TranscriptionConfigError(f"{where}: expected a table with at least 'backend'")
        if "backend" not in table:
            raise TranscriptionConfigError(f"{where}.backend: missing (choose {', '.join(BACKENDS)})")
        backend = table["backend"]
        cls = _backend_class(backend, where)
        if backend in _NEEDS_MODEL and not str(table.get("model", "")).strip():
            raise TranscriptionConfigError(
                f'{where}.model: missing (e.g. "{PACKAGED_BASE}" or the path of a model folder)'
            )
        biasing, lexicon = _bias_settings(config, table, str(language), where)
        names = table.get("names", config.get("names", False))
        if not isinstance(names, bool):
            raise TranscriptionConfigError(
                f"{where if 'names' in table else ROOT}.names: expected true or false"
            )
        table = {k: v for k, v in table.items() if k not in ("lexicon", "biasing", "names")}
        merged = {"max_seconds": limits["max_seconds"], "max_bytes": limits["max_bytes"], **table}
        trusted = table.get("trusted", True)
        if not isinstance(trusted, bool):
            raise TranscriptionConfigError(f"{where}.trusted: expected true or false, got {trusted!r}")
        try:
            built = cls.from_config(merged)
            if getattr(built, "accepts_bias", False):
                built.biasing = biasing
                built.lexicon = lexicon if biasing else ()
                built.bias_names = (
                    biasing and names
                )  # off by default: measured to cost CER (benchmarks/README.md)
            transcribers[str(language)] = built if trusted else Untrusted(built)
        except BackendConfigError as exc:
            raise TranscriptionConfigError(f"{where}.{exc}") from exc
        except (ValueError, TypeError) as exc:  # a backend that raised a plain error still gets the location
            raise TranscriptionConfigError(f"{where}: {exc}") from exc
    return transcribers


def _bias_settings(
    config: Mapping[str, Any], table: Mapping[str, Any], language: str, where: str
) -> tuple[bool, tuple[str, ...]]:
    """``(biasing on?, lexicon terms)`` for one language: its table's ``biasing``/``lexicon`` over the global
    ones; the lexicon file is read and checked here (at start-up), so a bad file stops start-up."""
    key_where = where if "biasing" in table else ROOT
    biasing = table.get("biasing", config.get("biasing", True) if language in BIASED_LANGUAGES else False)
    if not isinstance(biasing, bool):
        raise TranscriptionConfigError(f"{key_where}.biasing: expected true or false, got {biasing!r}")
    key_where = where if "lexicon" in table else ROOT
    path = table.get("lexicon", config.get("lexicon", str(DEFAULT_LEXICON)))
    if not isinstance(path, str):
        raise TranscriptionConfigError(
            f'{key_where}.lexicon: expected the path of a lexicon file, or "" for none'
        )
    if not biasing or not path.strip():
        return biasing, ()
    try:
        return biasing, load_lexicon(path)
    except LexiconError as exc:
        raise TranscriptionConfigError(f"{key_where}.lexicon: {exc}") from exc


class Untrusted:
    """Wraps a transcriber whose model is only a stand-in for the language (``trusted = false``): same text,
    but every Transcript says ``reliable=False`` so the caller asks a person to listen."""

    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner
        self.name = inner.name

    def transcribe(self, audio: bytes, language: str, **kwargs: Any) -> Transcript:
        return replace(self.inner.transcribe(audio, language, **kwargs), reliable=False)

    def __getattr__(self, attr: str) -> Any:  # warm_up(), transcribe_array() ... of the wrapped backend
        return getattr(self.inner, attr)
