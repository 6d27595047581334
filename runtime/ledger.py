"""The case ledger (台账) export: ``CaseService.ledger()`` rows written as CSV or JSON for the county's records.

Why this layer: the domain defines what a ledger row *is* (one per case, closed ones included); this module
only presents it — a fixed column order (so an empty ledger still has its header and spreadsheets keep their
layout), an optional unit filter (a township exports its own ledger), Beijing time instead of UTC (a ledger
in UTC is eight hours wrong to every reader), and CSV with a BOM so Excel/WPS show Chinese and Tibetan.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from storage.db import Database
from storage.models import Case, Unit
from workflows.lifecycle import OPEN_STATES
from workflows.routing import subtree_ids

DEFAULT_TIMEZONE = "Asia/Shanghai"

# Keys of CaseService.ledger() rows, in the order the export shows them.
COLUMNS: tuple[str, ...] = (
    "case_id",
    "created_at",
    "reporter_code",
    "reporter",
    "unit",
    "household",
    "text",
    "category",
    "urgency",
    "state",
    "owner",
    "owner_role",
    "escalation_level",
    "ack_due_at",
    "resolve_due_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "overdue",
    "resolved_on_time",
    "resolution_note",
    "close_reason",
    "reminders_sent",
)
TIME_COLUMNS = frozenset(c for c in COLUMNS if c.endswith("_at"))


def zone(name: str) -> tzinfo:
    """A time zone by IANA name; Beijing time works even on a machine without zone data (no DST in China)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_TIMEZONE:
            return timezone(timedelta(hours=8), "CST")
        raise LookupError(f"--timezone: unknown time zone {name!r} (e.g. Asia/Shanghai)") from None


def local_time(value: datetime | str | None, tz: tzinfo) -> str | None:
    """Naive-UTC storage time (datetime or ISO string) → "2026-01-05 16:00+08:00"."""
    if value is None or value == "":
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).isoformat(sep=" ", timespec="minutes")


def case_ids_in_unit(db: Database, unit_code: str) -> set[int]:
    with db.session() as s:
        root = s.scalars(select(Unit.id).where(Unit.code == unit_code)).one_or_none()
        if root is None:
            raise LookupError(f"--unit: no unit with code {unit_code!r}")
        units = subtree_ids(s, root)
        return set(s.scalars(select(Case.id).where(Case.unit_id.in_(units))))


def unit_code(db: Database, unit_id: int) -> str:
    """The unit's code (``V0101``): ASCII, so it is safe in a file name on every phone and PC."""
    with db.session() as s:
        return s.scalar(select(Unit.code).where(Unit.id == unit_id)) or str(unit_id)


def open_only(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows of cases still being worked on (resolved-but-unconfirmed counts as open, as in the domain)."""
    return [r for r in rows if r.get("state") in OPEN_STATES]


def present(rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> list[dict[str, Any]]:
    """Fixed column order, local times."""
    return [
        {c: local_time(row.get(c), tz) if c in TIME_COLUMNS else row.get(c) for c in COLUMNS} for row in rows
    ]


def _csv_value(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else value


def write_csv(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row[c]) for c in COLUMNS])


def csv_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """The CSV file as bytes (UTF-8 with a BOM, like ``lianhu ledger --out``), for sending as a document."""
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer)
    return buffer.getvalue().encode("utf-8-sig")


def write_json(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    json.dump(list(rows), out, ensure_ascii=False, indent=2)
    out.write("\n")


def write_ledger(rows: list[dict[str, Any]], fmt: str, path: Path | None, stdout: IO[str]) -> None:
    """To ``path`` (CSV with a BOM, for Excel) or to ``stdout``."""
    writer = write_csv if fmt == "csv" else write_json
    if path is None:
        writer(rows, stdout)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig" if fmt == "csv" else "utf-8") as f:
        writer(rows, f)
