"""openai-whisper backend: loads the converted packaged weights and agrees with faster-whisper.

The agreement test is the proof that :mod:`transcription.convert` is right: the same weights decoded by two
independent implementations (PyTorch vs CTranslate2), both greedy at temperature 0 on the same VAD-cut samples,
must give (nearly) the same text.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
whisper = pytest.importorskip("whisper")

from transcription.backends import BackendConfigError  # noqa: E402
from transcription.backends.openai_whisper import OpenAIWhisperTranscriber  # noqa: E402
from transcription.base import (  # noqa: E402
    AudioDecodeError,
    AudioTooLongError,
    BackendUnavailableError,
    Transcriber,
    TranscriptionError,
)
from transcription.metrics import cer  # noqa: E402

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
MANIFEST = {row["file"]: row for row in map(json.loads, (AUDIO / "manifest.jsonl").read_text().splitlines())}


def clip(name: str) -> bytes:
    return (AUDIO / name).read_bytes()


# ---------------------------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised multilingual-vocabulary Whisper, 2x16 wide: loads in milliseconds."""
    dims = whisper.model.ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=16,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=64,  # whisper decodes at most n_text_ctx//2 tokens per window: keeps random output short
        n_text_state=16,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = whisper.model.Whisper(dims)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    torch.save({"dims": vars(dims), "model_state_dict": model.state_dict()}, path)
    return path


def tiny(path: Path, **kwargs) -> OpenAIWhisperTranscriber:
    # greedy, one temperature, few tokens decoded: a random model should not loop for long
    options = {"beam_size": 1, "temperature": 0.0, "vad": False, "max_seconds": 30.0}
    options.update(kwargs)
    return OpenAIWhisperTranscriber(str(path), **options)


def test_pt_path_loads_and_transcribes_real_audio(tiny_pt: Path) -> None:
    t = tiny(tiny_pt)
    assert isinstance(t, Transcriber)
    assert t.name == "openai-whisper:tiny"
    result = t.transcribe(clip("zh/004.ogg"), "zh")
    assert isinstance(result.text, str)
    assert result.language == "zh"
    assert result.model == "openai-whisper:tiny"
    assert result.duration_s == pytest.approx(MANIFEST["zh/004.ogg"]["duration_s"], abs=0.1)
    assert result.elapsed_s > 0


def test_model_loads_once_under_concurrency(tiny_pt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = whisper.load_model

    def counting(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(whisper, "load_model", counting)
    t = tiny(tiny_pt)
    barrier = threading.Barrier(4)

    def go() -> None:
        barrier.wait()
        t.warm_up()

    threads = [threading.Thread(target=go) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert calls == [str(tiny_pt)]


def test_concurrent_transcriptions_equal_serial_ones(tiny_pt: Path) -> None:
    """whisper's kv-cache hooks live on the shared model: the backend must serialize decodes."""
    t = tiny(tiny_pt)
    audio = {name: clip(name) for name in ("zh/000.ogg", "zh/004.ogg")}
    serial = {name: t.transcribe(data, "zh").text for name, data in audio.items()}
    results: dict[str, str] = {}

    def go(name: str) -> None:
        results[name] = t.transcribe(audio[name], "zh").text

    threads = [threading.Thread(target=go, args=(name,)) for name in audio]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == serial


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_audio_and_limits_are_clear_errors(tiny_pt: Path) -> None:
    t = tiny(tiny_pt, max_seconds=2.0)
    with pytest.raises(AudioDecodeError):
        t.transcribe(clip("edge/not_audio.ogg"), "zh")
    with pytest.raises(AudioDecodeError):
        t.transcribe(b"", "zh")
    with pytest.raises(AudioTooLongError):
        t.transcribe(clip("zh/000.ogg"), "zh")
    with pytest.raises(AudioTooLongError):
        tiny(tiny_pt, max_bytes=100).transcribe(clip("zh/000.ogg"), "zh")


def test_unknown_language_is_rejected(tiny_pt: Path) -> None:
    with pytest.raises(TranscriptionError, match="does not know 'xx'"):
        tiny(tiny_pt).transcribe(clip("zh/000.ogg"), "xx")
    with pytest.raises(TranscriptionError, match="language code is required"):
        tiny(tiny_pt).transcribe(clip("zh/000.ogg"), " ")


def test_uncached_whisper_name_fails_clearly_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    t = OpenAIWhisperTranscriber("base")
    assert t.name == "openai-whisper:base"
    with pytest.raises(BackendUnavailableError, match="never downloads"):
        t.warm_up()
    assert not (tmp_path / "whisper").exists()  # nothing was fetched


def test_unknown_model_and_broken_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackendUnavailableError, match="neither a file"):
        OpenAIWhisperTranscriber("no-such-model").warm_up()
    with pytest.raises(BackendUnavailableError, match="unknown packaged model"):
        OpenAIWhisperTranscriber("packaged:whisper-huge").warm_up()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(BackendUnavailableError, match="cannot load"):
        OpenAIWhisperTranscriber(str(broken)).warm_up()
    with pytest.raises(BackendUnavailableError, match="no model.bin"):
        OpenAIWhisperTranscriber(str(tmp_path)).warm_up()  # a folder that is not a CTranslate2 model


def test_config_validation() -> None:
    t = OpenAIWhisperTranscriber.from_config(
        {
            "backend": "openai_whisper",
            "model": "packaged:whisper-base",
            "beam_size": 1,
            "temperature": [0.0, 0.2],
            "max_seconds": 60,
            "max_bytes": 1000,
            "name_suffix": "bo-test",
        }
    )
    assert (t.beam_size, t.temperature, t.max_seconds, t.max_bytes) == (1, (0.0, 0.2), 60.0, 1000)
    assert t.name == "openai-whisper:whisper-base:bo-test"
    with pytest.raises(BackendConfigError, match="beam_szie: unknown setting"):
        OpenAIWhisperTranscriber.from_config({"model": "packaged:whisper-base", "beam_szie": 5})
    with pytest.raises(BackendConfigError, match="temperature"):
        OpenAIWhisperTranscriber.from_config({"model": "x", "temperature": [0, 0.2, 0.4, 0.6, 0.8, 1.0]})
    with pytest.raises(BackendConfigError, match="fp16"):
        OpenAIWhisperTranscriber.from_config({"model": "x", "fp16": True})
    with pytest.raises(BackendConfigError, match="beam_size"):
        OpenAIWhisperTranscriber.from_config({"model": "x", "beam_size": 0})


def test_factory_builds_this_backend() -> None:
    from transcription.factory import build_transcribers

    built = build_transcribers(
        {"languages": {"zh": {"backend": "openai_whisper", "model": "packaged:whisper-base", "beam_size": 1}}}
    )
    assert isinstance(built["zh"], OpenAIWhisperTranscriber)
    assert built["zh"].max_seconds == 300.0  # global limit merged in


# ---------------------------------------------------------------------------------------------- real weights


@pytest.fixture(scope="module")
def openai_greedy(model_cache: Path) -> OpenAIWhisperTranscriber:
    t = OpenAIWhisperTranscriber(
        "packaged:whisper-base", beam_size=1, temperature=0.0, cpu_threads=2, cache_dir=model_cache
    )
    t.warm_up()
    return t


@pytest.mark.slow
@pytest.mark.parametrize("name", ["zh/000.ogg", "zh/011.ogg"])
def test_agrees_with_faster_whisper_on_the_same_weights(
    model_cache: Path, openai_greedy: OpenAIWhisperTranscriber, name: str
) -> None:
    from transcription.backends.faster_whisper import FasterWhisperTranscriber

    faster = FasterWhisperTranscriber(
        "packaged:whisper-base",
        compute_type="float32",
        beam_size=1,
        temperature=(0.0,),
        cpu_threads=2,
        cache_dir=model_cache,
    )
    a = openai_greedy.transcribe(clip(name), "zh")
    b = faster.transcribe(clip(name), "zh")
    assert a.text and b.text
    assert cer(b.text, a.text) <= 0.1, (a.text, b.text)
    # and both are actually transcribing the clip (base model on clean TTS: well under 50 % CER)
    assert cer(MANIFEST[name]["text"], a.text) < 0.5, a.text
    assert a.model == "openai-whisper:whisper-base"
    assert a.segments and a.segments[-1].end <= a.duration_s + 0.5


@pytest.mark.slow
def test_silence_gives_empty_transcript_not_a_hallucination(openai_greedy: OpenAIWhisperTranscriber) -> None:
    result = openai_greedy.transcribe(clip("edge/silence_5s.ogg"), "zh")
    assert result.is_empty
    assert result.duration_s == pytest.approx(5.0, abs=0.1)


@pytest.mark.slow
def test_ct2_folder_path_is_converted_and_cached(model_cache: Path) -> None:
    from transcription.convert import CHECKPOINT_NAME
    from transcription.weights import packaged_whisper_base

    folder = packaged_whisper_base(model_cache)
    t = OpenAIWhisperTranscriber(str(folder), beam_size=1, temperature=0.0)
    t.warm_up()
    assert (folder / CHECKPOINT_NAME).is_file()
    assert t.name == f"openai-whisper:{folder.name}"
