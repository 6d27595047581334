"""Who owns a case, who is above them, and who must hear about an urgent one.

Why walk the org tree instead of a lookup table: org data comes from a CSV the county maintains, and posts are
often vacant. Walking up from the reporter's unit (grid → village → township → county) and taking the first
active person with the responsible role at each level means a vacancy never drops a case: it lands one level
higher. Only when even the county commander is missing is routing impossible (:class:`RoutingError`); the
caller then keeps the case in ``reported`` and tells the admins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Case, Person, Role, Unit, UnitLevel
from workflows.errors import RoutingError

# The role that owns cases at each level of the tree.
OWNER_ROLE_AT_LEVEL: dict[UnitLevel, Role] = {
    UnitLevel.grid: Role.grid_leader,
    UnitLevel.village: Role.grid_leader,
    UnitLevel.township: Role.township_commander,
    UnitLevel.county: Role.county_commander,
}

# Rank in the chain of command; used for escalation and for "is this person above the owner?".
CHAIN_RANK: dict[Role, int] = {
    Role.grid_leader: 1,
    Role.township_commander: 2,
    Role.department_contact: 2,
    Role.county_commander: 3,
}
CHAIN_ROLES = frozenset({Role.grid_leader, Role.township_commander, Role.county_commander})
OFFICIAL_ROLES = frozenset(CHAIN_RANK)


def ancestors(session: Session, unit_id: int) -> list[Unit]:
    """The unit itself, then its parent, ... up to the root (the tree is at most four levels deep)."""
    chain: list[Unit] = []
    seen: set[int] = set()
    unit = session.get(Unit, unit_id)
    while unit is not None and unit.id not in seen:
        chain.append(unit)
        seen.add(unit.id)
        unit = session.get(Unit, unit.parent_id) if unit.parent_id is not None else None
    return chain


def unit_at_level(session: Session, unit_id: int, level: UnitLevel) -> Unit | None:
    return next((u for u in ancestors(session, unit_id) if u.level == level), None)


def in_subtree(session: Session, unit_id: int, root_id: int) -> bool:
    return any(u.id == root_id for u in ancestors(session, unit_id))


def subtree_ids(session: Session, root_id: int) -> set[int]:
    """All unit ids under ``root_id`` (inclusive), one query per level."""
    ids = {root_id}
    frontier = [root_id]
    while frontier:
        frontier = [i for i in session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier))) if i not in ids]
        ids.update(frontier)
    return ids


def active_admins(session: Session) -> list[Person]:
    """The active admins, by id: they hear about whatever the system could not do on its own (a case routing
    could not place, a case the scheduler keeps failing on, a notification that could not be delivered)."""
    return list(
        session.scalars(select(Person).where(Person.role == Role.admin, Person.active.is_(True)).order_by(Person.id))
    )


def _first_person(session: Session, role: Role, unit_id: int, department: str | None = None) -> Person | None:
    q = select(Person).where(Person.role == role, Person.unit_id == unit_id, Person.active.is_(True))
    if department is not None:
        q = q.where(Person.department == department)
    return session.scalars(q.order_by(Person.id).limit(1)).first()


@dataclass(frozen=True)
class Router:
    """Routing rules from config: ``department_for_category`` maps a triage category to the ``department`` of
    a county-level ``department_contact`` (e.g. ``{"medical": "health"}``)."""

    department_for_category: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Router | None) -> Router:
        if isinstance(config, Router):
            return config
        config = config or {}
        return cls(department_for_category=dict(config.get("department_for_category") or {}))

    def department_for(self, category: str | None) -> str | None:
        return self.department_for_category.get(category or "")

    # -- owners ---------------------------------------------------------------------------------------------

    def owner_for(self, session: Session, unit_id: int, category: str | None) -> Person:
        """The department contact for the category if one exists in the county; otherwise the nearest
        responsible official above ``unit_id`` (vacancies skip up). :class:`RoutingError` if nobody."""
        chain = ancestors(session, unit_id)
        department = self.department_for(category)
        county = next((u for u in chain if u.level == UnitLevel.county), None)
        if department and county is not None:
            contact = _first_person(session, Role.department_contact, county.id, department)
            if contact is not None:
                return contact
        for unit in chain:
            role = OWNER_ROLE_AT_LEVEL.get(unit.level)
            if role is None:
                continue
            person = _first_person(session, role, unit.id)
            if person is not None:
                return person
        raise RoutingError(
            "nobody can own this case: no active grid leader, township commander or county commander above "
            f"unit {unit_id}",
            params={"unit_id": unit_id},
        )

    def escalation_target(self, session: Session, case: Case) -> Person | None:
        """The next official up from the current owner, or ``None`` at the top (keep reminding there).
        grid leader → township commander → county commander; department contact → county commander."""
        owner = case.owner
        rank = CHAIN_RANK.get(owner.role, 0) if owner is not None else 0
        for unit in ancestors(session, case.unit_id):
            role = OWNER_ROLE_AT_LEVEL.get(unit.level)
            if role is None or role not in CHAIN_ROLES or CHAIN_RANK[role] <= rank:
                continue
            person = _first_person(session, role, unit.id)
            if person is not None and (owner is None or person.id != owner.id):
                return person
        return None

    # -- urgent alert ---------------------------------------------------------------------------------------

    def urgent_alert_recipients(self, session: Session, unit_id: int) -> list[Person]:
        """Every active governance operator in the county and the township commander(s) of the unit's
        township — told at once, in parallel with the owner, who does not change."""
        chain = ancestors(session, unit_id)
        county = next((u for u in chain if u.level == UnitLevel.county), None)
        township = next((u for u in chain if u.level == UnitLevel.township), None)
        people: list[Person] = []
        if county is not None:
            people += session.scalars(
                select(Person)
                .where(
                    Person.role == Role.governance_operator,
                    Person.active.is_(True),
                    Person.unit_id.in_(subtree_ids(session, county.id)),
                )
                .order_by(Person.id)
            ).all()
        if township is not None:
            people += session.scalars(
                select(Person)
                .where(
                    Person.role == Role.township_commander,
                    Person.unit_id == township.id,
                    Person.active.is_(True),
                )
                .order_by(Person.id)
            ).all()
        return people
