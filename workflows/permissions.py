"""Who may see and do what to a case — checked inside the service on every call (button data is never
trusted: a forwarded or forged callback must fail here, not in the bot).

Rules:
- the owner handles the case: accept, resolve, escalate, reassign, reject, mark duplicate, correct triage,
  add details, acknowledge a reminder;
- a supervisor — a chain official (grid leader < township commander < county commander) whose unit's subtree
  contains the case's unit and who ranks above the owner — may do what the owner may; the county commander
  therefore covers the whole county;
- governance operators (综治中心) see every urgent case in their county and may escalate it;
- the reporter may confirm, reopen, add details and correct what the system understood (triage);
- admins see everything and may assign a case that routing could not place; the county commander may too;
- officials also *see* (without acting) cases in their subtree, department contacts the cases of their
  department's categories in their county, and anyone a case was escalated away from (a *watcher*: the case is
  on their desk, :mod:`workflows.scopes`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from storage.models import Case, Person, Role, Urgency
from workflows import lifecycle, scopes
from workflows.errors import InvalidTransition, NotPermitted
from workflows.routing import CHAIN_RANK, CHAIN_ROLES, OFFICIAL_ROLES, Router, in_subtree

HANDLER_ACTIONS: tuple[str, ...] = (
    "accept",
    "resolve",
    "escalate",
    "reassign",
    "reject",
    "mark_duplicate",
    "correct_triage",
    "add_details",
    "acknowledge_reminder",
)
REPORTER_ACTIONS: tuple[str, ...] = ("confirm", "reopen", "add_details", "correct_triage")
OPERATOR_ACTIONS: tuple[str, ...] = ("escalate",)
ASSIGNER_ACTIONS: tuple[str, ...] = ("assign",)
# Display order of allowed actions (main action first; the bot lays buttons out in this order).
ALL_ACTIONS: tuple[str, ...] = (
    "accept",
    "resolve",
    "confirm",
    "reopen",
    "escalate",
    "reassign",
    "assign",
    "correct_triage",
    "add_details",
    "reject",
    "mark_duplicate",
    "acknowledge_reminder",
)
assert set(ALL_ACTIONS) == set(HANDLER_ACTIONS + REPORTER_ACTIONS + OPERATOR_ACTIONS + ASSIGNER_ACTIONS)

# Actions that are not lifecycle transitions, and the states in which they make sense.
NON_TRANSITION_STATES: dict[str, frozenset[str]] = {
    "add_details": frozenset({"reported", "assigned", "accepted", "resolved"}),
    "correct_triage": frozenset({"reported", "assigned", "accepted"}),
    "acknowledge_reminder": frozenset({"assigned", "accepted"}),
}


@dataclass(frozen=True)
class Relation:
    reporter: bool = False
    owner: bool = False
    supervisor: bool = False
    operator: bool = False  # governance operator, urgent case in their county
    assigner: bool = False  # admin, or county commander of the case's county
    onlooker: bool = False  # may see, not act
    watcher: bool = False  # the case was escalated away from them: they still follow it (may see, not act)

    @property
    def can_view(self) -> bool:
        return any((self.reporter, self.owner, self.supervisor, self.operator, self.assigner, self.onlooker,
                    self.watcher))

    def role_actions(self) -> set[str]:
        actions: set[str] = set()
        if self.owner or self.supervisor:
            actions.update(HANDLER_ACTIONS)
        if self.reporter:
            actions.update(REPORTER_ACTIONS)
        if self.operator:
            actions.update(OPERATOR_ACTIONS)
        if self.assigner:
            actions.update(ASSIGNER_ACTIONS)
        return actions


def relation(session: Session, router: Router, case: Case, person: Person) -> Relation:
    if not person.active:
        return Relation()
    role = person.role
    inside = in_subtree(session, case.unit_id, person.unit_id)
    owner = case.owner
    is_owner = owner is not None and owner.id == person.id
    supervisor = (
        not is_owner
        and role in CHAIN_ROLES
        and inside
        and (owner is None or CHAIN_RANK.get(owner.role, 0) < CHAIN_RANK[role] or role == Role.county_commander)
    )
    operator = role == Role.governance_operator and inside and case.urgency == Urgency.urgent
    assigner = role == Role.admin or (role == Role.county_commander and inside)
    onlooker = (role in CHAIN_ROLES and inside) or (
        role == Role.department_contact
        and inside
        and person.department is not None
        and router.department_for(case.category) == person.department
    )
    rel = Relation(
        reporter=case.reporter_id == person.id,
        owner=is_owner,
        supervisor=supervisor,
        operator=operator,
        assigner=assigner,
        onlooker=onlooker,
    )
    if not rel.can_view and role in OFFICIAL_ROLES and scopes.watches(session, case, person):
        rel = replace(rel, watcher=True)  # on their desk (workflows.scopes), so they may open it
    return rel


def state_allows(session: Session, router: Router, case: Case, action: str) -> bool:
    state = getattr(case.state, "value", case.state)
    if action in NON_TRANSITION_STATES:
        return state in NON_TRANSITION_STATES[action]
    if not lifecycle.can_fire(state, action):
        return False
    if action == "escalate":
        return router.escalation_target(session, case) is not None
    return True


def allowed_actions(session: Session, router: Router, case: Case, person: Person | None) -> list[str]:
    """What ``person`` may do to ``case`` right now, in a stable order (the bot builds buttons from it)."""
    if person is None:
        return []
    may = relation(session, router, case, person).role_actions()
    return [a for a in ALL_ACTIONS if a in may and state_allows(session, router, case, a)]


def require_view(session: Session, router: Router, case: Case, person: Person) -> Relation:
    rel = relation(session, router, case, person)
    if not rel.can_view:
        raise NotPermitted(
            f"{person.name} may not see case #{case.id}", params={"case_id": case.id, "action": "view"}
        )
    return rel


def require(session: Session, router: Router, case: Case, person: Person, action: str) -> Relation:
    """Raise :class:`NotPermitted` if ``person`` may never do ``action`` to this case, or
    :class:`InvalidTransition` if they may but not in its current state."""
    rel = relation(session, router, case, person)
    if action not in rel.role_actions():
        raise NotPermitted(
            f"{person.name} may not {action} case #{case.id}", params={"case_id": case.id, "action": action}
        )
    if not state_allows(session, router, case, action):
        state = getattr(case.state, "value", case.state)
        if action == "escalate" and lifecycle.can_fire(state, action):
            raise InvalidTransition(
                f"case #{case.id} is already with the highest level; nobody to escalate to",
                code="no_higher_level",
                params={"case_id": case.id, "state": state, "action": action},
            )
        raise InvalidTransition(
            f"cannot {action} case #{case.id}: it is {state}",
            params={"case_id": case.id, "state": state, "action": action},
        )
    return rel


#: Who may file a report on someone else's behalf (a phone call or walk-in): officials of the chain and the
#: governance centre, for reporters inside their own area; admins for anyone.
FILER_ROLES = frozenset({Role.grid_leader, Role.township_commander, Role.county_commander,
                         Role.governance_operator, Role.admin})


def may_file_for(session: Session, filer: Person, reporter: Person) -> bool:
    if not filer.active or filer.role not in FILER_ROLES:
        return False
    return filer.role == Role.admin or in_subtree(session, reporter.unit_id, filer.unit_id)
