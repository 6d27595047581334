"""The org tree's names (people, household heads and members, units) as plain strings, for triage's name masking.

Why: a learned n-gram model learns whatever co-occurs with the labels, and in a pastoral county that is
person and place names ("卓玛", "才让", "三社"): a report about 卓玛's 低保 card paged the county centre
because 卓玛 appeared in urgent training reports. The classifier masks every name before it builds
features, so a name can neither raise nor lower urgency; the org tree knows every household head,
official, village and grid, and the classifier ships a list of common Tibetan names written in Chinese
for everyone else (``workflows/triage/names-zh.txt``).

``OrgNames(db).names()`` is cached and re-read when the org tree changes. The change check is one cheap
aggregate query (row counts, highest ids and total name lengths of the three tables), run at most every
``check_every_s`` seconds, so a CSV import in another process (``lianhu import-org``) is seen within that
time without a message between processes. (Issue 11's org-tree cache can replace the check later.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import func, select

from storage.db import Database
from storage.models import Household, HouseholdMember, Person, Unit

# Unit names carry a level suffix ("多卡村第一网格", "扎西乡"); reports use the bare name too ("多卡的").
UNIT_SUFFIXES = ("第一网格", "第二网格", "第三网格", "第四网格", "第五网格", "网格", "示范县", "自治县",
                 "县", "乡", "镇", "村", "社", "组")


def name_variants(name: str, *, unit: bool = False) -> set[str]:
    """The forms a report uses for one name: the name itself, a unit's name without its level suffixes,
    and both halves of a four-character Tibetan name ("才让多杰" -> 才让, 多杰). Forms shorter than two
    characters are dropped: a single character is far more often a word than a name."""
    name = (name or "").strip()
    out = {name}
    if unit:
        stem = name
        for _ in range(3):
            for suffix in UNIT_SUFFIXES:
                if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
                    stem = stem[: -len(suffix)]
                    out.add(stem)
                    break
    elif len(name) == 4 and all("\u4e00" <= ch <= "\u9fff" for ch in name):
        out.update((name[:2], name[2:]))
    return {n for n in out if len(n) >= 2}


class OrgNames:
    """Person, household-head and unit names of the org tree in ``db`` (see module docstring)."""

    def __init__(self, db: Database, *, check_every_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.db = db
        self.check_every_s = check_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._names: frozenset[str] = frozenset()
        self._signature: tuple | None = None
        self._checked_at: float | None = None

    def names(self) -> frozenset[str]:
        """All name forms (never raises: a database problem keeps the last list)."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self.check_every_s:
            return self._names
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < self.check_every_s:
                return self._names
            try:
                with self.db.session() as s:
                    signature = self._current_signature(s)
                    if signature != self._signature:
                        self._names = frozenset(self._read(s))
                        self._signature = signature
            except Exception:  # noqa: BLE001 - masking is a refinement; triage must go on without it
                return self._names
            self._checked_at = now
        return self._names

    def invalidate(self) -> None:
        """Re-read on the next call (an import in this process calls it)."""
        with self._lock:
            self._checked_at = None
            self._signature = None

    @staticmethod
    def _current_signature(s) -> tuple:
        parts: list = []
        for model, column in (
            (Unit, Unit.name),
            (Person, Person.name),
            (Household, Household.head_name),
            (HouseholdMember, HouseholdMember.name),
        ):
            parts.extend(
                s.execute(
                    select(func.count(model.id), func.max(model.id), func.sum(func.length(column)))
                ).one()
            )
        return tuple(parts)

    @staticmethod
    def _read(s) -> Iterable[str]:
        for (name,) in s.execute(select(Unit.name)):
            yield from name_variants(name, unit=True)
        for (name,) in s.execute(select(Person.name)):
            yield from name_variants(name)
        for (name,) in s.execute(select(Household.head_name)):
            yield from name_variants(name)
        for (name,) in s.execute(select(HouseholdMember.name)):  # everyone of a household (members.csv)
            yield from name_variants(name)
