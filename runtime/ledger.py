"""The case ledger (台账) export: ``CaseService.ledger()`` rows written as XLSX, CSV or JSON for the county's records.

Why this layer: the domain defines what a ledger row *is* (one per case, closed ones included); this module
only presents it — a fixed column order (so an empty ledger still has its header and spreadsheets keep their
layout), an optional unit filter (a township exports its own ledger), Beijing time instead of UTC (a ledger
in UTC is eight hours wrong to every reader), and the reader's words: headers and the codes of state, urgency,
category and role in Chinese by default (``i18n/locales/*/ledger.po``; offices file the ledger in Chinese),
yes/no as 是/否. XLSX (openpyxl, write-only so it streams) with a frozen header and an auto-filter is what
offices open in Excel/WPS; CSV with a BOM (so Excel/WPS read UTF-8) for any other tool; JSON keeps the codes
for machines.

Every writer consumes an *iterable* of rows and never needs the whole list, so a streamed ledger query (one
row at a time from the database) stays streamed: ``localized(service.ledger(...), tz)`` → ``write_xlsx``.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from i18n import t
from storage.db import Database
from storage.models import Case, Unit
from workflows.lifecycle import OPEN_STATES
from workflows.routing import subtree_ids

DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Offices file the ledger in Chinese; a reader may ask for theirs (the bot and console pass the user's).
DEFAULT_LEDGER_LANGUAGE = "zh"

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


def unit_ids_in(db: Database, unit_code: str) -> set[int]:
    """The unit with this code and every unit under it (``--unit T01``: the township's villages and grids)."""
    with db.session() as s:
        root = s.scalars(select(Unit.id).where(Unit.code == unit_code)).one_or_none()
        if root is None:
            raise LookupError(f"--unit: no unit with code {unit_code!r}")
        return subtree_ids(s, root)


def case_ids_in_unit(db: Database, unit_code: str) -> set[int]:
    units = unit_ids_in(db, unit_code)
    with db.session() as s:
        return set(s.scalars(select(Case.id).where(Case.unit_id.in_(units))))


def unit_code(db: Database, unit_id: int) -> str:
    """The unit's code (``V0101``): ASCII, so it is safe in a file name on every phone and PC."""
    with db.session() as s:
        return s.scalar(select(Unit.code).where(Unit.id == unit_id)) or str(unit_id)


def open_only(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows of cases still being worked on (resolved-but-unconfirmed counts as open, as in the domain)."""
    return [r for r in rows if r.get("state") in OPEN_STATES]


def localized(rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> Iterator[dict[str, Any]]:
    """Fixed column order, local times, one row at a time (a streamed ledger query stays streamed)."""
    for row in rows:
        yield {c: local_time(row.get(c), tz) if c in TIME_COLUMNS else row.get(c) for c in COLUMNS}


def present(rows: Iterable[Mapping[str, Any]], tz: tzinfo) -> list[dict[str, Any]]:
    """Fixed column order, local times (as a list, for callers that count or slice)."""
    return list(localized(rows, tz))


# ---------------------------------------------------------------------------------------------- words


def headers(lang: str | None = DEFAULT_LEDGER_LANGUAGE) -> list[str]:
    """The column headers a county office reads (``ledger.col.*`` in i18n/locales/<lang>/ledger.po)."""
    return [t(lang, f"ledger.col.{c}") for c in COLUMNS]


#: Columns whose codes are words in the catalogues: column -> message-id prefix (``state.closed`` → 已关闭).
WORD_COLUMNS: dict[str, str] = {"state": "state", "urgency": "urgency", "category": "category",
                                "owner_role": "role"}
#: Free text typed by people (a report, a note, a name): never let a spreadsheet run it as a formula.
TEXT_COLUMNS = frozenset({"reporter", "unit", "text", "owner", "resolution_note", "close_reason"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def word(lang: str | None, column: str, value: Any) -> Any:
    """A cell's value in the reader's words: codes of state/urgency/category/role translated, yes/no as
    是/否, None as empty. A code the catalogue does not know stays as it is (readable, never a crash)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return t(lang, "ledger.yes" if value else "ledger.no")
    prefix = WORD_COLUMNS.get(column)
    if prefix is not None:
        key = f"{prefix}.{value}"
        text = t(lang, key)
        return value if text == key else text
    return value


def _defused(value: Any) -> Any:
    """``=HYPERLINK(...)`` typed into a report must stay text in Excel/WPS (CSV injection): a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cells(lang: str | None, row: Mapping[str, Any]) -> list[Any]:
    return [_defused(word(lang, c, row.get(c))) if c in TEXT_COLUMNS else word(lang, c, row.get(c))
            for c in COLUMNS]


# ---------------------------------------------------------------------------------------------- CSV


def write_csv(rows: Iterable[Mapping[str, Any]], out: IO[str], lang: str | None = DEFAULT_LEDGER_LANGUAGE) -> int:
    """Header then one line per row (rows from :func:`localized`), consumed as they come; returns the count.
    CRLF line ends as RFC 4180 and Excel expect; the caller adds the BOM (:func:`csv_bytes`, ``open(...,
    encoding="utf-8-sig")``)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers(lang))
    count = 0
    for row in rows:
        writer.writerow(_csv_cells(lang, row))
        count += 1
    return count


def csv_bytes(rows: Iterable[Mapping[str, Any]], lang: str | None = DEFAULT_LEDGER_LANGUAGE) -> bytes:
    """The CSV file as bytes (UTF-8 with a BOM, like ``lianhu ledger --out``), for sending as a document."""
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer, lang)
    return buffer.getvalue().encode("utf-8-sig")


# ---------------------------------------------------------------------------------------------- XLSX

#: Column widths in Excel's units (about one Latin character; a Chinese character takes two).
WIDTHS: dict[str, float] = {
    "case_id": 8, "created_at": 18, "reporter_code": 11, "reporter": 10, "unit": 30, "household": 10,
    "text": 60, "category": 12, "urgency": 10, "state": 14, "owner": 10, "owner_role": 14,
    "escalation_level": 9, "ack_due_at": 18, "resolve_due_at": 18, "accepted_at": 18, "resolved_at": 18,
    "closed_at": 18, "overdue": 9, "resolved_on_time": 9, "resolution_note": 40, "close_reason": 24,
    "reminders_sent": 9,
}
TIME_FORMAT = "yyyy-mm-dd hh:mm"


def _xlsx_time(value: Any) -> Any:
    """"2026-01-05 16:00+08:00" → a naive local datetime, so Excel sorts and filters it as a date."""
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return None


#: A further sheet of the workbook: its title and its rows (header first), values already in words.
Sheet = tuple[str, Sequence[Sequence[Any]]]


def write_xlsx(rows: Iterable[Mapping[str, Any]], target: str | Path | IO[bytes],
               lang: str | None = DEFAULT_LEDGER_LANGUAGE, extra_sheets: Sequence[Sheet] = ()) -> int:
    """The ledger as an Excel workbook (opens in Excel and WPS): one sheet, a bold frozen header row, an
    auto-filter over every column, widths that fit Chinese text, times as real dates. ``extra_sheets`` follow
    it (the visits sheet, ``runtime.tasks_export.visits_grid``), each with a bold frozen header and a filter.

    openpyxl's write-only mode streams rows to a temporary file instead of building the sheet in memory, so a
    county's whole history exports in constant memory; the rows are consumed as they come. Returns the count."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(t(lang, "ledger.sheet")[:31])
    for i, column in enumerate(COLUMNS, start=1):  # before any row: write-only sheets write widths first
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS.get(column, 12)
    ws.freeze_panes = "A2"
    bold, top = Font(bold=True), Alignment(vertical="top")
    header = []
    for text in headers(lang):
        cell = WriteOnlyCell(ws, value=text)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    count = 0
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row.get(column)
            if column in TIME_COLUMNS:
                cell = WriteOnlyCell(ws, value=_xlsx_time(value))
                cell.number_format = TIME_FORMAT
            else:
                cell = WriteOnlyCell(ws, value=word(lang, column, value))
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # openpyxl would store it as a formula: a report is never one
            cell.alignment = top
            cells.append(cell)
        ws.append(cells)
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    for title, grid in extra_sheets:
        extra = wb.create_sheet(title[:31])
        extra.freeze_panes = "A2"
        for n, values in enumerate(grid):
            cells = []
            for value in values:
                cell = WriteOnlyCell(extra, value=value)
                if n == 0:
                    cell.font = bold
                elif isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # words typed by people, never a formula
                cells.append(cell)
            extra.append(cells)
        if grid:
            extra.auto_filter.ref = f"A1:{get_column_letter(len(grid[0]))}{len(grid)}"
    wb.save(target)
    return count


def xlsx_bytes(rows: Iterable[Mapping[str, Any]], lang: str | None = DEFAULT_LEDGER_LANGUAGE,
               extra_sheets: Sequence[Sheet] = ()) -> bytes:
    """The workbook as bytes (a Telegram document, a web download)."""
    buffer = io.BytesIO()
    write_xlsx(rows, buffer, lang, extra_sheets)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- JSON / files


def write_json(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Machine-readable: column keys and codes (``"state": "closed"``), for other systems, not for people.
    Written row by row (the same text ``json.dump(list(rows), indent=2)`` gives, without holding the list:
    ``lianhu ledger --format json`` of 100k cases stays in flat memory)."""
    count = 0
    for row in rows:
        out.write("[\n" if count == 0 else ",\n")
        count += 1
        out.write(textwrap.indent(json.dumps(row, ensure_ascii=False, indent=2), "  "))
    out.write("[]\n" if count == 0 else "\n]\n")
    return count


FORMATS = ("csv", "xlsx", "json")


def format_for(path: Path | None, fmt: str | None) -> str:
    """The format asked for, else the file's extension (``台账.xlsx`` → xlsx), else CSV."""
    if fmt:
        return fmt
    suffix = path.suffix.lower().lstrip(".") if path is not None else ""
    return suffix if suffix in FORMATS else "csv"


def write_ledger(rows: Iterable[Mapping[str, Any]], fmt: str, path: Path | None, stdout: IO[str],
                 lang: str | None = DEFAULT_LEDGER_LANGUAGE, extra_sheets: Sequence[Sheet] = ()) -> int:
    """To ``path`` (CSV with a BOM or XLSX, for Excel/WPS; JSON) or to ``stdout``; returns the row count.
    ``extra_sheets`` (the visits sheet) go into an XLSX workbook only: CSV and JSON hold one table."""
    if fmt == "xlsx":
        if path is None:
            raise ValueError("an XLSX ledger needs --out FILE.xlsx (a workbook is not text)")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_xlsx(rows, path, lang, extra_sheets)
    if path is None:
        return write_csv(rows, stdout, lang) if fmt == "csv" else write_json(rows, stdout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig" if fmt == "csv" else "utf-8") as f:
        return write_csv(rows, f, lang) if fmt == "csv" else write_json(rows, f)
