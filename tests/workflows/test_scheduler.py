"""The single-scheduler lease and the APScheduler wiring."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from storage.models import Notification, NotificationStatus, Person
from workflows.outbox import OutboxDispatcher
from workflows.scheduler import CaseScheduler, DueWork, SchedulerLeaseGuard

from .test_outbox import FakePort


def make(world, holder: str, port=None, **kw) -> CaseScheduler:
    return CaseScheduler(
        world.db,
        world.clock,
        DueWork(world.db, world.clock, world.cases),
        OutboxDispatcher(world.db, world.clock, port or FakePort()),
        holder_id=holder,
        lease_seconds=kw.pop("lease_seconds", 60),
        **kw,
    )


def test_lease_guard_insert_renew_standby_takeover(world):
    a = SchedulerLeaseGuard(world.db, world.clock, "A", timedelta(seconds=60))
    b = SchedulerLeaseGuard(world.db, world.clock, "B", timedelta(seconds=60))
    assert a.try_acquire() is True
    assert b.try_acquire() is False
    world.clock.advance(seconds=30)
    assert a.try_acquire() is True  # renewal pushes the expiry
    assert a.current() == ("A", world.clock.now() + timedelta(seconds=60))
    world.clock.advance(seconds=59)
    assert b.try_acquire() is False
    world.clock.advance(seconds=2)  # A stopped renewing: expired
    assert b.try_acquire() is True
    assert a.try_acquire() is False
    b.release()
    assert a.try_acquire() is True


async def test_second_scheduler_stands_by_then_takes_over_after_expiry(world, caplog):
    caplog.set_level(logging.INFO, logger="workflows.scheduler")
    a, b = make(world, "host-a"), make(world, "host-b")
    assert await a.renew_lease() is True
    assert await b.renew_lease() is False
    until = (world.clock.now() + timedelta(seconds=60)).isoformat()
    assert f"another scheduler (host-a) holds the lease until {until}; standing by" in caplog.text
    world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.clock.advance(hours=24)
    assert await a.renew_lease() is True  # A keeps renewing while alive
    assert await b.renew_lease() is False
    assert await b.due_tick() is None and await b.outbox_tick() is None  # stand-by does nothing
    summary = await a.due_tick()
    assert summary is not None and summary.escalations == 1
    # A dies without releasing; B keeps trying and takes over when the lease runs out
    world.clock.advance(seconds=30)
    assert await b.renew_lease() is False
    world.clock.advance(seconds=31)
    assert await b.renew_lease() is True
    assert await a.renew_lease() is False and not a.is_leader
    assert await b.outbox_tick() == 0  # nobody has a chat in this test; rows wait
    assert "scheduler host-b holds the lease" in caplog.text


async def test_takeover_requeues_notifications_left_in_flight(world):
    with world.db.session() as s:
        for p in s.scalars(select(Person)):
            p.telegram_chat_id = p.id
    world.cases.file_report(world.id("P1111"), text="路灯坏了")
    a = make(world, "host-a")
    await a.renew_lease()
    a.dispatcher.claim(50)  # A claimed the rows and crashed mid-delivery
    port = FakePort()
    b = make(world, "host-b", port=port)
    world.clock.advance(seconds=61)
    assert await b.renew_lease() is True  # becoming leader runs recover()
    assert await b.outbox_tick() == 2
    assert len(port.delivered) == 2


async def test_apscheduler_jobs_run_due_work_and_the_outbox_only_on_the_leader(world):
    with world.db.session() as s:
        for p in s.scalars(select(Person)):
            p.telegram_chat_id = p.id
    port_a, port_b = FakePort(), FakePort()
    a = make(world, "host-a", port=port_a, tick_seconds=0.05, outbox_seconds=0.05, lease_seconds=3)
    b = make(world, "host-b", port=port_b, tick_seconds=0.05, outbox_seconds=0.05, lease_seconds=3)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
        case = await asyncio.to_thread(world.cases.file_report, world.id("P1111"), text="路灯坏了")
        world.clock.advance(hours=24)  # ack deadline passes: the due-work job escalates, the outbox delivers
        for _ in range(100):
            await asyncio.sleep(0.05)
            with world.db.session() as s:
                pending = s.scalars(select(Notification).where(Notification.status != NotificationStatus.sent)).all()
                kinds = set(s.scalars(select(Notification.kind)))
            if "case_escalated" in kinds and not pending:
                break
        assert "case_escalated" in kinds and pending == []
        assert port_b.delivered == []
        assert {i.kind for i in port_a.delivered} >= {"case_assigned", "case_received", "case_escalated"}
        assert world.cases.get_case(case.id, world.id("P100")).owner.id == world.id("P100")
    finally:
        await a.shutdown()
    # a clean shutdown releases the lease: the stand-by takes over on its next renewal
    assert await b.renew_lease() is True
    await b.shutdown()
