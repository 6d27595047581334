"""Work the scheduler drives: reminders and automatic escalation when deadlines pass, automatic closing after
the quiet period, retrying text cases whose routing never ran, and telling admins when a case keeps failing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from storage.models import Case, CaseEvent, CaseState, Person
from workflows import lifecycle
from workflows.cases.plumbing import _v, tell_unreachable
from workflows.cases.reporting import CaseReporting
from workflows.notifications import Kind, iso, notify
from workflows.outbox import enqueue
from workflows.policy import next_wakeup
from workflows.routing import Skipped, active_admins, unreachable_clause, unreachable_why


class CaseDueWork(CaseReporting):
    """Reminders, automatic escalation and closing, stalled routing, failure notices to admins."""

    def process_due(self, case_id: int) -> str | None:
        """Handle whatever is due on one case, in one transaction that also moves the due instant forward
        (so it fires once). Returns what happened: "auto_closed", "escalated", "overdue_reminder",
        "reminder", or None when nothing was due (already handled)."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            state = _v(case.state)
            if state == "resolved" and case.autoclose_at is not None and case.autoclose_at <= now:
                self._auto_close(s, case, now)
                return "auto_closed"
            if state not in lifecycle.ACTIVE_STATES:
                if case.next_reminder_at is not None:
                    case.next_reminder_at = None  # stale wake-up on a case nobody is on the hook for
                return None
            if case.next_reminder_at is None or case.next_reminder_at > now:
                return None
            policy = self.case_policy(case)
            stage = "ack" if state == "assigned" else "resolve"
            missed = None
            if state == "assigned" and case.ack_due_at is not None and case.ack_due_at <= now:
                missed = "ack"
            elif case.resolve_due_at is not None and case.resolve_due_at <= now:
                missed = "resolve"
            if missed is not None:
                skipped: list[Skipped] = []
                target = self.router.escalation_target(s, case, skipped)
                if target is not None:
                    self._escalate(s, case, target, now, actor=None, reason=f"{missed}_overdue")
                    self._note_skipped(s, case, skipped, now)
                    case.updated_at = now
                    return "escalated"
                stage = missed
            due_at = case.ack_due_at if stage == "ack" else case.resolve_due_at
            case.reminders_sent = (case.reminders_sent or 0) + 1
            case.next_reminder_at = next_wakeup(
                policy, now, accepted=state == "accepted", ack_due=case.ack_due_at, resolve_due=case.resolve_due_at,
                overdue=missed is not None,
            )
            case.updated_at = now
            event = self._event(
                s, case, now, "reminder",
                data={"stage": stage, "overdue": missed is not None, "due_at": iso(due_at), "count": case.reminders_sent,
                      "next_at": iso(case.next_reminder_at)},
            )
            notify(s, now=now, kind=Kind.reminder, recipients=[case.owner_id], case=case, event=event, card=True,
                   payload={"due_at": iso(due_at), "overdue": missed is not None, "stage": stage,
                            "count": case.reminders_sent})
            return "overdue_reminder" if missed is not None else "reminder"

    def waiting_on_unreachable(self, limit: int = 100) -> list[int]:
        """Cases still waiting for their owner to accept (``assigned``) whose owner a notice cannot reach now
        (never registered, switched off, blocked the bot, account gone) — the scheduler moves these on every
        tick (:meth:`move_from_unreachable`). Cases where nobody above can be reached either are left alone
        (their ``skipped_unreachable`` fallback event is the last one), so a tick does not retry them forever."""
        if not self.router.skip_unreachable:
            return []
        fell_back = select(CaseEvent.id).where(
            CaseEvent.case_id == Case.id, CaseEvent.kind == "unreachable_stays", CaseEvent.at >= Case.updated_at)
        with self.db.session() as s:
            return list(s.scalars(
                select(Case.id)
                .join(Person, Person.id == Case.owner_id)
                .where(Case.state == CaseState.assigned, unreachable_clause(), ~fell_back.exists())
                .order_by(Case.id)
                .limit(limit)
            ))

    def move_from_unreachable(self, case_id: int) -> str | None:
        """Hand an ``assigned`` case whose owner became unreachable to the next reachable level at once
        (an automatic escalation with reason ``owner_unreachable``); the timeline says who was skipped and why,
        the admins hear once per person. Returns "escalated", or None (nothing to do / nobody reachable)."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            owner = case.owner
            if _v(case.state) != "assigned" or owner is None or unreachable_why(owner) is None:
                return None
            skipped: list[Skipped] = [Skipped(owner.id, owner.name, owner.role.value, unreachable_why(owner) or "")]
            target = self.router.escalation_target(s, case, skipped)
            if target is None or unreachable_why(target) is not None:
                # nobody reachable above either: the case stays (its deadlines still escalate it), the admins
                # are told about the owner, and the tick does not look at it again until it changes
                self._event(s, case, now, "unreachable_stays", data={"owner_name": owner.name,
                                                                      "why": unreachable_why(owner)})
                tell_unreachable(s, owner, case, now, owner=owner, fallback=True)
                return None
            self._escalate(s, case, target, now, actor=None, reason="owner_unreachable")
            self._note_skipped(s, case, skipped, now)
            case.updated_at = now
            return "escalated"

    def _auto_close(self, s: Session, case: Case, now: datetime) -> None:
        case.closed_at = now
        case.close_reason = "auto"
        case.autoclose_at = None
        case.next_reminder_at = None
        case.updated_at = now
        event = self._transition(s, case, "auto_close", now, actor=None, data={"how": "quiet_period"})
        notify(s, now=now, kind=Kind.case_closed, recipients=[case.reporter_id, case.owner_id], case=case,
               event=event, payload={"auto": True})

    def routing_stalled(self, older_than: timedelta = timedelta(minutes=2)) -> list[int]:
        """Text cases stored but never triaged/routed (the process died between the two transactions) and
        with no recorded routing failure — the scheduler retries these. A photo or place sent without words
        (``text`` is None) is not stalled while it waits for the answer to "what happened?": only after
        :attr:`media_wait` is it routed without words, for a person to look at."""
        now = self.clock.now()
        cutoff = now - older_than
        media_cutoff = now - max(self.media_wait, older_than)
        failed = select(CaseEvent.id).where(
            CaseEvent.case_id == Case.id, CaseEvent.kind.in_(("routing_failed", "triaged"))
        )
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Case.id)
                    .where(
                        Case.state == CaseState.reported,
                        Case.transcript_status.is_(None),
                        or_(and_(Case.text.is_not(None), Case.created_at <= cutoff),
                            and_(Case.text.is_(None), Case.created_at <= media_cutoff)),
                        ~failed.exists(),
                    )
                    .order_by(Case.id)
                    .limit(100)
                )
            )

    def retry_routing(self, case_id: int) -> None:
        self._triage_and_route(case_id)

    def report_processing_failure(self, case_id: int, error: str, due_at: datetime | None) -> None:
        """Tell the admins (once per case and due instant) that the scheduler keeps failing on a case."""
        now = self.clock.now()
        with self.db.session() as s:
            case = s.get(Case, case_id)
            anchor = int(due_at.timestamp()) if due_at else 0
            for admin in active_admins(s):
                enqueue(s, recipient_id=admin.id, kind=Kind.processing_failed.value,
                        case_id=case.id if case else None,
                        payload={"case_id": case_id, "error": error[:500], "due_at": iso(due_at)},
                        dedupe_key=f"processing_failed:{case_id}:{admin.id}:{anchor}", now=now)
