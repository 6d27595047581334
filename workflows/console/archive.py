"""The household archive (档案库) and the people a console user may file for, inside their jurisdiction.

Visibility: a household (and a liaison worker) is visible to an official whose unit's subtree contains its
unit; admins see all. The cases listed with a household are further limited by the case rules
(the viewer's desk, :mod:`workflows.scopes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from storage import models
from storage.models import Household, Person, Role
from workflows.console.units import UnitMap
from workflows.errors import NotFound, NotPermitted

MAX_RESULTS = 200
LIVESTOCK = ("yaks", "sheep", "goats", "horses")


@dataclass(frozen=True)
class WorkerRef:
    id: int
    code: str
    name: str
    unit_path: str


@dataclass(frozen=True)
class MemberView:
    name: str
    relation: str | None
    birth_year: int | None
    gender: str | None
    note: str | None


@dataclass(frozen=True)
class HouseholdView:
    """A household as the archive shows it: the facts of the org CSV (households.csv and members.csv)."""

    id: int
    code: str
    head_name: str
    unit_id: int
    unit_path: str
    liaison_id: int | None
    liaison_name: str | None
    members: Any  # the declared household size
    note: str | None
    phone: str | None = None
    cadre_name: str | None = None  # the responsible cadre; None: the grid leader above the household
    certificates: tuple[str, ...] = ()  # codes (i18n ``certificate.<code>``): 低保, 五保, 残疾 ...
    festival_marks: tuple[str, ...] = ()
    livestock: tuple[tuple[str, int], ...] = ()  # (kind, count) for yaks, sheep, goats, horses
    people: tuple[MemberView, ...] = ()


def _visible_units(s: Any, viewer: Person, units: UnitMap) -> set[int] | None:
    """None = everything (admin)."""
    if viewer.role == Role.admin:
        return None
    if viewer.role in (Role.liaison_worker, Role.integration):
        return set()
    return units.subtree(viewer.unit_id)


class Archive:
    def __init__(self, cases: Any) -> None:
        self.cases = cases
        self.db = cases.db

    def _viewer(self, s: Any, viewer_id: int) -> Person:
        viewer = s.get(Person, viewer_id)
        if viewer is None or not viewer.active:
            raise NotPermitted("no such active person", params={"action": "view"})
        return viewer

    def workers(self, viewer_id: int, lang: str = "zh") -> list[WorkerRef]:
        """Liaison workers the viewer may file a report for (:func:`workflows.permissions.may_file_for`)."""
        with self.db.session() as s:
            viewer = self._viewer(s, viewer_id)
            units = UnitMap(s)
            visible = _visible_units(s, viewer, units)
            q = select(Person).where(Person.role == Role.liaison_worker, Person.active.is_(True))
            if visible is not None:
                q = q.where(Person.unit_id.in_(visible))
            return [WorkerRef(p.id, p.code, p.name, units.path(p.unit_id, lang))
                    for p in s.scalars(q.order_by(Person.unit_id, Person.name))]

    def households(self, viewer_id: int, *, query: str | None = None, liaison_id: int | None = None,
                   unit_id: int | None = None, lang: str = "zh", limit: int = MAX_RESULTS) -> list[HouseholdView]:
        with self.db.session() as s:
            viewer = self._viewer(s, viewer_id)
            units = UnitMap(s)
            visible = _visible_units(s, viewer, units)
            q = select(Household)
            if visible is not None:
                q = q.where(Household.unit_id.in_(visible))
            if unit_id is not None:
                q = q.where(Household.unit_id.in_(units.subtree(unit_id)))
            if liaison_id is not None:
                q = q.where(Household.liaison_id == liaison_id)
            if query:
                like = f"%{query.strip()[:50]}%"
                match = [Household.head_name.like(like), Household.code.like(like)]
                member = getattr(models, "HouseholdMember", None)  # members.csv (the archive's people)
                if member is not None:
                    match.append(Household.id.in_(select(member.household_id).where(member.name.like(like))))
                q = q.where(or_(*match))
            rows = s.scalars(q.order_by(Household.unit_id, Household.code).limit(max(1, min(limit, 1000)))).all()
            return [self._view(s, h, units, lang) for h in rows]

    def household(self, viewer_id: int, household_id: int, lang: str = "zh") -> HouseholdView:
        with self.db.session() as s:
            viewer = self._viewer(s, viewer_id)
            units = UnitMap(s)
            h = s.get(Household, household_id)
            if h is None:
                raise NotFound(f"no household {household_id}", code="household_not_found")
            visible = _visible_units(s, viewer, units)
            if visible is not None and h.unit_id not in visible:
                raise NotPermitted(f"household {household_id} is outside {viewer.name}'s area",
                                   params={"action": "view_household"})
            return self._view(s, h, units, lang)

    @staticmethod
    def _view(s: Any, h: Household, units: UnitMap, lang: str) -> HouseholdView:
        liaison = s.get(Person, h.liaison_id) if h.liaison_id is not None else None
        cadre_id = getattr(h, "cadre_id", None)
        cadre = s.get(Person, cadre_id) if cadre_id is not None else None
        livestock = tuple((kind, int(n)) for kind in LIVESTOCK if (n := getattr(h, kind, None)))
        people = tuple(MemberView(m.name, m.relation, m.birth_year, m.gender, m.note)
                       for m in getattr(h, "member_rows", None) or ())
        return HouseholdView(
            h.id, h.code, h.head_name, h.unit_id, units.path(h.unit_id, lang), h.liaison_id,
            liaison.name if liaison is not None else None, h.members, h.note, phone=getattr(h, "phone", None),
            cadre_name=cadre.name if cadre is not None else None,
            certificates=tuple(getattr(h, "certificates", None) or ()),
            festival_marks=tuple(getattr(h, "festival_marks", None) or ()), livestock=livestock, people=people)
