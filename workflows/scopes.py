"""What each person's case lists contain — defined once, used by every list, count and export.

Why one module: ``/cases`` once listed only the cases a grid leader *owned* while ``/overdue`` listed his whole
village, so after three of his cases escalated ``/cases`` said "nothing to do" and ``/overdue`` showed three
overdue urgent cases. Every list now starts from the same named sets:

- ``mine`` — the viewer owns the case.
- ``watched`` — the case was escalated away from the viewer (they owned it, a deadline passed or they asked for
  help, it went up a level); they still follow it, it came from their area.
- ``area`` — the viewer's jurisdiction, by role: chain officials (grid leader, township and county commander)
  every case in their unit's subtree; the governance centre every *urgent* case in its county; a department
  contact the cases of its department's categories in its county; admins everything; anyone else (a liaison
  worker) only their own reports.
- ``desk`` = ``mine`` ∪ ``watched`` ∪ ``area`` — an official's working set.
- ``reported`` — the viewer's own reports (a liaison worker's ``/my``).

And the lists built from them (the bot, the CLI and the web console use these, never their own query):

- ``/cases``: ``desk`` ∩ open, grouped mine → watched → the rest of the area, then most urgent, then the
  earliest (most overdue) deadline;
- ``/overdue``: the same list ∩ overdue — always a subset of ``/cases``;
- the counts on the ``/cases`` header (:class:`DeskCounts`): the sizes of those groups, from the same clauses;
- the ledger (台账): ``desk`` in every state, oldest first.

"Open" is :data:`workflows.lifecycle.OPEN_STATES` (resolved-but-unconfirmed counts as open); "overdue" is
:func:`workflows.views.is_overdue` as SQL. Everything here returns SQLAlchemy clauses over ``Case`` so callers
add paging, counting or streaming (issue 11 makes them fast at prefecture scale; the clauses are the contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from storage.models import Case, CaseEvent, CaseState, Person, Role, Urgency
from workflows import lifecycle
from workflows.errors import ValidationError
from workflows.policy import URGENCY_ORDER
from workflows.routing import CHAIN_ROLES, Router, subtree_ids

SCOPES: tuple[str, ...] = ("desk", "mine", "watched", "area", "reported")
#: Older names still accepted (CLI flags, callers from before the desk existed).
ALIASES = {"jurisdiction": "area"}
#: The event whose ``data.previous_owner_id`` makes that person a watcher of the case.
WATCH_EVENT = "escalated"
# Group ranks on a desk list, in display order.
MINE, WATCHED, OTHER = 0, 1, 2


def default_scope(role: Role | str) -> str:
    """What "my cases" means for a role: officials their desk, everyone else their own reports."""
    return "reported" if Role(role) == Role.liaison_worker else "desk"


def normalize_scope(scope: str) -> str:
    scope = ALIASES.get(scope, scope)
    if scope not in SCOPES:
        raise ValidationError(f"unknown scope {scope!r}", code="unknown_scope", params={"scope": scope})
    return scope


def is_open() -> ColumnElement[bool]:
    return Case.state.in_([CaseState(s) for s in lifecycle.OPEN_STATES])


def is_overdue(now: datetime) -> ColumnElement[bool]:
    """Not accepted by the ack deadline, or not resolved by the resolve deadline (as ``views.is_overdue``)."""
    return or_(
        and_(Case.state == CaseState.assigned, Case.ack_due_at <= now),
        and_(Case.state.in_([CaseState.assigned, CaseState.accepted]), Case.resolve_due_at <= now),
    )


def mine(viewer: Person) -> ColumnElement[bool]:
    return Case.owner_id == viewer.id


def watched(viewer: Person) -> ColumnElement[bool]:
    """Escalated away from the viewer (and not theirs again)."""
    escalated_from = select(CaseEvent.case_id).where(
        CaseEvent.kind == WATCH_EVENT, CaseEvent.data["previous_owner_id"].as_integer() == viewer.id
    )
    return and_(Case.id.in_(escalated_from), or_(Case.owner_id.is_(None), Case.owner_id != viewer.id))


def area(session: Session, viewer: Person, router: Router) -> ColumnElement[bool]:
    """The viewer's jurisdiction by role (see the module docstring)."""
    role = Role(viewer.role)
    if role == Role.admin:
        return true()
    if role == Role.liaison_worker:
        return Case.reporter_id == viewer.id
    units = subtree_ids(session, viewer.unit_id)
    if role == Role.governance_operator:
        return and_(Case.unit_id.in_(units), Case.urgency == Urgency.urgent)
    if role == Role.department_contact:
        categories = [c for c, d in router.department_for_category.items() if d == viewer.department]
        return and_(Case.unit_id.in_(units), Case.category.in_(categories)) if categories else false()
    if role in CHAIN_ROLES:
        return Case.unit_id.in_(units)
    return false()


def desk(session: Session, viewer: Person, router: Router) -> ColumnElement[bool]:
    if Role(viewer.role) == Role.liaison_worker:
        return reported(viewer)
    return or_(mine(viewer), watched(viewer), area(session, viewer, router))


def reported(viewer: Person) -> ColumnElement[bool]:
    return Case.reporter_id == viewer.id


def clause(session: Session, viewer: Person, router: Router, scope: str) -> ColumnElement[bool]:
    """The named set as a WHERE clause over ``Case``."""
    scope = normalize_scope(scope)
    if scope == "mine":
        return mine(viewer)
    if scope == "watched":
        return watched(viewer)
    if scope == "area":
        return area(session, viewer, router)
    if scope == "reported":
        return reported(viewer)
    return desk(session, viewer, router)


def group(viewer: Person) -> ColumnElement[int]:
    """0 mine, 1 watched, 2 the rest — the first sort key of a desk list."""
    return sql_case((mine(viewer), MINE), (watched(viewer), WATCHED), else_=OTHER)


def ordering(viewer: Person) -> tuple[ColumnElement, ...]:
    """Mine first, then watched, then the rest; within each most urgent, then earliest deadline, oldest."""
    urgency_rank = sql_case({u: i for i, u in enumerate(URGENCY_ORDER)}, value=Case.urgency,
                            else_=len(URGENCY_ORDER))
    due = sql_case((Case.state == CaseState.assigned, Case.ack_due_at), else_=Case.resolve_due_at)
    return (group(viewer), urgency_rank, due.asc().nulls_last(), Case.created_at, Case.id)


@dataclass(frozen=True)
class DeskCounts:
    """The numbers on top of an official's ``/cases``: open cases per group, and how many are overdue."""

    mine: int = 0
    watched: int = 0
    other: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.mine + self.watched + self.other


def desk_counts(session: Session, viewer: Person, router: Router, now: datetime) -> DeskCounts:
    """One grouped query over the same clauses as the list (so the header can never disagree with it)."""
    from sqlalchemy import func

    g = group(viewer).label("g")
    late = sql_case((is_overdue(now), 1), else_=0).label("late")
    rows = session.execute(
        select(g, late, func.count()).where(desk(session, viewer, router), is_open()).group_by(g, late)
    ).all()
    per_group = {MINE: 0, WATCHED: 0, OTHER: 0}
    overdue = 0
    for grp, is_late, n in rows:
        per_group[int(grp)] += n
        overdue += n if is_late else 0
    return DeskCounts(mine=per_group[MINE], watched=per_group[WATCHED], other=per_group[OTHER], overdue=overdue)


def watches(session: Session, case: Case, person: Person) -> bool:
    """True when ``case`` was escalated away from ``person`` (a watcher may see it, as on their desk)."""
    hit = session.scalar(
        select(CaseEvent.id).where(
            CaseEvent.case_id == case.id, CaseEvent.kind == WATCH_EVENT,
            CaseEvent.data["previous_owner_id"].as_integer() == person.id,
        ).limit(1)
    )
    return hit is not None
