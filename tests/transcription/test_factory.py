"""Building transcribers from the [transcription] table: defaults, merging, and errors that name the key."""

from __future__ import annotations

import pytest

from transcription import factory
from transcription.backends.faster_whisper import FasterWhisperTranscriber
from transcription.base import Transcriber
from transcription.factory import TranscriptionConfigError, build_transcribers


def test_defaults_without_table() -> None:
    for config in (None, {}, {"max_seconds": 120}):
        built = build_transcribers(config)
        assert set(built) == {"zh", "bo"}
        assert all(isinstance(t, Transcriber) for t in built.values())
        assert built["zh"].name == "faster-whisper:whisper-base:int8"
        assert built["bo"].name == "faster-whisper:whisper-base:int8:bo-fallback"  # flagged: no real Tibetan
    assert build_transcribers({"max_seconds": 120})["zh"].max_seconds == 120.0


def test_language_table_merged_over_global_limits() -> None:
    built = build_transcribers(
        {
            "max_seconds": 200,
            "max_bytes": 5_000_000,
            "workers": 2,
            "languages": {
                "zh": {
                    "backend": "faster_whisper",
                    "model": "packaged:whisper-base",
                    "compute_type": "float32",
                    "max_seconds": 60,
                    "temperature": [0.0, 0.2],
                    "initial_prompt": "以下是牧区的报告。",
                }
            },
        }
    )
    assert set(built) == {"zh"}  # languages given: exactly those
    zh = built["zh"]
    assert isinstance(zh, FasterWhisperTranscriber)
    assert (zh.max_seconds, zh.max_bytes, zh.compute_type) == (60.0, 5_000_000, "float32")
    assert zh.temperature == (0.0, 0.2) and zh.initial_prompt == "以下是牧区的报告。"
    assert zh.name == "faster-whisper:whisper-base:float32"


def test_model_path_named_after_folder(tmp_path) -> None:
    folder = tmp_path / "tibetan-ct2"
    folder.mkdir()
    t = build_transcribers({"languages": {"bo": {"backend": "faster_whisper", "model": str(folder)}}})["bo"]
    assert t.name == "faster-whisper:tibetan-ct2:int8"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"languages": {"bo": {"backend": "foo", "model": "x"}}},
            "transcription.languages.bo.backend: unknown backend 'foo' "
            "(choose faster_whisper, openai_whisper, transformers, http, sherpa_onnx)",
        ),
        ({"languages": {"bo": {"model": "x"}}}, "transcription.languages.bo.backend: missing"),
        ({"languages": {"zh": {"backend": "faster_whisper"}}}, "transcription.languages.zh.model: missing"),
        (
            {"languages": {"zh": {"backend": "faster_whisper", "model": "x", "beam": 3}}},
            "transcription.languages.zh.beam: unknown setting",
        ),
        (
            {"languages": {"zh": {"backend": "faster_whisper", "model": "x", "beam_size": "five"}}},
            "transcription.languages.zh.beam_size: invalid value 'five'",
        ),
        (
            {"languages": {"zh": {"backend": "faster_whisper", "model": "x", "vad": "yes"}}},
            "transcription.languages.zh.vad: expected true or false",
        ),
        (
            {"languages": {"zh": {"backend": "faster_whisper", "model": "x", "compute_type": "int4"}}},
            "transcription.languages.zh.compute_type: unknown 'int4'",
        ),
        (
            {"languages": {"zh": {"backend": "faster_whisper", "model": "x", "max_seconds": 0}}},
            "transcription.languages.zh.max_seconds: invalid value 0 (must be greater than 0)",
        ),
        ({"max_bytes": -5}, "transcription.max_bytes: invalid value -5"),
        ({"workers": True}, "transcription.workers: invalid value True (expected a number)"),
        ({"max_secs": 10}, "transcription.max_secs: unknown setting"),
        ({"languages": ["zh"]}, "transcription.languages: expected a table"),
        ({"languages": {"zh": "faster_whisper"}}, "transcription.languages.zh: expected a table"),
    ],
)
def test_errors_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(TranscriptionConfigError) as err:
        build_transcribers(config)
    assert str(err.value).startswith(message)


def test_backend_that_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(factory.BACKENDS, "transformers", ("transcription.backends.not_there", "X"))
    with pytest.raises(
        TranscriptionConfigError, match=r"languages\.bo\.backend: backend 'transformers' cannot be imported"
    ):
        build_transcribers({"languages": {"bo": {"backend": "transformers", "model": "/srv/m"}}})


def test_building_does_not_load_models() -> None:
    built = build_transcribers(None)
    assert built["zh"]._model is None


def test_stand_in_models_mark_their_transcripts_unreliable() -> None:
    """The default Tibetan entry reuses Whisper base, which barely knows Tibetan: trusted = false."""
    from transcription.base import Transcript
    from transcription.factory import Untrusted, build_transcribers

    default = build_transcribers({})
    assert isinstance(default["bo"], Untrusted) and not isinstance(default["zh"], Untrusted)

    class Echo:
        name = "echo"

        def transcribe(self, audio: bytes, language: str) -> Transcript:
            return Transcript(text=audio.decode(), language=language, model=self.name)

    wrapped = Untrusted(Echo())
    result = wrapped.transcribe("ཆུ་མེད".encode(), "bo")
    assert (result.text, result.reliable, wrapped.name) == ("ཆུ་མེད", False, "echo")
    assert Echo().transcribe(b"a", "zh").reliable is True


def test_trusted_must_be_a_boolean() -> None:
    import pytest

    from transcription.factory import TranscriptionConfigError, build_transcribers

    table = {"backend": "faster_whisper", "model": "packaged:whisper-base", "trusted": "no"}
    with pytest.raises(TranscriptionConfigError, match=r"transcription\.languages\.bo\.trusted"):
        build_transcribers({"languages": {"bo": table}})
