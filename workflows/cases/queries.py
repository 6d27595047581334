"""Reading cases: one case (permission-checked), its timeline, scoped lists and counts, the ledger (台账), and the
officials a case may be handed to. Nothing here writes. What a list contains is :mod:`workflows.scopes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from storage.models import Case, CaseEvent, CaseState, Household, Person, Role
from workflows import orgcache, permissions, scopes
from workflows.cases.plumbing import CaseCore, _v
from workflows.errors import NotFound, NotPermitted
from workflows.notifications import iso
from workflows.routing import CHAIN_RANK, OFFICIAL_ROLES, subtree_ids
from workflows.views import (
    CaseView,
    PersonView,
    TimelineEntry,
    is_overdue,
    person_view,
    timeline_entry,
)

SCOPES = scopes.SCOPES
LEDGER_BATCH = 2000
LEDGER_CASE_COLUMNS = (
    Case.id, Case.created_at, Case.unit_id, Case.text, Case.category, Case.urgency, Case.state,
    Case.escalation_level, Case.ack_due_at, Case.resolve_due_at, Case.accepted_at, Case.resolved_at,
    Case.closed_at, Case.resolution_note, Case.close_reason, Case.reminders_sent,
)


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
        """The named list of :mod:`workflows.scopes`, narrowed to open and/or overdue cases."""
        q = select(Case).where(scopes.clause(s, viewer, self.router, scope))
        if open_only:
            q = q.where(scopes.is_open())
        if overdue_only:
            q = q.where(scopes.is_overdue(now))
        return q

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
        """Cases for a list screen (``scope``: see :mod:`workflows.scopes`): on a desk the viewer's own first,
        then those escalated away from them, then the rest; within each most urgent, then most overdue."""
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            cases = s.scalars(q.order_by(*scopes.ordering(viewer)).limit(limit).offset(offset)).all()
            return [self._view(s, c, viewer, now) for c in cases]

    def count_cases(self, viewer_id: int, *, scope: str = "mine", open_only: bool = True, overdue_only: bool = False) -> int:
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            return s.scalar(select(func.count()).select_from(q.with_only_columns(Case.id).subquery())) or 0

    def desk_counts(self, viewer_id: int) -> scopes.DeskCounts:
        """Open cases on the viewer's desk per group (mine / watched / the rest of the area) and overdue."""
        with self.db.session() as s:
            return scopes.desk_counts(s, self._person(s, viewer_id), self.router, self.clock.now())

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
        """台账 rows (all cases, or the viewer's desk in every state), oldest first, as a list (small exports;
        a whole county's ledger should use :meth:`iter_ledger`)."""
        return list(self.iter_ledger(viewer_id))

    def iter_ledger(
        self,
        viewer_id: int | None = None,
        *,
        open_only: bool = False,
        unit_ids: Iterable[int] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        batch: int = LEDGER_BATCH,
    ) -> Iterator[dict[str, Any]]:
        """台账 rows one at a time, oldest first (``newest_first``: the other way), JSON/CSV friendly.

        Why an iterator: a prefecture has 100k+ cases; building them all first took minutes and a gigabyte
        before the first line appeared. Rows are read in pages of ``batch`` by case id (keyset paging, one
        short read transaction per page, columns only — no ORM objects), so the first row comes at once and
        memory stays flat whatever the size. The unit path comes from the in-memory org tree. ``open_only``:
        cases still being worked on; ``unit_ids``: only cases in those units; ``limit``: at most that many."""
        now = self.clock.now()
        reporter = aliased(Person)
        owner = aliased(Person)
        units = set(unit_ids) if unit_ids is not None else None
        after: int | None = None
        left = limit
        while left is None or left > 0:
            size = batch if left is None else min(batch, left)
            with self.db.session() as s:
                q = (
                    select(*LEDGER_CASE_COLUMNS, reporter.name.label("reporter_name"),
                           reporter.code.label("reporter_code"), owner.name.label("owner_name"),
                           owner.role.label("owner_role"), Household.code.label("household_code"))
                    .join(reporter, reporter.id == Case.reporter_id)
                    .outerjoin(owner, owner.id == Case.owner_id)
                    .outerjoin(Household, Household.id == Case.household_id)
                )
                if viewer_id is not None:  # the viewer's desk, in every state (workflows.scopes)
                    q = q.where(scopes.desk(s, self._person(s, viewer_id), self.router))
                if open_only:
                    q = q.where(scopes.is_open())
                if units is not None:
                    q = q.where(Case.unit_id.in_(units or {-1}))
                if after is not None:
                    q = q.where(Case.id < after if newest_first else Case.id > after)
                q = q.order_by(Case.id.desc() if newest_first else Case.id).limit(size)
                rows = s.execute(q).all()
                tree = orgcache.snapshot(s)
            if not rows:
                return
            for r in rows:
                yield _ledger_row(r, tree, now)
            after = rows[-1].id
            if left is not None:
                left -= len(rows)
            if len(rows) < size:
                return


def _ledger_row(r: Any, tree: orgcache.OrgSnapshot, now: datetime) -> dict[str, Any]:
    return {
        "case_id": r.id,
        "created_at": iso(r.created_at),
        "unit": " / ".join(u.name for u in reversed(tree.chain(r.unit_id))),
        "household": r.household_code,
        "reporter": r.reporter_name,
        "reporter_code": r.reporter_code,
        "text": r.text,
        "category": r.category,
        "urgency": _v(r.urgency),
        "state": _v(r.state),
        "owner": r.owner_name,
        "owner_role": _v(r.owner_role),
        "escalation_level": r.escalation_level,
        "ack_due_at": iso(r.ack_due_at),
        "resolve_due_at": iso(r.resolve_due_at),
        "accepted_at": iso(r.accepted_at),
        "resolved_at": iso(r.resolved_at),
        "closed_at": iso(r.closed_at),
        "overdue": is_overdue(r, now),
        "resolved_on_time": (
            None if r.resolved_at is None or r.resolve_due_at is None else r.resolved_at <= r.resolve_due_at
        ),
        "resolution_note": r.resolution_note,
        "close_reason": r.close_reason,
        "reminders_sent": r.reminders_sent,
    }
