"""A household's facts as a plain view (members with ages, certificates, livestock, phone, marks), and who
owes it its visits.

The responsible cadre is the household's ``cadre_id`` when set and active, else the grid leader above it
(vacancies skip up exactly like case routing): that person owes the household its six must-visits. The visit
card shows this view; the console's archive pages (``workflows.console.archive``, issue 13) list and search
households and may use it for the members.

Who may see a household (:func:`may_see`): its liaison worker; officials whose area holds it
(:mod:`workflows.jurisdiction`); admins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from storage.models import Household, Person, Role
from workflows import jurisdiction
from workflows.errors import RoutingError
from workflows.routing import Router, ancestors
from workflows.views import PersonRef


@dataclass(frozen=True)
class MemberView:
    name: str
    relation: str  # code (storage.household_fields.RELATIONS)
    birth_year: int | None
    age: int | None  # this year minus the birth year
    gender: str | None  # m | f
    note: str | None


@dataclass(frozen=True)
class HouseholdView:
    id: int
    code: str
    head_name: str
    unit_id: int
    unit_name: str
    unit_path: tuple[str, ...]
    liaison: PersonRef | None
    cadre: PersonRef | None  # the responsible cadre now (explicit, else the grid leader above)
    cadre_is_default: bool  # True when no cadre is named in the households file
    members_declared: int | None
    members: tuple[MemberView, ...]
    phone: str | None
    certificates: tuple[str, ...]
    festival_marks: tuple[str, ...]
    livestock: dict[str, int | None]
    note: str | None


def _ref(person: Person | None) -> PersonRef | None:
    return PersonRef(person.id, person.name, getattr(person.role, "value", person.role)) if person else None


def responsible_cadre(session: Session, router: Router, household: Household | None, unit_id: int) -> Person | None:
    """Who owes a visit to this household (or, without one, to this unit): the named cadre if active, else the
    grid leader above (then the township and county commanders when posts are vacant); None if nobody."""
    if household is not None and household.cadre is not None and household.cadre.active:
        return household.cadre
    try:
        return router.owner_for(session, household.unit_id if household is not None else unit_id, None)
    except RoutingError:
        return None


def may_see(session: Session, person: Person, household: Household) -> bool:
    if not person.active:
        return False
    if household.liaison_id == person.id or person.role == Role.admin:
        return True
    return jurisdiction.covers(session, person, household.unit_id)


def household_view(session: Session, router: Router, household: Household, this_year: int) -> HouseholdView:
    chain = ancestors(session, household.unit_id)
    cadre = responsible_cadre(session, router, household, household.unit_id)
    return HouseholdView(
        id=household.id, code=household.code, head_name=household.head_name, unit_id=household.unit_id,
        unit_name=chain[0].name if chain else "", unit_path=tuple(u.name for u in reversed(chain)),
        liaison=_ref(household.liaison), cadre=_ref(cadre),
        cadre_is_default=household.cadre is None or not household.cadre.active,
        members_declared=household.members,
        members=tuple(
            MemberView(m.name, m.relation, m.birth_year, this_year - m.birth_year if m.birth_year else None,
                       m.gender, m.note)
            for m in household.member_rows
        ),
        phone=household.phone, certificates=tuple(household.certificates or ()),
        festival_marks=tuple(household.festival_marks or ()),
        livestock={"yaks": household.yaks, "sheep": household.sheep, "goats": household.goats,
                   "horses": household.horses},
        note=household.note,
    )
