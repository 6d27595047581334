"""The sherpa-onnx backend with tiny models built here (the real weights cannot be fetched): the real
sherpa-onnx loading and decoding code runs on them. SenseVoice and Omnilingual-ASR CTC are decoded end to end;
Paraformer's graph (encoder + predictor + decoder) is not built here, so for it the file checks, the config and
the fallback are covered, and the load is shown to reach sherpa-onnx (which rejects a graph that is not one).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.transcription.audiofiles import ogg_opus
from transcription.backends.sherpa import ModelFileError, SherpaOnnxTranscriber, verify_files
from transcription.base import BackendUnavailableError, TranscriptionError
from transcription.factory import TranscriptionConfigError, build_transcribers

onnx = pytest.importorskip("onnx")
pytest.importorskip("sherpa_onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _save(model, folder: Path, tokens: str, name: str = "model.int8.onnx") -> dict[str, str]:
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / name))
    (folder / "tokens.txt").write_text(tokens, encoding="utf-8")
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in (name, "tokens.txt")}


def omnilingual_model(folder: Path) -> dict[str, str]:
    """Raw waveform (1, S) -> logits (1, S/1600, 4): frames with a positive mean say ཀ, negative ones ཁ."""
    frame, vocab = 1600, 4
    weight = np.zeros((vocab, 1, frame), dtype=np.float32)
    weight[1, 0, :], weight[2, 0, :] = 5.0 / frame, -5.0 / frame
    bias = np.array([1.0, 0.0, 0.0, -10.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["x", "axis"], ["x3"]),
            helper.make_node("Conv", ["x3", "W", "B"], ["c"], strides=[frame], kernel_shape=[frame]),
            helper.make_node("Transpose", ["c"], ["logits"], perm=[0, 2, 1]),
        ],
        "tiny-omnilingual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "S"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "T", vocab])],
        initializer=[
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(bias, "B"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"),
        ],
    )
    return _save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
        folder,
        "<blank> 0\nཀ 1\nཁ 2\n<unk> 3\n",
    )


def sense_voice_model(folder: Path) -> dict[str, str]:
    """SenseVoice's inputs and metadata; logits alternate 牛/羊 by frame (frame index from a CumSum)."""
    dim, vocab = 560, 6
    slope = np.array([0, 0, 0, 0, 10, -10], dtype=np.float32)
    bias = np.array([0, -99, -99, -99, -5, 5], dtype=np.float32)
    nodes = [
        # (N, T, 1) ones from x's shape alone (never its values: a log-mel of silence may be -inf)
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "start", "stop"], ["nt"]),
        helper.make_node("Concat", ["nt", "one_dim"], ["nt1"], axis=0),
        helper.make_node(
            "ConstantOfShape", ["nt1"], ["ones"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
        ),
        helper.make_node("CumSum", ["ones", "time"], ["pos"]),
        helper.make_node("Mod", ["pos", "two"], ["parity"], fmod=1),
        helper.make_node("Mul", ["parity", "A"], ["m"]),
        helper.make_node("Add", ["m", "B"], ["logits"]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", dim]),
        helper.make_tensor_value_info("x_length", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info("language", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info("text_norm", TensorProto.INT32, ["N"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-sense-voice",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", vocab])],
        initializer=[
            numpy_helper.from_array(slope, "A"),
            numpy_helper.from_array(bias, "B"),
            numpy_helper.from_array(np.array([0], np.int64), "start"),
            numpy_helper.from_array(np.array([2], np.int64), "stop"),
            numpy_helper.from_array(np.array([1], np.int64), "one_dim"),
            numpy_helper.from_array(np.array(1, np.int64), "time"),
            numpy_helper.from_array(np.array(2, np.float32), "two"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    meta = {
        "vocab_size": str(vocab),
        "blank_id": "0",
        "lfr_window_size": "7",
        "lfr_window_shift": "6",
        "normalize_samples": "0",
        "with_itn": "1",
        "without_itn": "2",
        "lang_auto": "0",
        "lang_zh": "3",
        "lang_en": "0",
        "lang_ja": "0",
        "lang_ko": "0",
        "lang_yue": "0",
        "neg_mean": ",".join(["0"] * dim),
        "inv_stddev": ",".join(["1"] * dim),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return _save(model, folder, "<blank> 0\n<s> 1\n</s> 2\n<zh> 3\n牛 4\n羊 5\n")


def _table(kind: str, folder: Path, sha: dict[str, str], **extra) -> dict:
    return {
        "languages": {
            "bo" if kind == "omnilingual_ctc" else "zh": {
                "backend": "sherpa_onnx",
                "kind": kind,
                "model_dir": str(folder),
                "sha256": sha,
                **extra,
            }
        }
    }


def test_omnilingual_ctc_tibetan_model_decodes_through_sherpa(tmp_path: Path):
    sha = omnilingual_model(tmp_path / "omni")
    [(language, transcriber)] = build_transcribers(_table("omnilingual_ctc", tmp_path / "omni", sha)).items()
    assert language == "bo" and isinstance(transcriber, SherpaOnnxTranscriber)
    wave = np.concatenate([np.full(8000, 0.5, np.float32), np.full(8000, -0.5, np.float32)])
    result = transcriber.transcribe(ogg_opus(wave), "bo")  # a real Ogg/Opus note, decoded by PyAV first
    assert result.text == "ཀཁ"  # frames of ཀ then ཁ, repeats merged, blanks dropped (CTC)
    assert result.model == "sherpa-onnx:omnilingual_ctc:omni" and result.reliable
    assert transcriber.load_error is None


def test_sense_voice_mandarin_model_decodes_through_sherpa(tmp_path: Path):
    sha = sense_voice_model(tmp_path / "sv")
    transcriber = build_transcribers(_table("sense_voice", tmp_path / "sv", sha))["zh"]
    noise = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)
    result = transcriber.transcribe(ogg_opus(noise), "zh")
    assert result.text and set(result.text) == {"牛", "羊"}
    assert "牛牛" not in result.text and "羊羊" not in result.text  # one token per frame, alternating
    with pytest.raises(TranscriptionError, match="language 'bo'"):
        transcriber.transcribe(ogg_opus(noise), "bo")


def test_missing_and_wrong_files_are_named(tmp_path: Path):
    folder = tmp_path / "sv"
    sha = sense_voice_model(folder)
    (folder / "tokens.txt").unlink()
    with pytest.raises(ModelFileError, match=r"tokens\.txt: missing"):
        verify_files(folder, ["model.int8.onnx", "tokens.txt"], sha)
    (folder / "tokens.txt").write_text("<blank> 0\n", encoding="utf-8")
    with pytest.raises(
        ModelFileError, match=r"tokens\.txt: wrong file \(sha256 [0-9a-f]{64}, the config expects"
    ):
        verify_files(folder, ["model.int8.onnx", "tokens.txt"], sha)
    with pytest.raises(
        ModelFileError,
        match=r"model\.int8\.onnx: no sha256 in the config for it \(its sha256 is [0-9a-f]{64}",
    ):
        verify_files(folder, ["model.int8.onnx"], {})
    with pytest.raises(ModelFileError, match="does not exist"):
        verify_files(tmp_path / "nowhere", ["model.int8.onnx"], sha)


def test_without_fallback_a_bad_folder_is_an_unavailable_backend(tmp_path: Path):
    sha = omnilingual_model(tmp_path / "omni")
    (tmp_path / "omni" / "model.int8.onnx").write_bytes(b"half a copy")
    transcriber = build_transcribers(_table("omnilingual_ctc", tmp_path / "omni", sha, fallback=False))["bo"]
    with pytest.raises(BackendUnavailableError, match=r"model\.int8\.onnx: wrong file"):
        transcriber.warm_up()


def test_a_graph_sherpa_cannot_use_is_reported_with_the_file(tmp_path: Path):
    # a valid ONNX file that is no Paraformer: verification passes, sherpa-onnx's own loader rejects it
    sha = omnilingual_model(tmp_path / "para")
    transcriber = build_transcribers(_table("paraformer", tmp_path / "para", sha, fallback=False))["zh"]
    with pytest.raises(BackendUnavailableError, match=r"model\.int8\.onnx: sherpa-onnx could not load it"):
        transcriber.warm_up()


@pytest.mark.slow
def test_a_broken_model_falls_back_to_the_packaged_base(tmp_path: Path, model_cache: Path, monkeypatch):
    monkeypatch.setenv("LIANHU_MODEL_CACHE", str(model_cache))
    sha = omnilingual_model(tmp_path / "omni")
    (tmp_path / "omni" / "tokens.txt").unlink()
    transcriber = build_transcribers(_table("omnilingual_ctc", tmp_path / "omni", sha))["bo"]
    clip = Path(__file__).parents[1] / "data" / "audio" / "edge" / "silence_5s.ogg"
    result = transcriber.transcribe(clip.read_bytes(), "bo")
    assert "tokens.txt: missing" in transcriber.load_error
    assert result.model.startswith("faster-whisper:") and result.model.endswith(":fallback")
    assert result.reliable is False  # Whisper base for Tibetan: a person listens to the recording


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "wav2vec", "model_dir": "/m", "sha256": {}}, r"\.kind: unknown 'wav2vec'"),
        ({"kind": "sense_voice"}, r"\.model_dir: missing"),
        ({"kind": "sense_voice", "model_dir": "/m"}, r"\.sha256: missing"),
        (
            {"kind": "sense_voice", "model_dir": "/m", "sha256": {"tokens.txt": "abc"}},
            r"\.sha256: .*not a sha256",
        ),
        ({"kind": "sense_voice", "model_dir": "/m", "sha256": {}, "beam": 3}, r"\.beam: unknown setting"),
    ],
)
def test_config_errors_name_the_key(table: dict, message: str):
    with pytest.raises(TranscriptionConfigError, match=r"^transcription\.languages\.zh" + message):
        build_transcribers({"languages": {"zh": {"backend": "sherpa_onnx", **table}}})


def test_lianhu_speech_check_reports_cer_and_speed_for_a_folder(tmp_path: Path, monkeypatch, capsys):
    """What a county runs on its own recordings before switching models (docs/speech-backends.md)."""
    from bot.cli import main

    sha = omnilingual_model(tmp_path / "omni")
    clips = tmp_path / "clips"
    clips.mkdir()
    up_down = np.concatenate([np.full(8000, 0.5, np.float32), np.full(8000, -0.5, np.float32)])
    (clips / "a.ogg").write_bytes(ogg_opus(up_down))
    (clips / "b.ogg").write_bytes(ogg_opus(up_down[::-1].copy()))
    (clips / "c.ogg").write_bytes(b"not audio")
    (clips / "manifest.jsonl").write_text(
        '{"file": "a.ogg", "text": "ཀཁ"}\n{"file": "b.ogg", "text": "ཀཁ"}\n{"file": "c.ogg", "text": "ཀ"}\n'
        '{"file": "edge.ogg", "text": ""}\n',
        encoding="utf-8",
    )
    sha_lines = "\n".join(f'"{name}" = "{digest}"' for name, digest in sha.items())
    config = tmp_path / "config.toml"
    config.write_text(
        f'[transcription.languages.bo]\nbackend = "sherpa_onnx"\nkind = "omnilingual_ctc"\n'
        f'model_dir = "{tmp_path / "omni"}"\n[transcription.languages.bo.sha256]\n{sha_lines}\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # the CLI's SQLite database goes to ./data
    code = main(["--config", str(config), "speech-check", str(clips), "--language", "bo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "a.ogg  CER 0.000" in out and "b.ogg  CER 1.000" in out  # ཁཀ against ཀཁ: two substitutions
    assert "c.ogg  failed: AudioDecodeError" in out
    assert "sherpa-onnx:omnilingual_ctc:omni: 2 of 3 clips, mean CER 0.500" in out and "RTF" in out
    (clips / "manifest.jsonl").write_text("{not json\n", encoding="utf-8")
    assert main(["--config", str(config), "speech-check", str(clips), "--language", "bo"]) == 2
    assert "manifest.jsonl:1: not JSON" in capsys.readouterr().out
