"""The names a reporter's voice note is likely to contain, nearest first, from the org tree.

Why: the speech model hears the county's names as common homophones (卓玛 -> 着马, 多卡村 -> 多卡春). Whisper can
be biased towards a list of words, but the list is short (about 223 tokens, 45-50 names), so it must hold the
names *this* reporter says: first the families they look after, then the people and officials around them,
then the places. ``runtime.voice`` adds the county lexicon and hands the result to the speech backend, which
keeps as many whole names from the front as fit (:func:`transcription.biasing.fit_terms`).

Order (nearest first), each name once:
1. the heads and members of the households the reporter looks after (``households.liaison_code``);
2. the names of the reporter's own grid, village and township (and their bare forms: 多卡村 -> 多卡);
3. the people of the reporter's grid and village (other liaison workers, the grid leader);
4. the other households of the reporter's grid, heads then members;
5. the officials above: the township's commanders and the people of the township unit;
6. neighbouring units: the other grids of the village, the other villages of the township;
7. the other households of the village.

A reporter who is an official (unit above grid level) gets their unit and what lies under it in the same
order. The lists are cached per person and rebuilt when the org tree changes: the change check is the same
cheap aggregate query as :class:`workflows.orgnames.OrgNames` (so an ``import-org`` in another process is seen
within ``check_every_s``), and :meth:`SpeechContext.invalidate` clears it at once after an import here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Case, Household, HouseholdMember, Person, Role, Unit, UnitLevel
from workflows.orgnames import OrgNames, name_variants

__all__ = ["SpeechContext", "reporter_names"]


def _unit_forms(name: str) -> list[str]:
    """The unit's full name first, then its bare forms, longest first (多卡村第一网格, 多卡村, 多卡)."""
    forms = sorted(name_variants(name, unit=True) - {name}, key=len, reverse=True)
    return [name, *forms] if name else forms


def _household_names(s: Session, where: object) -> list[str]:
    """Heads and members of the matching households, household by household in code order."""
    households = s.execute(
        select(Household.id, Household.head_name).where(where).order_by(Household.code)
    ).all()
    if not households:
        return []
    ids = [h.id for h in households]
    members: dict[int, list[str]] = {}
    rows = s.execute(
        select(HouseholdMember.household_id, HouseholdMember.name)
        .where(HouseholdMember.household_id.in_(ids))
        .order_by(HouseholdMember.household_id, HouseholdMember.position)
    )
    for household_id, name in rows:
        members.setdefault(household_id, []).append(name)
    out: list[str] = []
    for h in households:
        out.append(h.head_name)
        out.extend(members.get(h.id, ()))
    return out


def _people(s: Session, unit_ids: Iterable[int], exclude: int | None = None) -> list[str]:
    ids = list(unit_ids)
    if not ids:
        return []
    q = select(Person.name).where(
        Person.unit_id.in_(ids), Person.active.is_(True), Person.role != Role.integration
    )
    if exclude is not None:
        q = q.where(Person.id != exclude)
    return list(s.scalars(q.order_by(Person.code)))


def _dedupe(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        name = (name or "").strip()
        if len(name) >= 2 and name not in seen:  # one character is more often a word than a name
            seen[name] = None
    return tuple(seen)


def reporter_names(s: Session, person_id: int) -> tuple[str, ...]:
    """The names for ``person_id``'s voice notes, nearest first (see the module docstring for the order)."""
    person = s.get(Person, person_id)
    if person is None:
        return ()
    unit = s.get(Unit, person.unit_id)
    if unit is None:
        return ()
    chain: list[Unit] = []  # the reporter's unit and its ancestors, nearest first
    cursor: Unit | None = unit
    while cursor is not None and len(chain) < 8:
        chain.append(cursor)
        cursor = s.get(Unit, cursor.parent_id) if cursor.parent_id else None
    by_level = {u.level: u for u in chain}
    grid, village, township = (
        by_level.get(UnitLevel.grid),
        by_level.get(UnitLevel.village),
        by_level.get(UnitLevel.township),
    )
    names: list[str] = []
    # 1. the households this person looks after
    names += _household_names(s, Household.liaison_id == person.id)
    # 2. own places, nearest first (the county's name is said rarely in a report: left out)
    for u in chain:
        if u.level != UnitLevel.county:
            names += _unit_forms(u.name)
    # 3. the people of the grid and the village
    near_units = [u.id for u in (grid, village) if u is not None] or [unit.id]
    names += _people(s, near_units, exclude=person.id)
    # 4. the other households of the grid (or of the person's own unit when that is no grid)
    home = grid or unit
    names += _household_names(
        s,
        (Household.unit_id == home.id)
        & (Household.liaison_id.is_(None) | (Household.liaison_id != person.id)),
    )
    # 5. the officials above
    if township is not None:
        names += _people(s, [township.id], exclude=person.id)
    # 6. neighbouring units: sibling grids, then sibling villages (and their grids) of the township
    for parent, child in ((village, grid), (township, village)):
        if parent is None:
            continue
        for sibling in s.scalars(select(Unit).where(Unit.parent_id == parent.id).order_by(Unit.code)):
            if child is None or sibling.id != child.id:
                names += _unit_forms(sibling.name)
    # 7. the other households of the village (other grids), and of the units under an official's unit
    if village is not None:
        grids = list(s.scalars(select(Unit.id).where(Unit.parent_id == village.id, Unit.id != home.id)))
        if grids:
            names += _household_names(s, Household.unit_id.in_(grids))
    elif unit.level in (UnitLevel.township, UnitLevel.county):
        below = [u.id for u in s.scalars(select(Unit).where(Unit.parent_id == unit.id))]
        names += _people(s, below)
    return _dedupe(names)


class SpeechContext:
    """``names(person_id)`` / ``for_case(case_id)``: the reporter's names, cached until the org tree changes."""

    def __init__(
        self, db: Database, *, check_every_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self.db = db
        self.check_every_s = check_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[str, ...]] = {}
        self._signature: tuple | None = None
        self._checked_at: float | None = None

    def _fresh(self, s: Session) -> None:
        """Drop the cache when the org tree changed (checked at most every ``check_every_s``)."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self.check_every_s:
            return
        signature = OrgNames._current_signature(s)
        if signature != self._signature:
            self._cache.clear()
            self._signature = signature
        self._checked_at = now

    def names(self, person_id: int) -> tuple[str, ...]:
        """Names for a reporter, nearest first; ``()`` when the database cannot be read (biasing is a help:
        a voice note is transcribed without it rather than not at all)."""
        with self._lock:
            try:
                with self.db.session() as s:
                    self._fresh(s)
                    cached = self._cache.get(person_id)
                    if cached is None:
                        cached = self._cache[person_id] = reporter_names(s, person_id)
                    return cached
            except Exception:  # noqa: BLE001 - see docstring
                return self._cache.get(person_id, ())

    def for_case(self, case_id: int) -> tuple[str, ...]:
        """Names for the reporter of ``case_id``."""
        try:
            with self.db.session() as s:
                reporter = s.scalar(select(Case.reporter_id).where(Case.id == case_id))
        except Exception:  # noqa: BLE001 - see names()
            return ()
        return self.names(reporter) if reporter is not None else ()

    def invalidate(self) -> None:
        """Rebuild every list on the next call (an org import in this process calls it)."""
        with self._lock:
            self._cache.clear()
            self._signature = None
            self._checked_at = None
