"""Outbox delivery: success, retries with backoff and retry_after, permanent failure and the admin notice,
recipients without a chat, crash recovery, and never delivering a row twice (two dispatchers at once)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from storage.models import Notification, NotificationStatus, Person
from workflows.outbox import (
    BLOCKED_PREFIX,
    NO_CHAT_ERROR,
    PROGRESS_KEY,
    OutboxDispatcher,
    OutboxItem,
    enqueue,
    release_waiting_for_user,
)
from workflows.ports import DeliveryError


class FakePort:
    """Fails the first ``fail`` deliveries of every notification with the given error, then succeeds."""

    def __init__(self, fail: int = 0, error: Exception | None = None) -> None:
        self.fail = fail
        self.error = error or DeliveryError("telegram 502")
        self.attempts: Counter[int] = Counter()
        self.delivered: list[OutboxItem] = []
        self.lock = threading.Lock()

    async def deliver(self, item: OutboxItem) -> str | None:
        await asyncio.sleep(0)
        with self.lock:
            self.attempts[item.id] += 1
            if self.attempts[item.id] <= self.fail:
                raise self.error
            self.delivered.append(item)
        return f"{item.chat_id}:{item.id}"


def bind_chats(world, *, except_codes: tuple[str, ...] = ()) -> None:
    with world.db.session() as s:
        for p in s.scalars(select(Person)):
            if p.code not in except_codes:
                p.telegram_chat_id = 10_000 + p.id


def rows(world) -> list[Notification]:
    with world.db.session() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def one_note(world, recipient="P110") -> int:
    with world.db.session() as s:
        enqueue(s, recipient_id=world.id(recipient), kind="reminder", case_id=None, payload={"case_id": None},
                dedupe_key=f"test:{recipient}", now=world.clock.now())
    return rows(world)[-1].id


async def test_delivers_pending_notifications_once_with_a_snapshot(world):
    bind_chats(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    port = FakePort()
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    assert await dispatcher.run_once() == 2
    assert await dispatcher.run_once() == 0
    by_kind = {i.kind: i for i in port.delivered}
    assigned = by_kind["case_assigned"]
    assert assigned.recipient_id == world.id("P110") and assigned.case_id == case.id
    assert assigned.chat_id == 10_000 + world.id("P110") and assigned.language == "zh"
    assert assigned.payload["text"] == "路灯坏了" and assigned.attempts == 1
    for n in rows(world):
        assert n.status == NotificationStatus.sent and n.sent_at == world.clock.now()
        assert n.external_ref == f"{10_000 + n.recipient_id}:{n.id}"


async def test_transient_failures_back_off_exponentially_then_succeed(world):
    bind_chats(world)
    nid = one_note(world)
    port = FakePort(fail=2)
    dispatcher = OutboxDispatcher(world.db, world.clock, port, backoff_base=timedelta(seconds=5))
    assert await dispatcher.run_once() == 0
    n = rows(world)[0]
    assert (n.status, n.attempts, n.last_error) == (NotificationStatus.pending, 1, "telegram 502")
    assert n.next_attempt_at == world.clock.now() + timedelta(seconds=5)
    world.clock.advance(seconds=4)
    assert await dispatcher.run_once() == 0 and port.attempts[nid] == 1  # not due yet
    world.clock.advance(seconds=1)
    assert await dispatcher.run_once() == 0
    assert rows(world)[0].next_attempt_at == world.clock.now() + timedelta(seconds=10)
    world.clock.advance(seconds=10)
    assert await dispatcher.run_once() == 1
    assert rows(world)[0].status == NotificationStatus.sent and port.attempts[nid] == 3


async def test_retry_after_from_the_transport_is_honoured(world):
    bind_chats(world)
    one_note(world)
    port = FakePort(fail=1, error=DeliveryError("429 Too Many Requests", retry_after=42))
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    await dispatcher.run_once()
    assert rows(world)[0].next_attempt_at == world.clock.now() + timedelta(seconds=42)


async def test_backoff_is_capped():
    dispatcher = OutboxDispatcher(None, None, FakePort(), backoff_base=timedelta(seconds=5),  # type: ignore[arg-type]
                                  backoff_max=timedelta(hours=1))
    assert [dispatcher.backoff(a).total_seconds() for a in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert dispatcher.backoff(20) == timedelta(hours=1)


async def test_permanent_failure_marks_failed_and_tells_admins_but_never_loops(world):
    bind_chats(world)
    nid = one_note(world)
    port = FakePort(fail=99, error=DeliveryError("Forbidden: bot was blocked by the user", permanent=True))
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    await dispatcher.run_once()
    failed, notice = rows(world)
    assert failed.id == nid and failed.status == NotificationStatus.failed and failed.attempts == 1
    assert notice.kind == "delivery_failed" and notice.recipient_id == world.id("P001")
    assert notice.payload["notification_id"] == nid and notice.payload["failed_kind"] == "reminder"
    assert notice.payload["recipient"] == {"id": world.id("P110"), "name": "王建国"} and notice.payload["permanent"]
    await dispatcher.run_once()  # the delivery_failed notice fails permanently too ...
    assert [n.status for n in rows(world)] == [NotificationStatus.failed] * 2
    assert len(rows(world)) == 2  # ... and no notice about the notice


async def test_gives_up_after_max_attempts(world):
    bind_chats(world, except_codes=("P001",))  # the admin has no chat: the notice waits, it is not lost
    one_note(world)
    port = FakePort(fail=99)
    dispatcher = OutboxDispatcher(world.db, world.clock, port, max_attempts=3)
    for _ in range(3):
        await dispatcher.run_once()
        world.clock.advance(hours=1)
    first, notice = rows(world)
    assert first.status == NotificationStatus.failed and first.attempts == 3
    assert notice.kind == "delivery_failed" and notice.payload["attempts"] == 3 and not notice.payload["permanent"]


async def test_unexpected_port_errors_are_retried_not_fatal(world):
    bind_chats(world)
    one_note(world)
    port = FakePort(fail=1, error=KeyError("renderer bug"))
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    await dispatcher.run_once()
    assert rows(world)[0].status == NotificationStatus.pending and "KeyError" in rows(world)[0].last_error
    world.clock.advance(seconds=5)
    assert await dispatcher.run_once() == 1


async def test_recipient_without_chat_waits_without_spending_attempts_and_goes_out_on_redeem(world):
    one_note(world, "P110")
    port = FakePort()
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    assert await dispatcher.run_once() == 0
    n = rows(world)[0]
    assert port.attempts == Counter() and n.status == NotificationStatus.pending
    assert (n.attempts, n.last_error) == (0, NO_CHAT_ERROR)
    assert n.next_attempt_at == world.clock.now() + timedelta(hours=6)
    code = world.people.create_invite("P110")
    world.clock.advance(minutes=5)
    world.people.redeem_invite(code, telegram_user_id=777, chat_id=888)
    assert await dispatcher.run_once() == 1
    assert port.delivered[0].chat_id == 888


async def test_recipient_who_never_links_a_chat_is_reported_after_the_give_up_period(world):
    bind_chats(world, except_codes=("P110",))
    one_note(world, "P110")
    dispatcher = OutboxDispatcher(world.db, world.clock, FakePort())
    for _ in range(13):  # 3 days in 6-hour steps
        await dispatcher.run_once()
        world.clock.advance(hours=6)
    await dispatcher.run_once()
    first, notice = rows(world)[:2]
    assert first.status == NotificationStatus.failed and first.last_error == NO_CHAT_ERROR
    assert notice.kind == "delivery_failed" and notice.recipient_id == world.id("P001")


async def test_rows_left_sending_by_a_crash_are_recovered_and_delivered_once(world):
    bind_chats(world)
    world.cases.file_report(world.id("P1111"), text="路灯坏了")
    crashed = OutboxDispatcher(world.db, world.clock, FakePort())
    claimed = crashed.claim(50)  # claimed, then the process died before delivering
    assert len(claimed) == 2 and all(n.status == NotificationStatus.sending for n in rows(world))
    port = FakePort()
    fresh = OutboxDispatcher(world.db, world.clock, port)
    assert await fresh.run_once() == 0  # 'sending' rows are not due
    assert fresh.recover() == 2
    assert await fresh.run_once() == 2
    assert await fresh.run_once() == 0
    assert sorted(port.attempts.values()) == [1, 1]


def test_two_dispatchers_at_once_deliver_each_row_exactly_once(world):
    bind_chats(world)
    with world.db.session() as s:
        for i in range(60):
            enqueue(s, recipient_id=world.id("P110"), kind="reminder", case_id=None, payload={"i": i},
                    dedupe_key=f"load:{i}", now=world.clock.now())
    port = FakePort()
    start = threading.Barrier(2)

    def run() -> None:
        # one recipient: lift the per-recipient share of a batch and the chat pacing (test_burst.py covers
        # those); this test is about two dispatchers never taking the same row
        dispatcher = OutboxDispatcher(world.db, world.clock, port, per_recipient=7, per_chat_interval=0)
        start.wait(timeout=10)
        for _ in range(10):
            asyncio.run(dispatcher.run_once(limit=7))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(port.delivered) == 60
    assert set(port.attempts.values()) == {1}
    assert all(n.status == NotificationStatus.sent for n in rows(world))


def test_enqueue_skips_a_repeated_dedupe_key(world):
    with world.db.session() as s:
        assert enqueue(s, recipient_id=world.id("P110"), kind="reminder", case_id=None, payload={},
                       dedupe_key="k", now=world.clock.now())
        assert not enqueue(s, recipient_id=world.id("P110"), kind="reminder", case_id=None, payload={},
                           dedupe_key="k", now=world.clock.now())
    with world.db.session() as s:
        assert not enqueue(s, recipient_id=world.id("P110"), kind="reminder", case_id=None, payload={},
                           dedupe_key="k", now=world.clock.now())
        s.execute(update(Notification).values(status=NotificationStatus.sent))
    assert len(rows(world)) == 1


class BlockedPort(FakePort):
    """The recipient blocked the bot until ``unblocked`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.unblocked = False

    async def deliver(self, item: OutboxItem) -> str | None:
        if not self.unblocked:
            with self.lock:
                self.attempts[item.id] += 1
            raise DeliveryError("blocked: Forbidden: bot was blocked by the user", waiting_for_user=True)
        return await super().deliver(item)


async def test_blocked_recipient_waits_admins_told_once_and_released_when_they_write(world):
    bind_chats(world)
    first = one_note(world, "P110")
    with world.db.session() as s:
        enqueue(s, recipient_id=world.id("P110"), kind="reminder", case_id=None, payload={"case_id": None},
                dedupe_key="test:P110:2", now=world.clock.now())
    second = rows(world)[-1].id
    port = BlockedPort()
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    assert await dispatcher.run_once() == 0
    by_id = {n.id: n for n in rows(world)}
    for nid in (first, second):
        n = by_id[nid]
        assert n.status == NotificationStatus.pending and n.attempts == 0
        assert n.last_error.startswith(BLOCKED_PREFIX) and n.next_attempt_at == world.clock.now() + timedelta(hours=6)
    notices = [n for n in rows(world) if n.kind == "delivery_failed"]
    assert len(notices) == 1 and notices[0].recipient_id == world.id("P001")  # once, not per notification
    assert notices[0].payload["blocked"] and not notices[0].payload["permanent"]

    world.clock.advance(hours=6)
    port.delivered.clear()
    await dispatcher.run_once()  # still blocked: no second notice
    assert len([n for n in rows(world) if n.kind == "delivery_failed"]) == 1

    world.clock.advance(minutes=10)
    with world.db.session() as s:
        assert release_waiting_for_user(s, 4242, world.clock.now()) == 0  # nobody with that account yet
        s.execute(update(Person).where(Person.id == world.id("P110")).values(telegram_user_id=4242))
    with world.db.session() as s:
        assert release_waiting_for_user(s, 4242, world.clock.now()) == 2
    port.unblocked = True
    assert await dispatcher.run_once() == 2
    assert {i.id for i in port.delivered} == {first, second}


async def test_blocked_recipient_is_reported_as_failed_after_three_days(world):
    bind_chats(world)
    nid = one_note(world, "P110")
    port = BlockedPort()
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    for _ in range(13):  # 3 days in 6-hour steps
        await dispatcher.run_once()
        world.clock.advance(hours=6)
    await dispatcher.run_once()
    n = next(r for r in rows(world) if r.id == nid)
    assert n.status == NotificationStatus.failed and port.attempts[nid] == 13
    notices = [r for r in rows(world) if r.kind == "delivery_failed"]
    assert [bool(r.payload.get("blocked")) for r in notices] == [True, False]  # at the first block, at the end
    assert notices[1].payload["permanent"]


class HalfwayPort(FakePort):
    """Sends ``parts`` parts; the first attempt fails after part 1, reporting its progress."""

    def __init__(self, parts: int = 3) -> None:
        super().__init__()
        self.parts = parts
        self.sent: list[tuple[int, int]] = []
        self.failed_once = False

    async def deliver(self, item: OutboxItem) -> str | None:
        done = int((item.payload.get(PROGRESS_KEY) or {}).get("done", 0))
        for part in range(done, self.parts):
            if part == 1 and not self.failed_once:
                self.failed_once = True
                raise DeliveryError("telegram 502", progress={"done": part})
            self.sent.append((item.id, part))
        return f"{item.chat_id}:{item.id}"


async def test_a_half_done_multi_part_delivery_resumes_where_it_stopped(world):
    bind_chats(world)
    nid = one_note(world)
    port = HalfwayPort(parts=3)
    dispatcher = OutboxDispatcher(world.db, world.clock, port)
    assert await dispatcher.run_once() == 0
    n = rows(world)[0]
    assert n.status == NotificationStatus.pending and n.payload[PROGRESS_KEY] == {"done": 1}
    world.clock.advance(seconds=5)
    assert await dispatcher.run_once() == 1
    assert port.sent == [(nid, 0), (nid, 1), (nid, 2)]  # every part exactly once
