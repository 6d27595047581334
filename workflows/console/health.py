"""Health and metrics figures for operators, read from the database (so every replica reports the same
numbers, and a restart does not reset them): ``/healthz`` and ``/metrics`` in the console format these.

- database reachable; the scheduler lease (holder, last renewal, whether it is live);
- the outbox: backlog, oldest pending notification, failed ones; delivery latency (queued → sent);
- transcription: the queue of voice cases waiting for a transcript, and time from report to transcript;
- cases by state and urgency, overdue now; scheduler lag (the oldest due item not yet processed).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text

from storage.db import Database
from storage.models import Case, CaseEvent, CaseState, Notification, NotificationStatus, SchedulerLease
from workflows.console.wall import overdue_clause
from workflows.ports import Clock
from workflows.scheduler import LEASE_NAME

RECENT = timedelta(hours=1)  # window of the latency quantiles
QUANTILES = (0.5, 0.9, 0.99)


def _quantiles(values: list[float]) -> dict[float, float]:
    if not values:
        return {}
    if len(values) == 1:
        return {q: values[0] for q in QUANTILES}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {q: cuts[int(q * 100) - 1] for q in QUANTILES}


@dataclass(frozen=True)
class Health:
    ok: bool
    checks: dict[str, Any]


@dataclass
class Metrics:
    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, urgency) -> count
    overdue: int = 0
    notifications: dict[str, int] = field(default_factory=dict)  # status -> count
    oldest_pending_seconds: float = 0.0
    delivery_sum: float = 0.0
    delivery_count: int = 0
    delivery_recent: dict[float, float] = field(default_factory=dict)
    transcription_queue: int = 0
    transcription_recent: dict[float, float] = field(default_factory=dict)
    transcription_recent_count: int = 0
    scheduler_lag_seconds: float = 0.0
    lease_age_seconds: float | None = None
    lease_live: bool = False


class HealthService:
    def __init__(self, db: Database, clock: Clock, *, lease_seconds: float = 120.0) -> None:
        self.db, self.clock, self.lease_seconds = db, clock, lease_seconds

    def _lease(self, s: Any, now: datetime) -> dict[str, Any]:
        row = s.get(SchedulerLease, LEASE_NAME)
        if row is None:
            return {"ok": False, "holder": None, "renewed_seconds_ago": None, "detail": "no scheduler has run yet"}
        renewed = row.expires_at - timedelta(seconds=self.lease_seconds)
        live = row.expires_at > now
        return {"ok": live, "holder": row.holder, "renewed_seconds_ago": round((now - renewed).total_seconds(), 1),
                "expires_in_seconds": round((row.expires_at - now).total_seconds(), 1),
                **({} if live else {"detail": "the lease expired: no scheduler is running"})}

    def health(self) -> Health:
        now = self.clock.now()
        checks: dict[str, Any] = {}
        try:
            with self.db.session() as s:
                s.execute(text("SELECT 1"))
                checks["database"] = {"ok": True, "dialect": self.db.engine.dialect.name}
                checks["scheduler"] = self._lease(s, now)
                pending, oldest = s.execute(
                    select(func.count(Notification.id), func.min(Notification.created_at))
                    .where(Notification.status.in_([NotificationStatus.pending, NotificationStatus.sending]))
                ).one()
                failed = s.scalar(select(func.count(Notification.id))
                                  .where(Notification.status == NotificationStatus.failed)) or 0
                checks["outbox"] = {"ok": True, "pending": pending or 0, "failed": failed,
                                    "oldest_pending_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0}
                queued, first = s.execute(select(func.count(Case.id), func.min(Case.created_at))
                                          .where(Case.transcript_status == "pending")).one()
                checks["transcription"] = {"ok": True, "pending": queued or 0,
                                           "oldest_pending_seconds": round((now - first).total_seconds(), 1) if first else 0}
        except Exception as exc:  # the database is down: say so, never a 500 with a traceback
            checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        # only the database decides "up": a standing-by scheduler or a backlog is reported, not fatal
        return Health(ok=bool(checks.get("database", {}).get("ok")), checks=checks)

    def metrics(self) -> Metrics:
        now = self.clock.now()
        m = Metrics()
        with self.db.session() as s:
            for state, urgency, n in s.execute(
                select(Case.state, Case.urgency, func.count(Case.id)).group_by(Case.state, Case.urgency)
            ):
                m.cases[(getattr(state, "value", state), getattr(urgency, "value", urgency))] = n
            m.overdue = s.scalar(select(func.count(Case.id)).where(overdue_clause(now))) or 0
            for status, n in s.execute(select(Notification.status, func.count(Notification.id))
                                       .group_by(Notification.status)):
                m.notifications[getattr(status, "value", status)] = n
            oldest = s.scalar(select(func.min(Notification.created_at))
                              .where(Notification.status == NotificationStatus.pending))
            m.oldest_pending_seconds = (now - oldest).total_seconds() if oldest else 0.0
            sent = [(a, b) for a, b in s.execute(select(Notification.created_at, Notification.sent_at)
                                                 .where(Notification.sent_at >= now - RECENT))]
            m.delivery_recent = _quantiles([(b - a).total_seconds() for a, b in sent])
            m.delivery_count = len(sent)  # sum and count over the same recent window as the quantiles
            m.delivery_sum = float(sum((b - a).total_seconds() for a, b in sent))
            m.transcription_queue = s.scalar(select(func.count(Case.id)).where(Case.transcript_status == "pending")) or 0
            done = s.execute(select(Case.created_at, CaseEvent.at).join(CaseEvent, CaseEvent.case_id == Case.id)
                             .where(CaseEvent.kind == "transcript", CaseEvent.at >= now - RECENT)).all()
            m.transcription_recent = _quantiles([(b - a).total_seconds() for a, b in done])
            m.transcription_recent_count = len(done)
            due = s.scalar(select(func.min(Case.next_reminder_at)).where(
                or_(and_(Case.next_reminder_at <= now, Case.state.in_([CaseState.assigned, CaseState.accepted])))))
            m.scheduler_lag_seconds = max(0.0, (now - due).total_seconds()) if due else 0.0
            lease = self._lease(s, now)
            m.lease_age_seconds = lease.get("renewed_seconds_ago")
            m.lease_live = bool(lease.get("ok"))
        return m
