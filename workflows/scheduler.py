"""Due work (reminders, escalations, auto-close) and the single scheduler that runs it.

Why fire-once works: each case's next due instant lives on the case row (``next_reminder_at`` = next wake-up,
``autoclose_at``); :meth:`CaseService.process_due` handles one case in one transaction that also moves that
instant forward. A crash before commit rolls both back, so the next run fires it — once. A commit means it is
done and the instant has moved, so it cannot fire again.

Catch-up after downtime (decided): one step per case per run, measured from *now* — an overdue case escalates
once and gets fresh deadlines from now (it does not jump straight to the top for time nobody could act in);
reminders that fell due while we were down coalesce into one.

Why a lease: two bot processes against one database (a restart overlapping the old process, or a mistaken second
deployment) must not both send reminders. The ``SchedulerLease`` row names one holder until ``expires_at``; the
holder renews it every few seconds; others stand by and take over when it expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Case, CaseState, SchedulerLease
from workflows.cases import CaseService
from workflows.errors import ConcurrentUpdate
from workflows.outbox import OutboxDispatcher
from workflows.ports import Clock

log = logging.getLogger(__name__)

LEASE_NAME = "case_scheduler"


@dataclass
class DueSummary:
    reminders: int = 0
    overdue_reminders: int = 0
    escalations: int = 0
    auto_closed: int = 0
    rerouted: int = 0
    skipped: int = 0  # someone acted on the case meanwhile; the next run re-evaluates it
    errors: list[tuple[int, str]] = field(default_factory=list)
    # what the other due sources did (tasks, visits): outcome -> count, e.g. {"task_reminder": 3}
    other: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return (self.reminders + self.overdue_reminders + self.escalations + self.auto_closed + self.rerouted
                + sum(self.other.values()))


class DueSource(Protocol):
    """Something else with rows that fall due (tasks, visits): the same fire-once contract as cases — one
    transaction per row that also moves its due instant."""

    def due_ids(self, now: datetime, limit: int = 200) -> list[int]: ...

    def process_due(self, row_id: int) -> str | None: ...


class DueWork:
    """Finds due cases (and the rows of the other ``sources``: tasks, visits) with indexed queries and processes
    each in its own transaction. ``hourly`` callables (festival visit generation) run at most once an hour."""

    def __init__(self, db: Database, clock: Clock, service: CaseService, *, batch: int = 200,
                 sources: Sequence[DueSource] = (), hourly: Sequence[Callable[[datetime], object]] = ()) -> None:
        self.db = db
        self.clock = clock
        self.service = service
        self.batch = batch
        self.sources = list(sources)
        self.hourly = list(hourly)
        self._hourly_at: datetime | None = None

    def due_case_ids(self, now: datetime) -> list[int]:
        """Ids of cases with something due, at most ``batch``. Two queries, each on its own index
        (``next_reminder_at``, ``autoclose_at``), merged here: one query with ``OR`` made SQLite scan the
        whole table (335–500 ms per idle tick at 100k cases; issue 11), and an idle tick runs every 30 s."""
        with self.db.session() as s:
            reminders = s.scalars(
                select(Case.id)
                .where(Case.next_reminder_at <= now, Case.state.in_([CaseState.assigned, CaseState.accepted]))
                .order_by(Case.next_reminder_at, Case.id)
                .limit(self.batch)
            ).all()
            closing = s.scalars(
                select(Case.id)
                .where(Case.autoclose_at <= now, Case.state == CaseState.resolved)
                .order_by(Case.autoclose_at, Case.id)
                .limit(self.batch)
            ).all()
        return list(dict.fromkeys([*reminders, *closing]))[: self.batch]  # most overdue first

    def _all_due(self, now: datetime) -> Iterator[int]:
        """Every case due at ``now``, batch after batch (a snowstorm makes 1,000 due at once; a cap of one
        batch per tick spread them over minutes). A case still due after its turn (it failed, or someone else
        holds it) is not taken again in this run, so the loop always ends."""
        seen: set[int] = set()
        while True:
            fresh = [i for i in self.due_case_ids(now) if i not in seen]
            if not fresh:
                return
            seen.update(fresh)
            yield from fresh

    def run_once(self) -> DueSummary:
        summary = DueSummary()
        now = self.clock.now()
        for case_id in self.service.routing_stalled():
            self.service.retry_routing(case_id)
            summary.rerouted += 1
        for case_id in self.service.waiting_on_unreachable():
            # an owner who became unreachable (blocked the bot, account gone, switched off) is passed over
            # now, not at the accept deadline
            try:
                if self.service.move_from_unreachable(case_id) == "escalated":
                    summary.escalations += 1
            except ConcurrentUpdate:
                summary.skipped += 1
            except Exception:  # noqa: BLE001 - one bad case must not stop the others
                log.exception("moving case %s from an unreachable owner failed", case_id)
        for case_id in self._all_due(now):
            try:
                outcome = self.service.process_due(case_id)
            except ConcurrentUpdate:
                summary.skipped += 1
                continue
            except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
                log.exception("due work on case %s failed", case_id)
                summary.errors.append((case_id, f"{type(exc).__name__}: {exc}"))
                self._tell_admins(case_id, exc)
                continue
            if outcome == "reminder":
                summary.reminders += 1
            elif outcome == "overdue_reminder":
                summary.overdue_reminders += 1
            elif outcome == "escalated":
                summary.escalations += 1
            elif outcome == "auto_closed":
                summary.auto_closed += 1
            else:
                summary.skipped += 1
        self._run_sources(now, summary)
        if summary.total or summary.errors:
            log.info("due work: %s", summary)
        return summary

    def _run_sources(self, now: datetime, summary: DueSummary) -> None:
        if self.hourly and (self._hourly_at is None or now - self._hourly_at >= timedelta(hours=1)
                            or now < self._hourly_at):
            self._hourly_at = now
            for job in self.hourly:
                try:
                    job(now)
                except Exception:  # noqa: BLE001 - the next hour tries again; cases must go on
                    log.exception("hourly due job %r failed", job)
        for source in self.sources:
            name = type(source).__name__
            try:
                ids = source.due_ids(now, self.batch)
            except Exception:  # noqa: BLE001
                log.exception("%s: finding due rows failed", name)
                continue
            for row_id in ids:
                try:
                    outcome = source.process_due(row_id)
                except ConcurrentUpdate:
                    summary.skipped += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    log.exception("%s: due work on %s failed", name, row_id)
                    summary.errors.append((row_id, f"{name}: {type(exc).__name__}: {exc}"))
                    continue
                if outcome:
                    summary.other[outcome] += 1
                else:
                    summary.skipped += 1

    def _tell_admins(self, case_id: int, exc: Exception) -> None:
        try:
            with self.db.session() as s:
                due = s.scalar(select(Case.next_reminder_at).where(Case.id == case_id))
            self.service.report_processing_failure(case_id, f"{type(exc).__name__}: {exc}", due)
        except Exception:  # pragma: no cover - the database is failing; the log above is what we have
            log.exception("could not report the failure on case %s", case_id)


def default_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SchedulerLeaseGuard:
    """Acquire / renew / release the single-scheduler lease (synchronous; called via ``asyncio.to_thread``)."""

    def __init__(self, db: Database, clock: Clock, holder_id: str, lease: timedelta, name: str = LEASE_NAME) -> None:
        self.db = db
        self.clock = clock
        self.holder_id = holder_id
        self.lease = lease
        self.name = name

    def try_acquire(self) -> bool:
        """Take or renew the lease atomically: ``UPDATE ... WHERE expires_at < now OR holder = me``, or insert
        the row if there is none. True when we hold it afterwards."""
        now = self.clock.now()
        with self.db.session() as s:
            res = s.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.expires_at < now, SchedulerLease.holder == self.holder_id),
                )
                .values(holder=self.holder_id, expires_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount == 1:
                return True
            if s.get(SchedulerLease, self.name) is not None:
                return False
        try:
            with self.db.session() as s:
                s.add(SchedulerLease(name=self.name, holder=self.holder_id, expires_at=now + self.lease))
            return True
        except IntegrityError:  # another instance inserted it first
            return False

    def current(self) -> tuple[str, datetime] | None:
        with self.db.session() as s:
            row = s.get(SchedulerLease, self.name)
            return (row.holder, row.expires_at) if row is not None else None

    def release(self) -> None:
        """Let a successor take over at once (clean shutdown)."""
        now = self.clock.now()
        with self.db.session() as s:
            s.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder_id)
                .values(expires_at=now - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )


class CaseScheduler:
    """APScheduler 3 ``AsyncIOScheduler`` with three interval jobs: lease renewal, due work and the outbox.
    Only the lease holder runs due work and the outbox; the others renew-or-stand-by. Without a dispatcher
    (Telegram is off: nothing can deliver) notifications stay queued in the outbox until a process with a
    delivery port runs."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        due_work: DueWork,
        dispatcher: OutboxDispatcher | None,
        tick_seconds: float = 30.0,
        lease_seconds: float = 120.0,
        holder_id: str | None = None,
        *,
        outbox_seconds: float = 2.0,
    ) -> None:
        self.clock = clock
        self.due_work = due_work
        self.dispatcher = dispatcher
        self.tick_seconds = tick_seconds
        self.outbox_seconds = outbox_seconds
        self.lease_seconds = lease_seconds
        self.holder_id = holder_id or default_holder_id()
        self.lease = SchedulerLeaseGuard(db, clock, self.holder_id, timedelta(seconds=lease_seconds))
        self.is_leader = False
        self._last_standby: tuple[str, datetime] | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._due_lock = asyncio.Lock()
        self._outbox_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.renew_lease()
        scheduler = AsyncIOScheduler(timezone="UTC")
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self.renew_lease, "interval", seconds=max(1.0, self.lease_seconds / 3), id="lease", **common)
        scheduler.add_job(self.due_tick, "interval", seconds=self.tick_seconds, id="due_work", **common)
        if self.dispatcher is not None:
            scheduler.add_job(self.outbox_tick, "interval", seconds=self.outbox_seconds, id="outbox", **common)
        scheduler.start()
        self._scheduler = scheduler
        log.info("case scheduler %s started (%s)", self.holder_id, "leader" if self.is_leader else "standing by")

    async def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if self.is_leader:
            await asyncio.to_thread(self.lease.release)
            self.is_leader = False
            log.info("case scheduler %s released the lease", self.holder_id)

    async def renew_lease(self) -> bool:
        """Acquire or renew; on becoming leader re-queue notifications a crashed predecessor left in flight."""
        try:
            held = await asyncio.to_thread(self.lease.try_acquire)
        except Exception:  # database hiccup: stop acting as leader until we can renew
            log.exception("could not renew the scheduler lease")
            held = False
        if held and not self.is_leader:
            self.is_leader = True
            self._last_standby = None
            log.info("scheduler %s holds the lease; running due work and the outbox", self.holder_id)
            if self.dispatcher is not None:
                async with self._outbox_lock:  # never re-queue rows our own outbox run is delivering right now
                    await asyncio.to_thread(self.dispatcher.recover)
        elif not held:
            if self.is_leader:
                log.warning("scheduler %s lost the lease; standing by", self.holder_id)
            self.is_leader = False
            current = await asyncio.to_thread(self.lease.current)
            if current is not None and current != self._last_standby:
                self._last_standby = current
                log.info(
                    "another scheduler (%s) holds the lease until %s; standing by", current[0], current[1].isoformat()
                )
        return self.is_leader

    async def due_tick(self) -> DueSummary | None:
        if not self.is_leader or self._due_lock.locked():
            return None
        async with self._due_lock:
            return await asyncio.to_thread(self.due_work.run_once)

    async def outbox_tick(self) -> int | None:
        if not self.is_leader or self._outbox_lock.locked() or self.dispatcher is None:
            return None
        async with self._outbox_lock:
            try:  # a burst drains at the rate limit in one tick, not 50 notifications per tick
                return await self.dispatcher.drain(budget_s=max(self.outbox_seconds, 20.0))
            except Exception:
                log.exception("outbox run failed")
                return None
