"""A speech server over HTTP: an OpenAI-compatible ``/v1/audio/transcriptions`` or a Hugging Face endpoint.

Why: a county may run a bigger model on a shared GPU box (faster-whisper-server, vLLM, whisper.cpp's server, a
Hugging Face Inference Endpoint with a Tibetan model) rather than on the bot's 2-core server. The bot then only
ships audio and applies the same clean-up as the local backends.

The audio is decoded locally first (same limits and errors as every backend: an over-long or non-audio upload
never leaves the machine) and sent as 16 kHz mono 16-bit WAV, which every server accepts — Opus in OGG is not
universally supported. Errors are split by what the bot should do next:

- timeout, connection refused/reset, HTTP 5xx or 429, an unparseable answer -> :class:`BackendUnavailableError`
  (retry later; retried here first ``retries`` times with a short backoff);
- any other 4xx -> :class:`TranscriptionError` carrying the server's own message (retrying will not help).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
import time
import wave
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from transcription.audio import SAMPLE_RATE
from transcription.backends import BackendConfigError, positive, settings
from transcription.backends.common import AudioTranscriber, backend_name
from transcription.base import BackendUnavailableError, Transcript, TranscriptionError
from transcription.postprocess import RawSegment

log = logging.getLogger(__name__)

__all__ = ["HTTPTranscriber", "to_wav"]

KINDS = ("openai", "hf")
MAX_BACKOFF_S = 10.0
_MESSAGE_LIMIT = 300  # characters of a server's error body worth quoting


def to_wav(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM mono WAV of float samples in [-1, 1] (clipped)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HTTPTranscriber(AudioTranscriber):
    """``Transcriber`` that posts audio to a speech server. Thread-safe (one pooled ``httpx.Client``)."""

    def __init__(
        self,
        url: str,
        *,
        kind: str = "openai",
        api_key_env: str | None = None,
        model: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        forward_language: bool = True,
        initial_prompt: str | None = None,
        max_seconds: float | None = 300.0,
        max_bytes: int | None = 20_000_000,
        name_suffix: str = "",
    ) -> None:
        parts = urlsplit(str(url or "").strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BackendConfigError("url", f"expected an http(s) URL, got {url!r}")
        if kind not in KINDS:
            raise BackendConfigError("kind", f"unknown {kind!r} (choose {', '.join(KINDS)})")
        if timeout_s <= 0:
            raise BackendConfigError("timeout_s", f"must be > 0, got {timeout_s}")
        if retries < 0:
            raise BackendConfigError("retries", f"must be >= 0, got {retries}")
        self.api_key: str | None = None
        if api_key_env:
            self.api_key = os.environ.get(api_key_env) or None
            if self.api_key is None:  # fail at start-up, not on the first voice note
                raise BackendConfigError("api_key_env", f"environment variable {api_key_env} is not set")
        self.url = str(url).strip().rstrip("/")
        self.kind = kind
        self.api_key_env = api_key_env
        self.model = model
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.forward_language = forward_language
        self.initial_prompt = initial_prompt or None
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        label = model or parts.netloc
        self.name = backend_name(f"http:{kind}:{label}", name_suffix)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    _CONVERTERS: dict[str, Any] = {
        "url": str,
        "kind": str,
        "api_key_env": str,
        "model": str,
        "timeout_s": positive(float),
        "retries": int,
        "backoff_s": float,
        "forward_language": bool,
        "initial_prompt": str,
        "max_seconds": positive(float),
        "max_bytes": positive(int),
        "name_suffix": str,
    }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HTTPTranscriber:
        """Build from a language table merged over the global limits; unknown keys are errors naming the key."""
        kwargs = settings(cfg, cls._CONVERTERS)
        if not kwargs.get("url"):
            raise BackendConfigError("url", 'missing (e.g. "http://gpu-box:8000")')
        return cls(**kwargs)

    # ------------------------------------------------------------------------------------------ plumbing
    @property
    def endpoint(self) -> str:
        if self.kind == "hf":
            return self.url
        base = self.url if self.url.endswith("/v1") else f"{self.url}/v1"
        return f"{base}/audio/transcriptions"

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                headers = {"User-Agent": "lianhu-transcription"}
                if self.api_key:
                    headers["Authorization"] = f"Bearer {self.api_key}"
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_s), headers=headers)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def warm_up(self) -> None:
        """Nothing to load; the server is checked by the first request (a health URL is not standard)."""

    # ------------------------------------------------------------------------------------------ transcribe
    def transcribe_array(
        self, samples: np.ndarray, language: str, *, started: float | None = None
    ) -> Transcript:
        """Send decoded 16 kHz mono float32 samples (used by ``transcribe`` and by the benchmarks)."""
        started = time.perf_counter() if started is None else started
        language = self.check_language(language)
        text = self._request_with_retries(to_wav(samples), language)
        raw = [RawSegment(text=text, start=0.0, end=samples.size / SAMPLE_RATE)]
        return self.finish(raw, language, samples=samples, started=started, prompt=self.initial_prompt)

    def _request_with_retries(self, wav: bytes, language: str) -> str:
        attempt = 0
        while True:
            try:
                return self._request_once(wav, language)
            except _Retryable as exc:
                if attempt >= self.retries:
                    raise BackendUnavailableError(
                        f"{self.name}: {exc} (after {attempt + 1} attempt{'s' if attempt else ''})"
                    ) from exc
                delay = exc.retry_after if exc.retry_after is not None else self.backoff_s * 2**attempt
                delay = min(max(delay, 0.0), MAX_BACKOFF_S)
                log.warning("%s: %s; retrying in %.1f s", self.name, exc, delay)
                time.sleep(delay)
                attempt += 1

    def _request_once(self, wav: bytes, language: str) -> str:
        try:
            if self.kind == "openai":
                data = {"model": self.model or "whisper-1", "response_format": "json"}
                if self.forward_language:
                    data["language"] = language
                if self.initial_prompt:
                    data["prompt"] = self.initial_prompt
                response = self._http().post(
                    self.endpoint, data=data, files={"file": ("audio.wav", wav, "audio/wav")}
                )
            else:
                parameters: dict[str, Any] = {}
                if self.forward_language:
                    parameters["generate_kwargs"] = {"language": language, "task": "transcribe"}
                body = {"inputs": base64.b64encode(wav).decode("ascii"), "parameters": parameters}
                response = self._http().post(self.endpoint, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"no answer within {self.timeout_s:g} s ({exc.__class__.__name__})") from exc
        except httpx.TransportError as exc:  # connection refused/reset, DNS, TLS...
            raise _Retryable(f"cannot reach {self.endpoint}: {exc.__class__.__name__}: {exc}") from exc
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> str:
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(
                f"server error HTTP {status}: {_server_message(response)}", _retry_after(response)
            )
        if status >= 400:
            raise TranscriptionError(f"{self.name}: rejected with HTTP {status}: {_server_message(response)}")
        try:
            payload = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Retryable(f"answer is not JSON: {response.text[:_MESSAGE_LIMIT]!r}") from exc
        if isinstance(payload, list) and payload and isinstance(payload[0], Mapping):
            payload = payload[0]  # some HF endpoints wrap the result in a list
        text = payload.get("text") if isinstance(payload, Mapping) else None
        if not isinstance(text, str):
            raise _Retryable(
                f"answer has no 'text' string: {json.dumps(payload, ensure_ascii=False)[:_MESSAGE_LIMIT]}"
            )
        return text


def _server_message(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI ``{"error": {"message"}}``, HF ``{"error": "..."}``, or the body."""
    try:
        payload = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text.strip()[:_MESSAGE_LIMIT] or response.reason_phrase
    if isinstance(payload, Mapping):
        error = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(error, Mapping):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:_MESSAGE_LIMIT]
    return json.dumps(payload, ensure_ascii=False)[:_MESSAGE_LIMIT]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use our own backoff
