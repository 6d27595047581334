"""Reading cases: one case (permission-checked), its timeline, scoped lists and counts, the ledger (台账), and the
officials a case may be handed to. Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from storage.models import Case, CaseEvent, CaseState, Household, Person, Role, Urgency
from workflows import lifecycle, permissions
from workflows.cases.plumbing import CaseCore, _v
from workflows.errors import NotFound, NotPermitted, ValidationError
from workflows.notifications import iso
from workflows.policy import URGENCY_ORDER
from workflows.routing import CHAIN_RANK, CHAIN_ROLES, OFFICIAL_ROLES, subtree_ids
from workflows.views import (
    CaseView,
    PersonView,
    TimelineEntry,
    case_view,
    is_overdue,
    person_view,
    timeline_entry,
)

SCOPES = ("mine", "jurisdiction", "reported")

class CaseQueries(CaseCore):
    """Reads: one case, its timeline, lists and counts, the ledger, reassign targets."""

    def get_case(self, case_id: int, viewer_id: int) -> CaseView:
        with self.db.session() as s:
            case = self._case(s, case_id)
            viewer = self._person(s, viewer_id)
            permissions.require_view(s, self.router, case, viewer)
            return self._view(s, case, viewer, self.clock.now())

    def can_act(self, case_id: int, actor_id: int) -> bool:
        try:
            return bool(self.get_case(case_id, actor_id).allowed_actions)
        except (NotPermitted, NotFound):
            return False

    def timeline(self, case_id: int, viewer_id: int) -> list[TimelineEntry]:
        with self.db.session() as s:
            case = self._case(s, case_id)
            permissions.require_view(s, self.router, case, self._person(s, viewer_id))
            events = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
            return [timeline_entry(e) for e in events]

    def _scoped(self, s: Session, viewer: Person, scope: str, *, open_only: bool, overdue_only: bool, now: datetime):
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}", code="unknown_scope", params={"scope": scope})
        q = select(Case)
        if scope == "mine":
            q = q.where(Case.owner_id == viewer.id)
        elif scope == "reported":
            q = q.where(Case.reporter_id == viewer.id)
        else:
            q = q.where(self._jurisdiction_clause(s, viewer))
        if open_only:
            q = q.where(Case.state.in_([CaseState(x) for x in lifecycle.OPEN_STATES]))
        if overdue_only:
            q = q.where(
                or_(
                    and_(Case.state == CaseState.assigned, Case.ack_due_at <= now),
                    and_(Case.state.in_([CaseState.assigned, CaseState.accepted]), Case.resolve_due_at <= now),
                )
            )
        return q

    def _jurisdiction_clause(self, s: Session, viewer: Person):
        role = viewer.role
        if role == Role.admin:
            return Case.id.is_not(None)
        units = subtree_ids(s, viewer.unit_id)
        if role == Role.governance_operator:
            return and_(Case.unit_id.in_(units), Case.urgency == Urgency.urgent)
        if role == Role.department_contact:
            cats = [c for c, d in self.router.department_for_category.items() if d == viewer.department]
            return or_(Case.owner_id == viewer.id, and_(Case.unit_id.in_(units), Case.category.in_(cats)))
        if role in CHAIN_ROLES:
            return Case.unit_id.in_(units)
        return Case.reporter_id == viewer.id

    @staticmethod
    def _ordering():
        urgency_rank = sql_case({u: i for i, u in enumerate(URGENCY_ORDER)}, value=Case.urgency, else_=len(URGENCY_ORDER))
        due = sql_case((Case.state == CaseState.assigned, Case.ack_due_at), else_=Case.resolve_due_at)
        return (urgency_rank, due.asc().nulls_last(), Case.created_at, Case.id)

    def list_cases(
        self,
        viewer_id: int,
        *,
        scope: str = "mine",
        open_only: bool = True,
        overdue_only: bool = False,
        limit: int = 10,
        offset: int = 0,
    ) -> list[CaseView]:
        """Cases for a list screen, most urgent first, then the most overdue (earliest deadline) first."""
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            cases = s.scalars(q.order_by(*self._ordering()).limit(limit).offset(offset)).all()
            return [self._view(s, c, viewer, now) for c in cases]

    def count_cases(self, viewer_id: int, *, scope: str = "mine", open_only: bool = True, overdue_only: bool = False) -> int:
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            return s.scalar(select(func.count()).select_from(q.with_only_columns(Case.id).subquery())) or 0

    def latest_open_case(self, reporter_id: int, within: timedelta) -> CaseView | None:
        """The reporter's most recent case still being worked on, if filed within ``within`` (for the bot's
        "add this to case #N?" question)."""
        now = self.clock.now()
        with self.db.session() as s:
            case = s.scalars(
                select(Case)
                .where(
                    Case.reporter_id == reporter_id,
                    Case.state.in_([CaseState.reported, CaseState.assigned, CaseState.accepted]),
                    Case.created_at >= now - within,
                )
                .order_by(Case.created_at.desc(), Case.id.desc())
                .limit(1)
            ).first()
            if case is None:
                return None
            return self._view(s, case, s.get(Person, reporter_id), now)

    def _system_view(self, case_id: int) -> CaseView:
        """The case as its reporter sees it (for calls made by the system, e.g. the transcription worker)."""
        with self.db.session() as s:
            case = self._case(s, case_id)
            return self._view(s, case, case.reporter, self.clock.now())

    def jurisdiction_people(self, actor_id: int) -> list[PersonView]:
        """Officials the actor may hand a case to (reassign targets), nearest rank first."""
        with self.db.session() as s:
            actor = self._person(s, actor_id)
            q = select(Person).where(Person.active.is_(True), Person.role.in_(list(OFFICIAL_ROLES)),
                                     Person.id != actor.id)
            if actor.role != Role.admin:
                q = q.where(Person.unit_id.in_(subtree_ids(s, actor.unit_id)))
            people = s.scalars(q.order_by(Person.id)).all()
            people = sorted(people, key=lambda p: (CHAIN_RANK.get(p.role, 9), p.name, p.id))
            return [person_view(s, p) for p in people]

    def ledger(self, viewer_id: int | None = None) -> list[dict[str, Any]]:
        """台账 rows (all cases, or the viewer's jurisdiction), oldest first, JSON/CSV friendly."""
        now = self.clock.now()
        with self.db.session() as s:
            q = select(Case)
            if viewer_id is not None:
                q = q.where(self._jurisdiction_clause(s, self._person(s, viewer_id)))
            rows = []
            households: dict[int, str] = {}
            for case in s.scalars(q.order_by(Case.id)):
                hh = None
                if case.household_id is not None:
                    if case.household_id not in households:
                        households[case.household_id] = s.scalar(
                            select(Household.code).where(Household.id == case.household_id)
                        ) or ""
                    hh = households[case.household_id]
                view = case_view(s, case, now=now)
                rows.append({
                    "case_id": case.id,
                    "created_at": iso(case.created_at),
                    "unit": " / ".join(view.unit_path),
                    "household": hh,
                    "reporter": view.reporter.name,
                    "reporter_code": case.reporter.code,
                    "text": case.text,
                    "category": case.category,
                    "urgency": _v(case.urgency),
                    "state": _v(case.state),
                    "owner": view.owner.name if view.owner else None,
                    "owner_role": view.owner.role if view.owner else None,
                    "escalation_level": case.escalation_level,
                    "ack_due_at": iso(case.ack_due_at),
                    "resolve_due_at": iso(case.resolve_due_at),
                    "accepted_at": iso(case.accepted_at),
                    "resolved_at": iso(case.resolved_at),
                    "closed_at": iso(case.closed_at),
                    "overdue": is_overdue(case, now),
                    "resolved_on_time": (
                        None if case.resolved_at is None or case.resolve_due_at is None
                        else case.resolved_at <= case.resolve_due_at
                    ),
                    "resolution_note": case.resolution_note,
                    "close_reason": case.close_reason,
                    "reminders_sent": case.reminders_sent,
                })
            return rows
