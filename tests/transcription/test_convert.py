"""CTranslate2 Whisper folder -> openai-whisper checkpoint.

The synthetic models are written by CTranslate2's *own* spec classes (``ctranslate2.specs.WhisperSpec``, the
code its converters use), from a tiny randomly initialised openai-whisper model, fused the way CTranslate2's
Transformers converter fuses them. So these tests check our reader against the real writer, and the mapping
against a real forward pass, without any downloaded weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
whisper_model = pytest.importorskip("whisper.model")
ct2_specs = pytest.importorskip("ctranslate2.specs")

from transcription import convert as cv  # noqa: E402
from transcription.convert import ModelFormatError  # noqa: E402

TINY = whisper_model.ModelDimensions(
    n_mels=80,
    n_audio_ctx=12,
    n_audio_state=16,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=40,
    n_text_ctx=8,
    n_text_state=16,
    n_text_head=2,
    n_text_layer=2,
)


def _tiny_whisper(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = whisper_model.Whisper(TINY)
    with torch.no_grad():  # default init leaves biases/LN at trivial values; randomise everything
        for name, p in model.named_parameters():
            p.copy_(
                torch.randn_like(p) * (0.3 if "ln" not in name else 0.1)
                + (1.0 if name.endswith("ln.weight") else 0)
            )
    return model.eval()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _set_linear(spec, sd: dict, prefix: str, bias: bool = True) -> None:
    spec.weight = _np(sd[f"{prefix}.weight"])
    if bias:
        spec.bias = _np(sd[f"{prefix}.bias"])


def _fused(spec, sd: dict, prefix: str, names: list[str]) -> None:
    """What ctranslate2.converters.utils.fuse_linear does (zero bias for whisper's bias-less key)."""
    spec.weight = np.concatenate([_np(sd[f"{prefix}.{n}.weight"]) for n in names])
    spec.bias = np.concatenate(
        [
            _np(sd[f"{prefix}.{n}.bias"])
            if f"{prefix}.{n}.bias" in sd
            else np.zeros(TINY.n_text_state, np.float32)
            for n in names
        ]
    )


def _ln(spec, sd: dict, prefix: str) -> None:
    spec.gamma = _np(sd[f"{prefix}.weight"])
    spec.beta = _np(sd[f"{prefix}.bias"])


def write_ct2_folder(model: torch.nn.Module, folder: Path, quantization: str | None) -> Path:
    """Serialize ``model`` with CTranslate2's WhisperSpec, as ``ct2-transformers-converter`` would."""
    sd = model.state_dict()
    spec = ct2_specs.WhisperSpec(TINY.n_audio_layer, TINY.n_audio_head, TINY.n_text_layer, TINY.n_text_head)
    enc, dec = spec.encoder, spec.decoder
    _set_linear(enc.conv1, sd, "encoder.conv1")
    _set_linear(enc.conv2, sd, "encoder.conv2")
    enc.position_encodings.encodings = _np(sd["encoder.positional_embedding"])
    _ln(enc.layer_norm, sd, "encoder.ln_post")
    for i, layer in enumerate(enc.layer):
        p = f"encoder.blocks.{i}"
        _fused(layer.self_attention.linear[0], sd, f"{p}.attn", ["query", "key", "value"])
        _set_linear(layer.self_attention.linear[1], sd, f"{p}.attn.out")
        _ln(layer.self_attention.layer_norm, sd, f"{p}.attn_ln")
        _set_linear(layer.ffn.linear_0, sd, f"{p}.mlp.0")
        _set_linear(layer.ffn.linear_1, sd, f"{p}.mlp.2")
        _ln(layer.ffn.layer_norm, sd, f"{p}.mlp_ln")
    dec.embeddings.weight = _np(sd["decoder.token_embedding.weight"])
    dec.position_encodings.encodings = _np(sd["decoder.positional_embedding"])
    _ln(dec.layer_norm, sd, "decoder.ln")
    dec.projection.weight = _np(sd["decoder.token_embedding.weight"])  # tied: CTranslate2 stores an alias
    for i, layer in enumerate(dec.layer):
        p = f"decoder.blocks.{i}"
        _fused(layer.self_attention.linear[0], sd, f"{p}.attn", ["query", "key", "value"])
        _set_linear(layer.self_attention.linear[1], sd, f"{p}.attn.out")
        _ln(layer.self_attention.layer_norm, sd, f"{p}.attn_ln")
        _set_linear(layer.attention.linear[0], sd, f"{p}.cross_attn.query")
        _fused(layer.attention.linear[1], sd, f"{p}.cross_attn", ["key", "value"])
        _set_linear(layer.attention.linear[2], sd, f"{p}.cross_attn.out")
        _ln(layer.attention.layer_norm, sd, f"{p}.cross_attn_ln")
        _set_linear(layer.ffn.linear_0, sd, f"{p}.mlp.0")
        _set_linear(layer.ffn.linear_1, sd, f"{p}.mlp.2")
        _ln(layer.ffn.layer_norm, sd, f"{p}.mlp_ln")
    spec.config.alignment_heads = [[1, 0], [1, 1]]
    spec.register_vocabulary([f"tok{i}" for i in range(TINY.n_vocab)])
    spec.validate()
    spec.optimize(quantization=quantization)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    return folder


def _logits(model: torch.nn.Module, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(1, TINY.n_mels, 2 * TINY.n_audio_ctx, generator=g)
    tokens = torch.randint(0, TINY.n_vocab, (1, TINY.n_text_ctx), generator=g)
    with torch.no_grad():
        return model(mel, tokens)


def _load_converted(path: Path) -> torch.nn.Module:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    converted = whisper_model.Whisper(whisper_model.ModelDimensions(**checkpoint["dims"]))
    converted.load_state_dict(checkpoint["model_state_dict"], strict=True)  # every key, every shape
    return converted.eval()


# ---------------------------------------------------------------------------------------------- mapping


def test_split_rows_inverts_ctranslate2_fusion() -> None:
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((6, 4)).astype(np.float32) for _ in range(3))
    fused = cv.fuse_rows([q, k, v])
    assert fused.shape == (18, 4)
    back = cv.split_rows(fused, 3)
    for original, piece in zip((q, k, v), back, strict=True):
        np.testing.assert_array_equal(original, piece)
    bias = rng.standard_normal(12).astype(np.float32)
    np.testing.assert_array_equal(cv.fuse_rows(cv.split_rows(bias, 2)), bias)


def test_split_rows_rejects_uneven_tensor() -> None:
    with pytest.raises(ModelFormatError, match="cannot split"):
        cv.split_rows(np.zeros((7, 3), np.float32), 3)


def test_float32_conversion_reproduces_the_original_model_exactly(tmp_path: Path) -> None:
    original = _tiny_whisper()
    folder = write_ct2_folder(original, tmp_path / "ct2", quantization="float32")
    out = cv.convert(folder, tmp_path / "out.pt")
    checkpoint = torch.load(out, map_location="cpu", weights_only=True)
    assert checkpoint["dims"] == vars(TINY)
    assert checkpoint["alignment_heads"] == [[1, 0], [1, 1]]
    converted = _load_converted(out)
    for key, tensor in original.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[key], tensor, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(_logits(converted), _logits(original), rtol=0, atol=0)


def test_float16_conversion_is_close(tmp_path: Path) -> None:
    original = _tiny_whisper(seed=3)
    folder = write_ct2_folder(original, tmp_path / "ct2", quantization="float16")
    model = cv.read_ct2_model(folder)
    assert model.stored_dtypes["encoder/conv1/weight"] == "float16"
    converted = _load_converted(cv.convert(folder, tmp_path / "out.pt"))
    for key, tensor in original.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[key], tensor, rtol=2e-3, atol=2e-3, msg=key)


def test_int8_weights_are_dequantized_with_their_scales(tmp_path: Path) -> None:
    original = _tiny_whisper(seed=5)
    folder = write_ct2_folder(original, tmp_path / "ct2", quantization="int8")
    model = cv.read_ct2_model(folder)
    assert model.stored_dtypes["encoder/layer_0/self_attention/linear_0/weight"] == "int8"
    assert model.stored_dtypes["encoder/conv2/weight"] == "int8"  # 3-D conv weight, per-output-channel scale
    assert not any(name.endswith("_scale") for name in model.variables)
    converted = _load_converted(cv.convert(folder, tmp_path / "out.pt"))
    sd = original.state_dict()
    for key, tensor in sd.items():
        got = converted.state_dict()[key]
        if tensor.ndim >= 2 and "positional_embedding" not in key:  # quantized: error <= half a step per row
            rows = tensor.reshape(tensor.shape[0], -1)
            step = rows.abs().amax(dim=1, keepdim=True) / 127
            assert ((got.reshape_as(rows) - rows).abs() <= step / 2 + 1e-6).all(), key
        else:
            torch.testing.assert_close(got, tensor, rtol=0, atol=0, msg=key)


def test_key_projection_has_no_bias_and_tied_output(tmp_path: Path) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="float32")
    checkpoint = cv.to_whisper_checkpoint(cv.read_ct2_model(folder))
    sd = checkpoint["model_state_dict"]
    assert "decoder.blocks.0.attn.key.bias" not in sd
    assert "decoder.blocks.0.cross_attn.key.bias" not in sd
    assert sd["decoder.blocks.0.cross_attn.key.weight"].shape == (16, 16)
    assert not any(k.startswith("decoder.projection") for k in sd)


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_folder_and_missing_model_bin(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="model folder not found"):
        cv.read_ct2_model(tmp_path / "nope")
    with pytest.raises(ModelFormatError, match="no model.bin"):
        cv.read_ct2_model(tmp_path)
    with pytest.raises(ModelFormatError, match="no model.bin"):
        cv.cached_checkpoint(tmp_path)


def test_garbage_model_bin(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"this is not a model, just some text")
    with pytest.raises(ModelFormatError, match="not a CTranslate2 model"):
        cv.read_ct2_model(tmp_path)


def test_truncated_model_bin(tmp_path: Path) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="float32")
    data = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="truncated"):
        cv.read_ct2_model(folder)


def test_not_a_whisper_spec(tmp_path: Path) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="float32")
    model = cv.read_ct2_model(folder)
    other = cv.CT2Model("TransformerSpec", 7, 6, model.variables, model.stored_dtypes)
    with pytest.raises(ModelFormatError, match="not a WhisperSpec"):
        cv.to_whisper_checkpoint(other)
    partial = cv.CT2Model("WhisperSpec", 3, 6, {"encoder/conv1/weight": np.zeros((4, 80, 3))}, {})
    with pytest.raises(ModelFormatError, match="lacks variable"):
        cv.to_whisper_checkpoint(partial)


# ---------------------------------------------------------------------------------------------- cache + CLI


def test_cached_checkpoint_converts_once_and_refreshes_when_stale(tmp_path: Path) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="float32")
    first = cv.cached_checkpoint(folder)
    assert first == folder / cv.CHECKPOINT_NAME
    stamp = first.stat().st_mtime_ns
    assert cv.cached_checkpoint(folder) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert not list(folder.glob(".*.tmp"))  # no leftovers from the atomic write
    model_bin = folder / "model.bin"
    model_bin.touch()
    import os

    os.utime(model_bin, ns=(stamp + 10**9, stamp + 10**9))  # model replaced after the cache was written
    assert cv.cached_checkpoint(folder).stat().st_mtime_ns > stamp


def test_cli_converts_and_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="int8")
    assert cv.main([str(folder), str(tmp_path / "cli.pt")]) == 0
    assert "wrote" in capsys.readouterr().out
    _load_converted(tmp_path / "cli.pt")
    assert cv.main([str(tmp_path / "missing"), str(tmp_path / "x.pt")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_config_json_is_optional_but_must_parse(tmp_path: Path) -> None:
    folder = write_ct2_folder(_tiny_whisper(), tmp_path / "ct2", quantization="float32")
    (folder / "config.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ModelFormatError, match="config.json"):
        cv.convert(folder, tmp_path / "a.pt")
    (folder / "config.json").unlink()
    checkpoint = torch.load(cv.convert(folder, tmp_path / "b.pt"), weights_only=True)
    assert "alignment_heads" not in checkpoint


# ---------------------------------------------------------------------------------------------- real weights


@pytest.mark.slow
def test_packaged_base_matches_whisper_base_dimensions(model_cache: Path) -> None:
    from transcription.weights import packaged_whisper_base

    folder = packaged_whisper_base(model_cache)
    model = cv.read_ct2_model(folder)
    checkpoint = cv.to_whisper_checkpoint(model, json.loads((folder / "config.json").read_text()))
    # openai/whisper "base" (multilingual): the published ModelDimensions
    assert checkpoint["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 512,
        "n_audio_head": 8,
        "n_audio_layer": 6,
        "n_vocab": 51865,
        "n_text_ctx": 448,
        "n_text_state": 512,
        "n_text_head": 8,
        "n_text_layer": 6,
    }
    reference = whisper_model.Whisper(whisper_model.ModelDimensions(**checkpoint["dims"])).state_dict()
    sd = checkpoint["model_state_dict"]
    assert set(sd) == set(reference)
    for key, tensor in reference.items():
        assert tuple(sd[key].shape) == tuple(tensor.shape), key
    assert len(checkpoint["alignment_heads"]) == 8
