"""Check a speech model on a county's own recordings: CER and speed over a folder of clips with reference texts.

Why: a model that reads well on someone else's test set may not on Amdo-accented Mandarin or on a county's
own place names. Before switching ``config.toml`` to a new model (docs/speech-backends.md), an operator records
or collects a few dozen voice notes, writes what was said in ``manifest.jsonl`` (one JSON object a line:
``{"file": "001.ogg", "text": "二社的羊圈着火了"}``), and runs ``lianhu speech-check FOLDER`` with the
configured transcriber, then again with the other configuration, and compares the two lines.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from transcription.base import Transcriber, TranscriptionError
from transcription.metrics import cer

__all__ = ["ClipResult", "FolderResult", "ManifestError", "evaluate_folder", "read_manifest"]


class ManifestError(ValueError):
    """The folder's manifest.jsonl cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class ClipResult:
    file: str
    reference: str
    text: str
    cer: float | None  # None when the clip could not be transcribed
    seconds: float
    audio_s: float
    error: str = ""


@dataclass
class FolderResult:
    model: str
    clips: list[ClipResult] = field(default_factory=list)

    @property
    def scored(self) -> list[ClipResult]:
        return [c for c in self.clips if c.cer is not None]

    @property
    def mean_cer(self) -> float:
        return statistics.fmean(c.cer for c in self.scored) if self.scored else float("nan")

    @property
    def rtf(self) -> float:
        audio = sum(c.audio_s for c in self.scored)
        return sum(c.seconds for c in self.scored) / audio if audio else float("nan")

    @property
    def seconds_per_clip(self) -> float:
        return statistics.fmean(c.seconds for c in self.scored) if self.scored else float("nan")


def read_manifest(folder: Path) -> Iterator[tuple[str, str]]:
    """``(file, text)`` per line of ``folder/manifest.jsonl``; rows with an empty text are skipped."""
    path = folder / "manifest.jsonl"
    if not path.is_file():
        raise ManifestError(f'{path}: missing (one JSON object a line: {{"file": ..., "text": ...}})')
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("file"), str)
            or not isinstance(row.get("text"), str)
        ):
            raise ManifestError(f'{path}:{number}: needs "file" and "text" strings')
        if row["text"].strip():
            yield row["file"], row["text"]


def evaluate_folder(
    folder: Path, transcriber: Transcriber, language: str, limit: int | None = None
) -> FolderResult:
    """Transcribe every clip of the manifest once and score it (a clip that fails is listed with its error)."""
    result = FolderResult(model=getattr(transcriber, "name", type(transcriber).__name__))
    rows = list(read_manifest(folder))[: limit or None]
    for file, reference in rows:
        started = time.perf_counter()
        try:
            transcript = transcriber.transcribe((folder / file).read_bytes(), language)
        except (OSError, TranscriptionError) as exc:
            result.clips.append(
                ClipResult(
                    file,
                    reference,
                    "",
                    None,
                    time.perf_counter() - started,
                    0.0,
                    f"{type(exc).__name__}: {exc}",
                )
            )
            continue
        seconds = time.perf_counter() - started
        result.clips.append(
            ClipResult(
                file,
                reference,
                transcript.text,
                cer(reference, transcript.text),
                seconds,
                transcript.duration_s,
            )
        )
    return result
