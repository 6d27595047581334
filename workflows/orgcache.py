"""The org tree (units and the officials in them) held in memory, shared by every session of a process.

Why: routing, permissions, the urgent alert, the case card and the view each walk the tree from the case's unit
to the county. Walking it with one ``session.get`` per level cost 18–25 SQL statements per report (issue 11).
The tree changes a few times a year (a CSV import, a new grid leader) and is read on every report, so every
process keeps a snapshot and checks, once per transaction, that it is still current.

How "still current" works across processes: the ``org_version`` row (one row) is bumped by database triggers on
every INSERT, UPDATE (of the columns routing reads) and DELETE of ``units`` and ``people`` — whoever makes the
change (``lianhu import-org``, another bot process, an operator's SQL). The row holds a counter *and* a random
token written by the trigger, so a snapshot read inside a transaction that later rolled back (its token never
becomes visible to anyone else) can never be mistaken for a committed state. The check is one primary-key
read per transaction (``session.info`` remembers the snapshot for the rest of it), and a flush that adds or
changes a unit or person in this session drops that memo so the same transaction sees its own change.

Only officials are held (every role except liaison workers and integrations): a prefecture has 45,000 liaison
workers, none of whom ever owns a case or receives an alert. Liaison workers are read by primary key as before.
"""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import OrgVersion, Person, Role, Unit, UnitLevel

SESSION_KEY = "lianhu.org_snapshot"
HELD_ROLES = frozenset(r for r in Role if r not in (Role.liaison_worker, Role.integration))


@dataclass(frozen=True)
class UnitNode:
    """A unit as routing and views read it (the same attribute names as :class:`storage.models.Unit`)."""

    id: int
    code: str
    name: str
    name_bo: str | None
    level: UnitLevel
    parent_id: int | None
    default_language: str


@dataclass(frozen=True)
class OrgSnapshot:
    """One committed state of the org tree: units with their chains up and subtrees down, and the active
    officials by (role, unit) in id order (the order routing has always used: the first one owns)."""

    key: tuple[int, str]
    units: dict[int, UnitNode]
    children: dict[int, tuple[int, ...]]
    officials: dict[tuple[Role, int], tuple[int, ...]]
    contacts: dict[tuple[int, str], tuple[int, ...]]  # (county unit id, department) -> department contacts
    _chains: dict[int, tuple[UnitNode, ...]] = field(default_factory=dict, compare=False, repr=False)
    _subtrees: dict[int, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)

    def chain(self, unit_id: int) -> tuple[UnitNode, ...]:
        """The unit itself, its parent, ... up to the root (a cycle in bad data stops at the repeat)."""
        cached = self._chains.get(unit_id)
        if cached is not None:
            return cached
        out: list[UnitNode] = []
        seen: set[int] = set()
        node = self.units.get(unit_id)
        while node is not None and node.id not in seen:
            out.append(node)
            seen.add(node.id)
            node = self.units.get(node.parent_id) if node.parent_id is not None else None
        chain = tuple(out)
        self._chains[unit_id] = chain
        return chain

    def subtree(self, root_id: int) -> frozenset[int]:
        """Every unit id under ``root_id``, inclusive."""
        cached = self._subtrees.get(root_id)
        if cached is not None:
            return cached
        ids = {root_id}
        frontier = [root_id]
        while frontier:
            frontier = [c for u in frontier for c in self.children.get(u, ()) if c not in ids]
            ids.update(frontier)
        result = frozenset(ids)
        self._subtrees[root_id] = result
        return result

    def first(self, role: Role, unit_id: int) -> int | None:
        ids = self.officials.get((role, unit_id))
        return ids[0] if ids else None

    def all(self, role: Role, unit_ids: Iterable[int]) -> list[int]:
        """Active people with ``role`` in any of ``unit_ids``, by id."""
        return sorted(i for u in unit_ids for i in self.officials.get((role, u), ()))

    def contact(self, county_id: int, department: str) -> int | None:
        ids = self.contacts.get((county_id, department))
        return ids[0] if ids else None


class _Cache:
    """The process-wide snapshot, replaced whole when the version row says the tree changed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_bind: dict[Any, OrgSnapshot] = {}
        self.loads = 0  # how many times a snapshot was read from the database (tests and benchmarks look)


CACHE = _Cache()


def _current_key(session: Session) -> tuple[int, str]:
    row = session.execute(select(OrgVersion.version, OrgVersion.token).where(OrgVersion.id == 1)).first()
    if row is None:
        # The row was deleted (a test emptying every table, an operator's clean-up): put it back with a fresh
        # random token, so no snapshot taken before can match it; the triggers bump it from here on.
        token = secrets.token_hex(8)
        dialect = session.get_bind().dialect.name
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert_(OrgVersion).values(id=1, version=0, token=token).on_conflict_do_nothing())
        row = session.execute(select(OrgVersion.version, OrgVersion.token).where(OrgVersion.id == 1)).first()
        if row is None:  # pragma: no cover - cannot happen after the insert
            return (0, token)
    return (int(row[0]), str(row[1]))


def _load(session: Session, key: tuple[int, str]) -> OrgSnapshot:
    units: dict[int, UnitNode] = {}
    children: dict[int, list[int]] = defaultdict(list)
    for row in session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.name_bo, Unit.level, Unit.parent_id, Unit.default_language)
    ):
        node = UnitNode(
            row.id,
            row.code,
            row.name,
            row.name_bo,
            UnitLevel(row.level),
            row.parent_id,
            row.default_language or "zh",
        )
        units[node.id] = node
        if node.parent_id is not None:
            children[node.parent_id].append(node.id)
    officials: dict[tuple[Role, int], list[int]] = defaultdict(list)
    contacts: dict[tuple[int, str], list[int]] = defaultdict(list)
    for pid, role, unit_id, department in session.execute(
        select(Person.id, Person.role, Person.unit_id, Person.department)
        .where(Person.active.is_(True), Person.role.in_(HELD_ROLES))
        .order_by(Person.id)
    ):
        officials[(Role(role), unit_id)].append(pid)
        if Role(role) == Role.department_contact and department:
            contacts[(unit_id, department)].append(pid)
    CACHE.loads += 1
    return OrgSnapshot(
        key=key,
        units=units,
        children={k: tuple(v) for k, v in children.items()},
        officials={k: tuple(v) for k, v in officials.items()},
        contacts={k: tuple(v) for k, v in contacts.items()},
    )


def snapshot(session: Session) -> OrgSnapshot:
    """The org tree as this transaction sees it: one version read per transaction, a reload only on change."""
    memo = session.info.get(SESSION_KEY)
    if memo is not None:
        return memo
    key = _current_key(session)
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    snap = CACHE.by_bind.get(engine)
    if snap is None or snap.key != key:
        snap = _load(session, key)
        with CACHE.lock:
            CACHE.by_bind[engine] = snap
    session.info[SESSION_KEY] = snap
    return snap


def forget(engine: Any = None) -> None:
    """Drop the process-wide copy (all engines, or one): the next transaction reloads."""
    with CACHE.lock:
        if engine is None:
            CACHE.by_bind.clear()
        else:
            CACHE.by_bind.pop(engine, None)


@event.listens_for(Session, "after_flush")
def _org_changed_here(session: Session, _ctx: Any) -> None:
    """A unit or person written by this session: the rest of this transaction must see it (the trigger has
    bumped the version, so the next :func:`snapshot` reloads)."""
    if SESSION_KEY not in session.info:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Unit | Person):
            session.info.pop(SESSION_KEY, None)
            return


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _end_of_transaction(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)
