"""A task's answers (and the visits sheet rows) as a file officials open in Excel/WPS: Chinese headers, Beijing
time, CSV with a BOM — or XLSX when openpyxl is installed (the ledger's dependency).

Why here and not in the domain: the domain says what a row *is* (``TaskService.export_rows``, keys of
``EXPORT_COLUMNS``); turning it into bytes is presentation, like ``runtime/ledger.py`` for the case ledger.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from workflows.tasks import EXPORT_COLUMNS
from workflows.visits import KIND_WORDS, LEDGER_COLUMNS, STATE_WORDS

LOCAL = timedelta(hours=8)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value + LOCAL).strftime("%Y-%m-%d %H:%M")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """Header row (Chinese) then one row per mapping, values localized."""
    out: list[list[Any]] = [[header for _, header in columns]]
    out += [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    return out


#: A cell starting with one of these is a formula to Excel/WPS; words typed by people never are (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defused(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def csv_bytes(grid: list[list[Any]]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows([[_defused(v) for v in row] for row in grid])
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheets: Sequence[tuple[str, list[list[Any]]]]) -> bytes | None:
    """One workbook with a sheet per ``(title, grid)``; None when openpyxl is not installed."""
    try:
        from openpyxl import Workbook
    except ImportError:
        return None
    wb = Workbook()
    wb.remove(wb.active)
    for title, grid in sheets:
        ws = wb.create_sheet(title[:31])
        for row in grid:
            ws.append(row)
        for cells in ws.iter_rows(min_row=2):
            for cell in cells:
                if cell.data_type == "f":  # a note typed as "=..." stays the words it is
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def task_export_file(task_id: int, rows: list[dict[str, Any]], fmt: str, now: datetime) -> tuple[bytes, str]:
    """``(bytes, filename)``: ``task-7-2026-01-05.xlsx`` (or ``.csv`` when asked, or without openpyxl)."""
    grid = table(EXPORT_COLUMNS, rows)
    stamp = f"{now + LOCAL:%Y-%m-%d}"
    if fmt == "xlsx":
        data = xlsx_bytes([(f"任务{task_id}", grid)])
        if data is not None:
            return data, f"task-{task_id}-{stamp}.xlsx"
    return csv_bytes(grid), f"task-{task_id}-{stamp}.csv"


#: The ledger workbook's second sheet (the cases are the first, ``runtime/ledger.py``).
VISITS_SHEET = "走访台账"


def visits_grid(rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """The visits sheet of the ledger (``VisitService.ledger_rows``): Chinese headers, the kind and state in
    words (辍学, 老人去世 ...; 待走访/已走访), Beijing time, 按时 as 是/否 (empty while a visit is still in time)."""
    words = (
        {
            **row,
            "kind": KIND_WORDS.get(row.get("kind"), row.get("kind")),
            "state": STATE_WORDS.get(row.get("state"), row.get("state")),
        }
        for row in rows
    )
    return table(LEDGER_COLUMNS, words)
