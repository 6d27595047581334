"""HTTP backend against a real HTTP server on loopback (``http.server`` in a thread), no mocks of httpx."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from transcription.backends import BackendConfigError
from transcription.backends.http import HTTPTranscriber, to_wav
from transcription.base import (
    AudioDecodeError,
    AudioTooLongError,
    BackendUnavailableError,
    TranscriptionError,
)

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"


def clip(name: str) -> bytes:
    return (AUDIO / name).read_bytes()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, tuple[str | None, bytes]]:
        """Multipart fields: name -> (filename, content)."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        return {
            part.get_param("name", header="content-disposition"): (
                part.get_filename(),
                part.get_payload(decode=True),
            )
            for part in message.iter_parts()
        }


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class FakeServer:
    """Answers each request with the next reply (the last one repeats); records what it received."""

    replies: list[Reply | Callable[[], Reply]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def reply(self) -> Reply:
        item = self.replies[min(len(self.received) - 1, len(self.replies) - 1)]
        return item() if callable(item) else item


def json_reply(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            state.received.append(
                Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, headers, payload = state.reply()
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        return w.getnframes() / w.getframerate()


# ---------------------------------------------------------------------------------------------- happy paths


def test_openai_compatible_request_and_answer(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANHU_TEST_ASR_KEY", "sk-test-123")
    server.replies = [json_reply({"text": "書記，二社的那個羊圈著火了"})]
    t = HTTPTranscriber(
        server.url, kind="openai", model="whisper-large-v3", api_key_env="LIANHU_TEST_ASR_KEY"
    )
    result = t.transcribe(clip("zh/000.ogg"), "zh")
    assert result.text == "书记，二社的那个羊圈着火了"  # Simplified, particle 著 → 着
    assert (result.language, result.model) == ("zh", "http:openai:whisper-large-v3")
    assert result.duration_s == pytest.approx(6.16, abs=0.1)
    [request] = server.received
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    form = request.form()
    assert form["model"] == (None, b"whisper-large-v3")
    assert form["language"] == (None, b"zh")
    assert form["response_format"] == (None, b"json")
    filename, audio = form["file"]
    assert filename == "audio.wav"
    assert _wav_seconds(audio) == pytest.approx(result.duration_s, abs=0.01)


def test_url_ending_in_v1_is_not_doubled(server: FakeServer) -> None:
    server.replies = [json_reply({"text": "ok"})]
    HTTPTranscriber(server.url + "/v1/", kind="openai").transcribe(clip("zh/004.ogg"), "bo")
    assert server.received[0].path == "/v1/audio/transcriptions"
    assert "authorization" not in server.received[0].headers  # no key configured, none sent


def test_hugging_face_endpoint_request_and_answer(server: FakeServer) -> None:
    server.replies = [json_reply([{"text": "བཀྲ་ཤིས་བདེ་ལེགས།"}])]  # some endpoints answer with a list
    t = HTTPTranscriber(server.url + "/models/bo-asr", kind="hf")
    result = t.transcribe(clip("zh/004.ogg"), "bo")
    assert result.text == "བཀྲ་ཤིས་བདེ་ལེགས།"
    assert result.model == "http:hf:127.0.0.1:" + server.url.rsplit(":", 1)[1]
    [request] = server.received
    assert request.path == "/models/bo-asr"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["parameters"] == {"generate_kwargs": {"language": "bo", "task": "transcribe"}}
    assert _wav_seconds(base64.b64decode(body["inputs"])) == pytest.approx(4.67, abs=0.1)


def test_hf_ctc_endpoint_without_language_forwarding(server: FakeServer) -> None:
    server.replies = [json_reply({"text": "ཀ"})]
    HTTPTranscriber(server.url, kind="hf", forward_language=False).transcribe(clip("zh/004.ogg"), "bo")
    assert json.loads(server.received[0].body)["parameters"] == {}


def test_hallucination_from_the_server_is_dropped(server: FakeServer) -> None:
    server.replies = [json_reply({"text": "字幕由Amara.org社区提供"})]
    result = HTTPTranscriber(server.url).transcribe(clip("zh/000.ogg"), "zh")
    assert result.is_empty
    assert result.dropped == ("字幕由Amara.org社区提供",)


# ---------------------------------------------------------------------------------------------- failures


def test_slow_server_times_out_as_unavailable(server: FakeServer) -> None:
    def slow() -> Reply:
        time.sleep(1.5)
        return json_reply({"text": "too late"})

    server.replies = [slow]
    t = HTTPTranscriber(server.url, timeout_s=0.3, retries=0)
    with pytest.raises(BackendUnavailableError, match="no answer within 0.3 s"):
        t.transcribe(clip("zh/004.ogg"), "zh")


def test_server_error_is_retried_then_unavailable(server: FakeServer) -> None:
    server.replies = [json_reply({"error": {"message": "CUDA out of memory"}}, status=500)]
    t = HTTPTranscriber(server.url, retries=2, backoff_s=0.01)
    with pytest.raises(BackendUnavailableError, match="HTTP 500: CUDA out of memory.*after 3 attempts"):
        t.transcribe(clip("zh/004.ogg"), "zh")
    assert len(server.received) == 3


def test_transient_error_then_success(server: FakeServer) -> None:
    server.replies = [
        json_reply({"error": "busy"}, status=503, headers={"Retry-After": "0"}),
        json_reply({"text": "烟很大"}),
    ]
    result = HTTPTranscriber(server.url, retries=1, backoff_s=5).transcribe(clip("zh/004.ogg"), "zh")
    assert result.text == "烟很大"  # Retry-After: 0 was honoured instead of the 5 s backoff
    assert len(server.received) == 2


def test_client_error_is_final_with_the_server_message(server: FakeServer) -> None:
    server.replies = [json_reply({"error": {"message": "Invalid language 'bo'"}}, status=400)]
    t = HTTPTranscriber(server.url, retries=2, backoff_s=0.01)
    with pytest.raises(TranscriptionError, match="HTTP 400: Invalid language 'bo'") as info:
        t.transcribe(clip("zh/004.ogg"), "bo")
    assert not isinstance(info.value, BackendUnavailableError)  # not retryable
    assert len(server.received) == 1


def test_plain_text_error_body_is_quoted(server: FakeServer) -> None:
    server.replies = [(401, {"Content-Type": "text/plain"}, b"bad token")]
    with pytest.raises(TranscriptionError, match="HTTP 401: bad token"):
        HTTPTranscriber(server.url, retries=0).transcribe(clip("zh/004.ogg"), "zh")


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = HTTPTranscriber(f"http://127.0.0.1:{port}", retries=1, backoff_s=0.01)
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        t.transcribe(clip("zh/004.ogg"), "zh")


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"Content-Type": "application/json"}, b"{not json"),
        (200, {"Content-Type": "text/html"}, b"<html>proxy login</html>"),
        json_reply({"transcript": "wrong field"}),
        json_reply({"text": None}),
    ],
)
def test_malformed_answer_is_unavailable(server: FakeServer, reply: Reply) -> None:
    server.replies = [reply]
    with pytest.raises(BackendUnavailableError, match="not JSON|no 'text'"):
        HTTPTranscriber(server.url, retries=0).transcribe(clip("zh/004.ogg"), "zh")


def test_bad_audio_never_reaches_the_server(server: FakeServer) -> None:
    server.replies = [json_reply({"text": "x"})]
    t = HTTPTranscriber(server.url, max_seconds=2.0)
    with pytest.raises(AudioDecodeError):
        t.transcribe(clip("edge/not_audio.ogg"), "zh")
    with pytest.raises(AudioTooLongError):
        t.transcribe(clip("zh/000.ogg"), "zh")
    with pytest.raises(TranscriptionError, match="language"):
        t.transcribe(clip("zh/000.ogg"), "")
    assert server.received == []


# ---------------------------------------------------------------------------------------------- config


def test_config_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIANHU_MISSING_KEY", raising=False)
    t = HTTPTranscriber.from_config(
        {"backend": "http", "url": "https://asr.example/", "kind": "hf", "timeout_s": 5, "max_seconds": 60}
    )
    assert (t.endpoint, t.timeout_s, t.max_seconds, t.name) == (
        "https://asr.example",
        5.0,
        60.0,
        "http:hf:asr.example",
    )
    with pytest.raises(BackendConfigError, match="url"):
        HTTPTranscriber.from_config({"kind": "openai"})
    with pytest.raises(BackendConfigError, match="url"):
        HTTPTranscriber.from_config({"url": "ftp://x"})
    with pytest.raises(BackendConfigError, match="kind"):
        HTTPTranscriber.from_config({"url": "http://x", "kind": "grpc"})
    with pytest.raises(BackendConfigError, match="LIANHU_MISSING_KEY is not set"):
        HTTPTranscriber.from_config({"url": "http://x", "api_key_env": "LIANHU_MISSING_KEY"})
    with pytest.raises(BackendConfigError, match="retries"):
        HTTPTranscriber.from_config({"url": "http://x", "retries": -1})
    with pytest.raises(BackendConfigError, match="timeout: unknown setting"):
        HTTPTranscriber.from_config({"url": "http://x", "timeout": 3})


def test_to_wav_round_trip() -> None:
    import numpy as np

    samples = np.linspace(-1.2, 1.2, 1600, dtype=np.float32)  # out-of-range values are clipped
    data = to_wav(samples)
    assert _wav_seconds(data) == pytest.approx(0.1)
    with wave.open(io.BytesIO(data)) as w:
        pcm = np.frombuffer(w.readframes(1600), dtype="<i2")
    assert pcm.min() == -32767 and pcm.max() == 32767


def test_factory_builds_this_backend() -> None:
    from transcription.factory import build_transcribers

    built = build_transcribers(
        {"languages": {"bo": {"backend": "http", "url": "http://asr.local:9000", "kind": "hf"}}}
    )
    assert isinstance(built["bo"], HTTPTranscriber)
    assert (built["bo"].endpoint, built["bo"].max_seconds) == ("http://asr.local:9000", 300.0)
