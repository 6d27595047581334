"""Whose area is what: the top unit of an official's jurisdiction, and whether it covers a unit.

Why one small module: tasks (who may be sent a task by whom), visits (who sees and acts on them) and the
household archive (who may look a household up) all ask "is this unit inside this person's area?". Cases have
their own richer rules (:mod:`workflows.permissions`: owner, supervisor, operator only for urgent cases ...);
these are the plain area rules the new features share, built on the same tree walk (:mod:`workflows.routing`).

- grid leaders and township commanders: their own unit's subtree;
- county commanders, governance operators and department contacts (county-level roles): the whole county;
- admins: the whole tree their unit belongs to;
- liaison workers: no area (they see their own households through ``Household.liaison_id``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.models import Person, Role, UnitLevel
from workflows.routing import ancestors, in_subtree, subtree_ids

COUNTY_ROLES = frozenset({Role.county_commander, Role.governance_operator, Role.department_contact})
UNIT_ROLES = frozenset({Role.grid_leader, Role.township_commander})


def area_root(session: Session, person: Person) -> int | None:
    """The unit id at the top of ``person``'s area, or None (liaison workers, inactive people)."""
    if not person.active:
        return None
    role = person.role
    if role in UNIT_ROLES:
        return person.unit_id
    chain = ancestors(session, person.unit_id)
    if role in COUNTY_ROLES:
        county = next((u for u in chain if u.level == UnitLevel.county), None)
        return county.id if county is not None else person.unit_id
    if role == Role.admin:
        return chain[-1].id if chain else person.unit_id
    return None


def covers(session: Session, person: Person, unit_id: int) -> bool:
    root = area_root(session, person)
    return root is not None and in_subtree(session, unit_id, root)


def area_unit_ids(session: Session, person: Person) -> set[int]:
    root = area_root(session, person)
    return subtree_ids(session, root) if root is not None else set()
