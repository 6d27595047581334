"""The org tree as a small in-memory map for one console request: names, levels, parents, subtrees, and the
township and village above any unit. One query instead of one per case (the wall shows 60 cards)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Unit, UnitLevel


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    name: str
    name_bo: str | None
    level: str
    parent_id: int | None

    def label(self, lang: str) -> str:
        return (self.name_bo or self.name) if lang == "bo" else self.name


class UnitMap:
    def __init__(self, session: Session) -> None:
        rows = session.execute(select(Unit.id, Unit.code, Unit.name, Unit.name_bo, Unit.level, Unit.parent_id)).all()
        self.units: dict[int, UnitInfo] = {
            r.id: UnitInfo(r.id, r.code, r.name, r.name_bo, getattr(r.level, "value", r.level), r.parent_id)
            for r in rows
        }
        self.children: dict[int | None, list[int]] = {}
        for u in sorted(self.units.values(), key=lambda u: (u.name, u.id)):
            self.children.setdefault(u.parent_id, []).append(u.id)

    def get(self, unit_id: int | None) -> UnitInfo | None:
        return self.units.get(unit_id) if unit_id is not None else None

    def by_code(self, code: str) -> UnitInfo | None:
        return next((u for u in self.units.values() if u.code == code), None)

    def chain(self, unit_id: int) -> list[UnitInfo]:
        """The unit, its parent, ... up to the root."""
        out: list[UnitInfo] = []
        unit = self.units.get(unit_id)
        while unit is not None and unit not in out:
            out.append(unit)
            unit = self.units.get(unit.parent_id) if unit.parent_id is not None else None
        return out

    def at_level(self, unit_id: int, level: UnitLevel | str) -> UnitInfo | None:
        return next((u for u in self.chain(unit_id) if u.level == str(level)), None)

    def subtree(self, root_id: int) -> set[int]:
        out, frontier = {root_id}, [root_id]
        while frontier:
            frontier = [c for p in frontier for c in self.children.get(p, []) if c not in out]
            out.update(frontier)
        return out

    def inside(self, unit_id: int, root_id: int) -> bool:
        return any(u.id == root_id for u in self.chain(unit_id))

    def path(self, unit_id: int, lang: str = "zh") -> str:
        return " › ".join(u.label(lang) for u in reversed(self.chain(unit_id)))
