"""The ledger (台账) writers: what a county office opens in Excel/WPS.

The XLSX is read back with openpyxl (the same library Excel-compatible tools are tested against): header row in
Chinese, frozen below the header, an auto-filter over every column, widths set, times as real dates, codes as
words. The CSV is checked the way Excel decides how to read it: a UTF-8 BOM first, CRLF line ends. Both take a
one-pass iterator, as a streamed ledger query gives them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from runtime.ledger import COLUMNS, csv_bytes, format_for, headers, localized, write_ledger, xlsx_bytes, zone

TZ = zone("Asia/Shanghai")


def _row(case_id: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(case_id=case_id, created_at="2026-01-05T08:00:00", reporter_code="P1111", reporter="扎西",
               unit="尕玛示范县 / 多卡乡 / 多卡村", household="H111101", text="二社的羊圈着火了 快来人",
               category="safety", urgency="urgent", state="closed", owner="王建国", owner_role="grid_leader",
               escalation_level=0, overdue=False, resolved_on_time=True, reminders_sent=1,
               resolved_at="2026-01-05T09:30:00")
    row.update(over)
    return row


def _once(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A generator: a writer that needed the whole list (len, indexing, two passes) would fail on it."""
    yield from localized(rows, TZ)


def test_xlsx_opens_with_the_chinese_header_frozen_and_filtered() -> None:
    rows = [_row(1), _row(2, state="assigned", urgency="general", category="infrastructure", overdue=True,
                         resolved_on_time=None, resolved_at=None, text="=HYPERLINK(\"http://x\",\"点我\")")]
    data = xlsx_bytes(_once(rows))
    assert data[:2] == b"PK"  # an Office Open XML zip
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "台账"
    grid = [[c.value for c in r] for r in ws.iter_rows()]
    assert grid[0] == headers("zh") and grid[0][:3] == ["编号", "上报时间", "上报人编号"]
    assert ws["A1"].font.b  # a bold header
    assert ws.freeze_panes == "A2"  # the header stays on screen when scrolling
    assert ws.auto_filter.ref == f"A1:W{len(rows) + 1}" and len(COLUMNS) == 23  # a filter on every column
    assert ws.column_dimensions["G"].width == 60  # the report text gets room
    first = dict(zip(COLUMNS, grid[1], strict=True))
    assert (first["state"], first["urgency"], first["category"], first["owner_role"]) == (
        "已关闭", "紧急", "治安安全", "网格长")
    assert first["created_at"] == datetime(2026, 1, 5, 16, 0)  # Beijing time, a real date cell
    assert ws.cell(row=2, column=COLUMNS.index("created_at") + 1).number_format == "yyyy-mm-dd hh:mm"
    assert (first["overdue"], first["resolved_on_time"]) == ("否", "是")
    second = dict(zip(COLUMNS, grid[2], strict=True))
    assert second["overdue"] == "是" and second["resolved_on_time"] is None
    # a report that looks like a formula stays text: Excel never runs what a worker typed
    assert second["text"].startswith("=HYPERLINK") and ws.cell(row=3, column=7).data_type == "s"


def test_words_follow_the_catalogue_in_each_language() -> None:
    from i18n import t

    for lang in ("zh", "bo", "en"):
        ws = load_workbook(io.BytesIO(xlsx_bytes(_once([_row(1)]), lang))).active
        grid = [[c.value for c in r] for r in ws.iter_rows()]
        assert grid[0] == [t(lang, f"ledger.col.{c}") for c in COLUMNS]
        row = dict(zip(COLUMNS, grid[1], strict=True))
        assert row["state"] == t(lang, "state.closed") and row["category"] == t(lang, "category.safety")
        assert row["urgency"] == t(lang, "urgency.urgent") and row["owner_role"] == t(lang, "role.grid_leader")
    # an unknown code (a newer category) stays readable instead of turning into a message id
    ws = load_workbook(io.BytesIO(xlsx_bytes(_once([_row(1, category="snow_rescue")])))).active
    assert ws.cell(row=2, column=COLUMNS.index("category") + 1).value == "snow_rescue"


def test_csv_has_the_bom_chinese_words_and_crlf() -> None:
    data = csv_bytes(_once([_row(1), _row(2, text="-5度 雪太大", state="accepted")]))
    assert data.startswith(b"\xef\xbb\xbf")  # Excel/WPS read the file as UTF-8 only with the BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == headers("zh")
    by = [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]
    assert by[0]["state"] == "已关闭" and by[0]["created_at"] == "2026-01-05 16:00+08:00" and by[0]["overdue"] == "否"
    assert by[1]["text"] == "'-5度 雪太大"  # a leading - or = would make Excel read a formula


def test_empty_ledger_keeps_its_header() -> None:
    ws = load_workbook(io.BytesIO(xlsx_bytes(iter(())))).active
    assert [c.value for c in next(ws.iter_rows())] == headers("zh") and ws.max_row == 1
    assert csv_bytes(iter(())).decode("utf-8-sig").strip() == ",".join(headers("zh"))


def test_the_file_name_picks_the_format(tmp_path) -> None:
    assert format_for(tmp_path / "台账.XLSX", None) == "xlsx"
    assert format_for(tmp_path / "a.csv", None) == "csv" and format_for(None, None) == "csv"
    assert format_for(tmp_path / "a.xlsx", "json") == "json"  # an explicit --format wins
    out = tmp_path / "sub" / "台账.xlsx"
    assert write_ledger(_once([_row(1), _row(2)]), "xlsx", out, io.StringIO()) == 2
    assert load_workbook(out).active.max_row == 3
    with pytest.raises(ValueError, match="--out"):
        write_ledger(iter(()), "xlsx", None, io.StringIO())
