"""The ledger as a stream (``CaseService.iter_ledger``): pages by case id, the same rows as the list, filters
for open cases, units and the newest N; the JSON writer streams the same text ``json.dump`` gives; and the
scheduler's idle query walks indexes (no full scan of the cases table on SQLite)."""

from __future__ import annotations

import io
import json

from sqlalchemy import event

from runtime.ledger import COLUMNS, localized, present, write_json, write_ledger, zone
from workflows.routing import subtree_ids
from workflows.scheduler import DueWork


def _file(world, n: int) -> list[int]:
    texts = ["路灯坏了", "羊圈着火了", "水管冻裂了", "家里老人病了"]
    return [world.cases.file_report(world.id("P1111" if i % 2 else "P1211"), text=texts[i % 4]).id
            for i in range(n)]


def test_pages_give_every_row_once_in_order_and_match_the_list(world) -> None:
    ids = _file(world, 7)
    rows = list(world.cases.iter_ledger(batch=2))
    assert [r["case_id"] for r in rows] == ids
    assert rows == world.cases.ledger()
    first = rows[0]
    assert first["unit"].endswith("多卡村第一网格") or "/" in first["unit"]
    assert first["reporter_code"] in ("P1111", "P1211") and first["owner"]
    assert set(COLUMNS) <= set(first)


def test_filters_open_units_newest_first_and_limit(world) -> None:
    ids = _file(world, 6)
    case = world.cases.get_case(ids[0], world.id("P001"))
    world.cases.reject(case.id, case.owner.id, "不是我们的事")
    open_rows = list(world.cases.iter_ledger(open_only=True, batch=4))
    assert [r["case_id"] for r in open_rows] == ids[1:]
    newest = list(world.cases.iter_ledger(newest_first=True, limit=3, batch=2))
    assert [r["case_id"] for r in newest] == ids[::-1][:3]
    with world.db.session() as s:
        village = subtree_ids(s, world.id("V0101"))
    mine = list(world.cases.iter_ledger(unit_ids=village))
    assert mine and all(r["reporter_code"] == "P1111" for r in mine)
    viewer = list(world.cases.iter_ledger(world.id("P110"), batch=1))  # the grid leader's desk
    assert {r["case_id"] for r in viewer} == {r["case_id"] for r in mine}


def test_json_is_written_row_by_row_as_json_dump_would() -> None:
    rows = [{"case_id": 1, "text": "羊圈着火了\n快来", "overdue": False}, {"case_id": 2, "text": None}]
    out = io.StringIO()
    assert write_json(iter(rows), out) == 2
    assert out.getvalue() == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    empty = io.StringIO()
    write_json(iter(()), empty)
    assert json.loads(empty.getvalue()) == []


def test_write_ledger_consumes_an_iterator_once_and_counts(world, tmp_path) -> None:
    _file(world, 3)
    consumed = []

    def rows():
        for row in world.cases.iter_ledger(batch=1):
            consumed.append(row["case_id"])
            yield row

    tz = zone("Asia/Shanghai")
    path = tmp_path / "ledger.csv"
    assert write_ledger(localized(rows(), tz), "csv", path, io.StringIO()) == 3
    assert len(consumed) == 3
    lines = path.read_text("utf-8-sig").splitlines()
    assert len(lines) == 4  # the header and three cases
    assert list(localized(world.cases.iter_ledger(), tz)) == present(world.cases.ledger(), tz)


def test_the_idle_due_query_uses_indexes_on_sqlite(sworld) -> None:
    """One query with OR made SQLite scan the whole table; the two queries each search an index."""
    _file(sworld, 2)
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, params, *_a) -> None:  # noqa: ANN001
        if "FROM cases" in statement and ("next_reminder_at <=" in statement or "autoclose_at <=" in statement):
            captured.append((statement, params))

    event.listen(sworld.db.engine, "before_cursor_execute", capture)
    try:
        DueWork(sworld.db, sworld.clock, sworld.cases).due_case_ids(sworld.clock.now())
    finally:
        event.remove(sworld.db.engine, "before_cursor_execute", capture)
    assert len(captured) == 2 and all(" OR " not in q for q, _ in captured)
    with sworld.db.engine.connect() as conn:
        for q, params in captured:
            plan = " | ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + q, params))
            assert "USING INDEX" in plan, plan
            assert "SCAN cases" not in plan or "SCAN cases USING" in plan, plan
