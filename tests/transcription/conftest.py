"""Fixtures for the speech tests: the small committed clip set and one shared model per session.

The model is the packaged Whisper base, assembled into a per-session temporary cache (so the tests never touch
the user's cache and never download anything) and loaded once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

AUDIO = Path(__file__).parent.parent / "data" / "audio"


def _manifest() -> list[dict[str, Any]]:
    with (AUDIO / "manifest.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


MANIFEST = _manifest()
DEV_CLIPS = [r for r in MANIFEST if r["file"].startswith("zh/")]
TTS_CLIPS = [r for r in MANIFEST if r.get("kind") == "tts"]
EDGE = {r["kind"]: r for r in MANIFEST if r["file"].startswith("edge/")}


def clip_bytes(row: dict[str, Any]) -> bytes:
    return (AUDIO / row["file"]).read_bytes()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transcription.weights import packaged_whisper_base

    root = tmp_path_factory.mktemp("models")
    packaged_whisper_base(root)
    return root


@pytest.fixture(scope="session")
def zh_transcriber(model_cache: Path):
    from transcription.backends.faster_whisper import FasterWhisperTranscriber

    transcriber = FasterWhisperTranscriber(cache_dir=model_cache, max_seconds=300, max_bytes=20_000_000)
    transcriber.warm_up()
    return transcriber
