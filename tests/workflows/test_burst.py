"""A burst (a snowstorm: hundreds of reminders due at once): the scheduler takes every due case in one run, the
outbox drains batch after batch within Telegram's limits (bot-wide rate, per-chat rate with a short burst),
the most pressing notifications first, and nothing is sent twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict

from sqlalchemy import insert, select

from storage.models import Case, Notification, NotificationStatus, Person, Role
from workflows.outbox import (
    PRIORITY_ROUTINE,
    PRIORITY_URGENT,
    OutboxDispatcher,
    OutboxItem,
    enqueue,
    priority_of,
)
from workflows.scheduler import DueWork


class StampingPort:
    """Records when each notification was handed over (monotonic seconds) and to which chat."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, int, OutboxItem]] = []

    async def deliver(self, item: OutboxItem) -> str | None:
        await asyncio.sleep(0)
        self.sent.append((time.monotonic(), item.chat_id or 0, item))
        return str(item.id)


def _bind(world) -> list[int]:
    with world.db.session() as s:
        people = list(s.scalars(select(Person).order_by(Person.id)))
        for p in people:
            p.telegram_chat_id = 50_000 + p.id
        return [p.id for p in people]


def _queue(world, recipients: list[int], per_person: int, kind: str = "reminder", urgency: str = "general") -> None:
    now = world.clock.now()
    with world.db.session() as s:
        for r in recipients:
            for i in range(per_person):
                enqueue(s, recipient_id=r, kind=kind, case_id=None, now=now, dedupe_key=f"{kind}:{r}:{i}",
                        payload={"case_id": None, "urgency": urgency})


def test_priority_of_puts_urgent_first_and_routine_reminders_last() -> None:
    assert priority_of("urgent_alert", {}) == PRIORITY_URGENT
    assert priority_of("reminder", {"urgency": "urgent"}) == PRIORITY_URGENT
    assert priority_of("reminder", {"urgency": "general"}) == PRIORITY_ROUTINE
    assert PRIORITY_URGENT < priority_of("case_received", {}) < PRIORITY_ROUTINE


async def test_urgent_alerts_queued_after_a_backlog_of_reminders_go_out_first(world) -> None:
    people = _bind(world)
    _queue(world, people, 3)  # routine reminders, queued first
    _queue(world, people[:2], 1, kind="urgent_alert", urgency="urgent")
    port = StampingPort()
    dispatcher = OutboxDispatcher(world.db, world.clock, port, max_per_second=0, per_chat_interval=0)
    await dispatcher.run_once(limit=10)
    kinds = [item.kind for _, _, item in port.sent]
    assert kinds[:2] == ["urgent_alert", "urgent_alert"]


async def test_a_burst_drains_in_one_tick_within_the_rate_limits(world) -> None:
    """600 notifications to every person of the county: one drain sends them all, never faster than the
    bot-wide rate, never more than the burst then one per interval to a chat, each exactly once."""
    people = _bind(world)
    per_person = 600 // len(people) + 1
    _queue(world, people, per_person)
    total = per_person * len(people)
    port = StampingPort()
    rate, interval, burst = 400.0, 0.05, 3
    dispatcher = OutboxDispatcher(world.db, world.clock, port, max_per_second=rate, per_chat_interval=interval,
                                  chat_burst=burst, concurrency=16)
    sent = await dispatcher.drain(budget_s=300, limit=100)
    assert sent == total
    ids = [item.id for _, _, item in port.sent]
    assert len(ids) == len(set(ids)) == total
    with world.db.session() as s:
        assert set(s.scalars(select(Notification.status))) == {NotificationStatus.sent}
    times = sorted(t for t, _, _ in port.sent)
    # bot-wide: in any window of one second at most rate + the burst of rate tokens
    for i, t in enumerate(times):
        j = i
        while j < len(times) and times[j] - t < 1.0:
            j += 1
        assert j - i <= 2 * rate
    # per chat: after the first `burst`, at least one interval apart on average
    by_chat: dict[int, list[float]] = defaultdict(list)
    for t, chat, _ in port.sent:
        by_chat[chat].append(t)
    for stamps in by_chat.values():
        stamps.sort()
        if len(stamps) > burst:
            assert stamps[-1] - stamps[0] >= (len(stamps) - burst) * interval * 0.9


def test_the_scheduler_takes_every_due_case_in_one_run_not_one_batch(world) -> None:
    """1,000 reminders due at once: one run processes them all (the batch size only pages the query)."""
    world.cases.file_report(world.id("P1111"), text="路灯坏了")  # a real routed case for the policy copy
    with world.db.session() as s:
        template = s.scalars(select(Case)).one()
        owner = s.scalars(select(Person).where(Person.role == Role.grid_leader)).first()
        now = world.clock.now()
        rows = [
            {"reporter_id": template.reporter_id, "unit_id": template.unit_id, "owner_id": owner.id,
             "state": "assigned", "escalation_level": 0, "language": "zh", "text": f"报告 {i}",
             "transcript_attempts": 0, "urgency": "general", "category": "other", "needs_review": False,
             "policy": template.policy, "ack_due_at": now.replace(year=now.year + 1),
             "resolve_due_at": now.replace(year=now.year + 1), "next_reminder_at": now, "reminders_sent": 0,
             "created_at": now, "updated_at": now, "version": 1}
            for i in range(1000)
        ]
        s.execute(insert(Case), rows)
    due = DueWork(world.db, world.clock, world.cases, batch=200)
    summary = due.run_once()
    assert summary.reminders == 1000
    assert due.due_case_ids(world.clock.now()) == []
    with world.db.session() as s:
        reminders = Counter(s.scalars(select(Notification.kind).where(Notification.kind == "reminder")))
    assert reminders["reminder"] == 1000
