"""The files officials open in Excel/WPS from tasks and visits (runtime/tasks_export.py): Chinese headers and
words, Beijing time, and a note typed like a formula stays words (CSV and XLSX)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import load_workbook

from runtime.tasks_export import VISITS_SHEET, task_export_file, visits_grid, xlsx_bytes

WHEN = datetime(2026, 1, 5, 8, 30)  # naive UTC, as stored: 16:30 in Beijing


def _row(**over):
    row = {
        "task_id": 7,
        "township": "德吉乡",
        "village": "多卡村",
        "grid": "第一网格",
        "worker_code": "P1111",
        "worker": "扎西",
        "household_code": "H111101",
        "head_name": "仁青",
        "answer": "有问题",
        "answered_at": WHEN,
        "note": '=HYPERLINK("http://x")',
        "case_id": 12,
    }
    return {**row, **over}


def test_task_export_as_xlsx_and_csv_in_chinese_with_formulas_kept_as_text() -> None:
    data, name = task_export_file(7, [_row()], "xlsx", WHEN)
    assert name == "task-7-2026-01-05.xlsx"
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "任务7" and sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]][:3] == ["任务编号", "乡镇", "村"]
    assert sheet.cell(2, 10).value == "2026-01-05 16:30"  # Beijing time
    note = sheet.cell(2, 11)
    assert note.value == '=HYPERLINK("http://x")' and note.data_type == "s"  # words, not a formula
    data, name = task_export_file(7, [_row()], "csv", WHEN)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert name.endswith(".csv") and rows[0]["户主"] == "仁青" and rows[0]["情况说明"].startswith("'=")


def test_the_visits_sheet_in_words() -> None:
    rows = [
        {
            "visit_id": 3,
            "kind": "death",
            "festival": "",
            "unit": "德吉乡 / 多卡村",
            "household_code": "H111101",
            "head_name": "仁青",
            "owner": "王建国",
            "state": "done",
            "created_at": WHEN,
            "due_at": WHEN,
            "done_at": WHEN,
            "on_time": True,
            "escalation_level": 0,
            "note": "上门慰问",
            "case_id": 12,
        },
        {
            "visit_id": 4,
            "kind": "festival",
            "festival": "藏历新年",
            "unit": "德吉乡 / 多卡村",
            "household_code": "H111102",
            "head_name": "加措",
            "owner": "王建国",
            "state": "open",
            "created_at": WHEN,
            "due_at": WHEN,
            "done_at": None,
            "on_time": None,
            "escalation_level": 1,
            "note": "",
            "case_id": "",
        },
    ]
    grid = visits_grid(rows)
    assert grid[0][:3] == ["走访编号", "走访事由", "节日"]
    assert grid[1][1] == "老人去世" and grid[1][7] == "已走访" and grid[1][11] == "是"
    assert (
        grid[2][1] == "节日走访" and grid[2][2] == "藏历新年" and grid[2][7] == "待走访" and grid[2][11] == ""
    )
    book = load_workbook(io.BytesIO(xlsx_bytes([(VISITS_SHEET, grid)])))
    assert book.sheetnames == ["走访台账"] and book.active.max_row == 3
