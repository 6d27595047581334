"""Work the scheduler drives: reminders and automatic escalation when deadlines pass, automatic closing after
the quiet period, retrying text cases whose routing never ran, and telling admins when a case keeps failing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Case, CaseEvent, CaseState
from workflows import lifecycle
from workflows.cases.plumbing import _v
from workflows.cases.reporting import CaseReporting
from workflows.notifications import Kind, iso, notify
from workflows.outbox import enqueue
from workflows.policy import next_wakeup
from workflows.routing import active_admins


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
                target = self.router.escalation_target(s, case)
                if target is not None:
                    self._escalate(s, case, target, now, actor=None, reason=f"{missed}_overdue")
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
        with no recorded routing failure — the scheduler retries these."""
        cutoff = self.clock.now() - older_than
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
                        Case.created_at <= cutoff,
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
