"""The in-memory org tree (workflows.orgcache): read once, reused by every transaction, and replaced as soon as
anyone — this process, another process's engine, an operator's SQL, a CSV import — changes units or people.
A rolled-back change never leaks into the copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update

from storage.db import Database
from storage.models import Person, Role, Unit
from storage.orgtree import export_org, import_org_dir
from workflows import orgcache
from workflows.routing import Router, ancestors, subtree_ids


def _count_statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_a) -> None:  # noqa: ANN001
        seen.append(statement)

    return seen


def test_one_load_then_one_cheap_read_per_transaction(world) -> None:
    db = world.db
    with db.session() as s:
        orgcache.snapshot(s)  # warm
    loads = orgcache.CACHE.loads
    statements = _count_statements(db)
    grid = world.id("G010101")
    with db.session() as s:
        chain = ancestors(s, grid)
        ancestors(s, grid)
        subtree_ids(s, world.id("T01"))
        owner = Router().owner_for(s, grid, "other")
    assert [u.code for u in chain] == ["G010101", "V0101", "T01", "C01"]
    assert owner.code == "P110"
    assert orgcache.CACHE.loads == loads  # nothing reloaded
    org_reads = [q for q in statements if "units" in q.lower() and "org_version" not in q.lower()]
    assert org_reads == []  # the tree came from memory: no per-level session.get any more
    assert sum("org_version" in q for q in statements) == 1  # one version check for the whole transaction


def test_a_change_through_another_engine_is_seen_at_the_next_transaction(world) -> None:
    """Another process (here: its own engine and connection pool) renames a unit with plain SQL."""
    db = world.db
    grid = world.id("G010101")
    with db.session() as s:
        assert ancestors(s, grid)[0].name == "多卡村第一网格"
    other = Database(db.url)
    try:
        with other.engine.begin() as conn:
            conn.execute(text("UPDATE units SET name = '多卡村一组' WHERE code = 'G010101'"))
    finally:
        other.dispose()
    with db.session() as s:
        assert ancestors(s, grid)[0].name == "多卡村一组"


def test_a_new_grid_leader_gets_the_next_report(world) -> None:
    """Routing follows a personnel change made elsewhere: the vacancy above is filled in another session."""
    db = world.db
    with db.session() as s:
        s.execute(update(Person).where(Person.code == "P110").values(active=False))
    case = world.cases.file_report(world.id("P1111"), text="路坏了")
    assert case.owner is not None and case.owner.id != world.id("P110")  # the vacancy skipped up
    other = Database(db.url)
    try:
        with other.session() as s:
            s.add(Person(code="P199", name="新网格长", role=Role.grid_leader, unit_id=world.id("V0101")))
    finally:
        other.dispose()
    case = world.cases.file_report(world.id("P1111"), text="路又坏了")
    assert case.owner is not None and case.owner.name == "新网格长"


def test_a_change_in_this_transaction_is_seen_in_it_and_a_rollback_leaves_nothing(world) -> None:
    db = world.db
    village = world.id("V0101")
    with pytest.raises(RuntimeError), db.session() as s:
        assert orgcache.snapshot(s).first(Role.grid_leader, village) == world.id("P110")
        s.get(Person, world.id("P110")).active = False
        s.flush()
        assert orgcache.snapshot(s).first(Role.grid_leader, village) is None  # its own change
        raise RuntimeError("roll back")
    with db.session() as s:
        assert orgcache.snapshot(s).first(Role.grid_leader, village) == world.id("P110")


def test_a_csv_import_replaces_the_tree(world, tmp_path: Path) -> None:
    db = world.db
    with db.session() as s:
        before = len(orgcache.snapshot(s).units)
    folder = tmp_path / "org"
    folder.mkdir()
    with db.session() as s:
        export_org(s, folder)
    units = (folder / "units.csv").read_text("utf-8").rstrip("\n") + "\nG010199,多卡村新网格,,grid,V0101,zh\n"
    (folder / "units.csv").write_text(units, "utf-8")
    other = Database(db.url)
    try:
        with other.session() as s:
            import_org_dir(s, folder)
    finally:
        other.dispose()
    with db.session() as s:
        snap = orgcache.snapshot(s)
        new = s.scalar(select(Unit.id).where(Unit.code == "G010199"))
        assert len(snap.units) == before + 1
        assert [u.code for u in snap.chain(new)] == ["G010199", "V0101", "T01", "C01"]
