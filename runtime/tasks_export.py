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


def csv_bytes(grid: list[list[Any]]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(grid)
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
