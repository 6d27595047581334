"""Transactional outbox: notifications are rows written with the state change, delivered afterwards.

Why: a Telegram call inside a domain transaction would either block the transaction on the network or, worse,
send a message for a change that then rolls back. Here the change and its notifications commit together, and
:class:`OutboxDispatcher` delivers them at least once, with backoff, telling an admin when one finally fails.

Delivery guarantees:
- A row is *claimed* (``pending`` → ``sending``, ``attempts + 1``) by a conditional UPDATE in its own committed
  transaction before the network call, so two dispatchers can never both deliver it (PostgreSQL additionally
  uses ``FOR UPDATE SKIP LOCKED`` so they do not even contend).
- A crash between the claim and the result leaves the row in ``sending``; :meth:`OutboxDispatcher.recover`
  re-queues those at start-up. That one HTTP call is the only at-least-once window.
- A recipient with no Telegram chat bound yet is not an error to spin on: the row stays ``pending`` and is
  retried every ``no_chat_retry`` (attempts are not spent); redeeming an invite makes that person's rows due at
  once (see :func:`release_for_recipient`). After ``no_chat_give_up`` it is marked ``failed`` and admins told.
- A recipient who blocked the bot (``DeliveryError(waiting_for_user=True)``) is treated the same way: retried
  every ``blocked_retry`` without spending attempts, admins told once at the first block (a ``delivery_failed``
  with ``blocked`` and ``permanent: false``), released as soon as the person writes to the bot again
  (:func:`release_waiting_for_user`), failed and reported after ``blocked_give_up``.
- A multi-part delivery (a long card in pieces, a voice note then the full text) that fails half-way reports
  how far it got (``DeliveryError.progress``); the progress is kept in the payload under :data:`PROGRESS_KEY`
  and handed back to the port on the retry, so a part is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Notification, NotificationStatus, Person, Unit
from workflows.ports import Clock, DeliveryError, DeliveryPort
from workflows.routing import active_admins, unreachable_dedupe_key, unreachable_marker

log = logging.getLogger(__name__)

DELIVERY_FAILED = "delivery_failed"
NO_CHAT_ERROR = "no_telegram_chat: the recipient has not linked a Telegram chat yet"
#: ``last_error`` of a row waiting because the recipient blocked the bot (the port's message follows).
BLOCKED_PREFIX = "waiting_for_user: "
#: Payload key holding a half-done multi-part delivery's progress (see :class:`workflows.ports.DeliveryError`).
PROGRESS_KEY = "_delivery"


def enqueue(
    session: Session,
    *,
    recipient_id: int,
    kind: str,
    case_id: int | None,
    payload: dict[str, Any],
    dedupe_key: str | None,
    now: datetime,
    fresh: bool = False,
    priority: int | None = None,
) -> bool:
    """Add one notification to the caller's transaction. Returns False (and adds nothing) when a row with the
    same ``dedupe_key`` already exists — replaying a step never notifies twice. ``fresh``: the key is anchored
    on an event this transaction inserted, so no row can have it yet and the look-up is skipped (the unique
    constraint still guards). ``priority``: see :func:`priority_of` (computed from kind and payload if None)."""
    if dedupe_key is not None and not fresh:
        pending_same = any(
            isinstance(o, Notification) and o.dedupe_key == dedupe_key for o in session.new
        )
        if pending_same or session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)):
            return False
    session.add(
        Notification(
            recipient_id=recipient_id,
            case_id=case_id,
            kind=kind,
            payload=dict(payload),
            dedupe_key=dedupe_key,
            status=NotificationStatus.pending,
            attempts=0,
            priority=priority_of(kind, payload) if priority is None else priority,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


#: Claim order of the outbox (smaller first). In a burst (a snowstorm: hundreds of reminders fall due at once)
#: the dispatcher sends what saves lives first: urgent alerts and anything about an urgent case, then what a
#: person is waiting for right now (the reporter's receipt, a new case card, admin notices), then the rest,
#: routine reminders last.
PRIORITY_URGENT = 0
PRIORITY_NOW = 2
PRIORITY_NORMAL = 4
PRIORITY_ROUTINE = 6
_NOW_KINDS = frozenset({"case_received", "case_assigned", "transcript_ready", "routing_failed", "delivery_failed",
                        "processing_failed", "case_escalated"})
_ROUTINE_KINDS = frozenset({"reminder", "case_closed", "details_added"})


def priority_of(kind: str, payload: dict[str, Any] | None) -> int:
    """The claim priority of a notification of ``kind`` with ``payload`` (see the constants above)."""
    if kind == "urgent_alert" or (payload or {}).get("urgency") == "urgent":
        return PRIORITY_URGENT
    if kind in _NOW_KINDS:
        return PRIORITY_NOW
    if kind in _ROUTINE_KINDS:
        return PRIORITY_ROUTINE
    return PRIORITY_NORMAL


def release_for_recipient(session: Session, recipient_id: int, now: datetime) -> int:
    """Make a person's waiting notifications due now (called when they bind a Telegram chat)."""
    result = session.execute(
        update(Notification)
        .where(Notification.recipient_id == recipient_id, Notification.status == NotificationStatus.pending)
        .values(next_attempt_at=now)
    )
    return result.rowcount or 0


def mark_unreachable(session: Session, person_id: int, reason: str, now: datetime) -> None:
    """Telegram said a notice cannot reach this person (``blocked`` the bot, account or chat ``gone``): routing
    passes over them from now on (:func:`workflows.routing.unreachable_why`) and the scheduler moves the cases
    waiting on them. The first instant is kept: one spell, one notice to the admins."""
    person = session.get(Person, person_id)
    if person is None:
        return
    if person.unreachable_since is None or person.unreachable_reason != reason:
        person.unreachable_since = person.unreachable_since or now
        person.unreachable_reason = reason
        log.warning("person %s (%s) is unreachable on Telegram: %s", person.id, person.name, reason)


def release_waiting_for_user(session: Session, telegram_user_id: int, now: datetime) -> int:
    """The person behind ``telegram_user_id`` wrote to the bot (so they no longer block it): make their
    notifications that waited for that due now, and count them reachable again. Cheap enough to call on every
    incoming update (one indexed read; writes only when something waited)."""
    row = session.execute(
        select(Person.id, Person.unreachable_since).where(Person.telegram_user_id == telegram_user_id)
    ).first()
    if row is None:
        return 0
    person_id, since = row
    if since is not None:
        session.execute(update(Person).where(Person.id == person_id)
                        .values(unreachable_since=None, unreachable_reason=None)
                        .execution_options(synchronize_session=False))
    result = session.execute(
        update(Notification)
        .where(
            Notification.recipient_id == person_id,
            Notification.status == NotificationStatus.pending,
            Notification.last_error.like(BLOCKED_PREFIX + "%"),
            Notification.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class OutboxItem:
    """Detached snapshot handed to the delivery port (satisfies ``workflows.ports.OutboxMessage``)."""

    id: int
    recipient_id: int
    case_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    chat_id: int | None  # recipient's Telegram chat
    language: str  # recipient's UI language (person setting, else their unit's default)
    recipient_name: str


class TokenBuckets:
    """Token buckets by key (a chat, or the bot as a whole): ``capacity`` tokens, one more every
    ``interval`` seconds. ``wait`` says how long until a token is there; ``take`` spends one."""

    def __init__(self) -> None:
        self._state: dict[int, tuple[float, float]] = {}  # key -> (tokens, at)

    def _level(self, key: int, now: float, capacity: float, interval: float) -> float:
        tokens, at = self._state.get(key, (capacity, now))
        if interval <= 0:
            return capacity
        return min(capacity, tokens + (now - at) / interval)

    def wait(self, key: int, now: float, capacity: float, interval: float) -> float:
        level = self._level(key, now, capacity, interval)
        return 0.0 if level >= 1.0 else (1.0 - level) * interval

    def take(self, key: int, now: float, capacity: float, interval: float) -> None:
        self._state[key] = (self._level(key, now, capacity, interval) - 1.0, now)
        if len(self._state) > 10_000:  # forget full buckets (chats not written to for a while)
            self._state = {k: v for k, v in self._state.items() if self._level(k, now, capacity, interval) < capacity}


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        port: DeliveryPort,
        *,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=5),
        backoff_max: timedelta = timedelta(hours=1),
        no_chat_retry: timedelta = timedelta(hours=6),
        no_chat_give_up: timedelta = timedelta(days=3),
        blocked_retry: timedelta = timedelta(hours=6),
        blocked_give_up: timedelta = timedelta(days=3),
        concurrency: int = 16,
        max_per_second: float = 25.0,
        per_chat_interval: float = 1.0,
        chat_burst: int = 3,
        per_recipient: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.clock = clock
        self.port = port
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.no_chat_retry = no_chat_retry
        self.no_chat_give_up = no_chat_give_up
        self.blocked_retry = blocked_retry
        self.blocked_give_up = blocked_give_up
        self.concurrency = concurrency
        self.max_per_second = max_per_second
        self.per_chat_interval = per_chat_interval
        self.per_recipient = per_recipient
        self._monotonic = monotonic
        self._sleep = sleep
        self.chat_burst = chat_burst
        self._bot_capacity = max(1.0, min(5.0, max_per_second))
        self._chat_bucket = TokenBuckets()
        self._bot_bucket = TokenBuckets()
        self.claimed = 0  # rows claimed by this dispatcher so far (drain stops when a claim finds none)

    # -- public ---------------------------------------------------------------------------------------------

    async def run_once(self, limit: int = 50) -> int:
        """Claim up to ``limit`` due notifications (most pressing first) and deliver them; returns how many
        were sent. Different chats are served concurrently (``concurrency`` at once), the messages of one chat
        in order and at most one per ``per_chat_interval``; all sends together at most ``max_per_second``
        (Telegram: about 30 per second per bot, 1 per second per chat)."""
        items = await asyncio.to_thread(self.claim, limit)
        by_chat: dict[int, list[OutboxItem]] = {}
        for item in items:
            if item.chat_id is None:
                await asyncio.to_thread(self._no_chat, item)
                continue
            by_chat.setdefault(item.chat_id, []).append(item)
        if not by_chat:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def serve(chat_id: int, queue: list[OutboxItem]) -> int:
            async with gate:
                done = 0
                for item in queue:
                    await self._pace(chat_id)
                    done += await self._deliver(item)
                return done

        # chats in the order of their most pressing message: the semaphore lets the urgent ones start first
        results = await asyncio.gather(*(serve(chat, queue) for chat, queue in by_chat.items()))
        return sum(results)

    async def drain(self, *, budget_s: float = 25.0, limit: int = 50) -> int:
        """Deliver batch after batch until nothing is due or ``budget_s`` has passed (a burst drains at the
        rate limit instead of ``limit`` per tick); each batch is claimed afresh, by priority, so an urgent alert
        queued mid-burst goes out within one batch. Returns how many were sent."""
        started = self._monotonic()
        sent = 0
        while True:
            claimed_before = self.claimed
            sent += await self.run_once(limit)
            if self.claimed == claimed_before or self._monotonic() - started >= budget_s:
                return sent

    async def _pace(self, chat_id: int) -> None:
        """Wait until both this chat's bucket and the bot's bucket have a token. Token buckets: a chat may get
        ``chat_burst`` messages at once, then one per ``per_chat_interval``; the bot ``max_per_second`` with a
        burst of at most 5 (so no second ever sees more than ~30: Telegram's limits are ~30/s per bot, ~1/s per
        chat sustained, short bursts allowed)."""
        while True:
            now = self._monotonic()
            chat_wait = self._chat_bucket.wait(chat_id, now, self.chat_burst, self.per_chat_interval)
            bot_wait = self._bot_bucket.wait(0, now, self._bot_capacity,
                                             1.0 / self.max_per_second if self.max_per_second else 0.0)
            wait = max(chat_wait, bot_wait)
            if wait <= 0:
                self._chat_bucket.take(chat_id, now, self.chat_burst, self.per_chat_interval)
                self._bot_bucket.take(0, now, self._bot_capacity,
                                      1.0 / self.max_per_second if self.max_per_second else 0.0)
                return
            await self._sleep(wait)

    async def _deliver(self, item: OutboxItem) -> int:
        try:
            ref = await self.port.deliver(item)
        except DeliveryError as exc:
            await asyncio.to_thread(self._failed, item, str(exc), exc.permanent, exc.retry_after,
                                    progress=exc.progress, waiting_for_user=exc.waiting_for_user,
                                    recipient_gone=getattr(exc, "recipient_gone", False))
        except Exception as exc:  # a renderer bug must not stall the outbox; retried, then reported
            log.exception("delivering notification %s (%s) crashed", item.id, item.kind)
            await asyncio.to_thread(self._failed, item, f"{type(exc).__name__}: {exc}", False, None)
        else:
            await asyncio.to_thread(self._sent, item, ref)
            return 1
        return 0

    def recover(self) -> int:
        """Re-queue rows a crashed dispatcher left in ``sending`` (call at start-up, before the first run)."""
        now = self.clock.now()
        with self.db.session() as s:
            n = s.execute(
                update(Notification)
                .where(Notification.status == NotificationStatus.sending)
                .values(status=NotificationStatus.pending, next_attempt_at=now)
            ).rowcount or 0
        if n:
            log.warning("re-queued %d notification(s) left in 'sending' by an earlier crash", n)
        return n

    def claim(self, limit: int) -> list[OutboxItem]:
        """Claim due rows in one committed transaction; returns snapshots of the rows this dispatcher won."""
        now = self.clock.now()
        with self.db.session() as s:
            q = (
                select(Notification.id, Notification.recipient_id)
                .where(Notification.status == NotificationStatus.pending, Notification.next_attempt_at <= now)
                .order_by(Notification.priority, Notification.next_attempt_at, Notification.id)
                .limit(limit * 4)
            )
            if self.db.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            # at most ``per_recipient`` per person per batch: one official's 40 reminders must not hold a
            # batch for 40 seconds (1 message per second per chat) while other chats wait
            per: dict[int, int] = {}
            ids: list[int] = []
            for nid, rid in s.execute(q):
                if per.get(rid, 0) < self.per_recipient and len(ids) < limit:
                    per[rid] = per.get(rid, 0) + 1
                    ids.append(nid)
            won: list[int] = []
            for nid in ids:
                res = s.execute(
                    update(Notification)
                    .where(Notification.id == nid, Notification.status == NotificationStatus.pending)
                    .values(status=NotificationStatus.sending, attempts=Notification.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount == 1:
                    won.append(nid)
            if not won:
                return []
            self.claimed += len(won)
            rows = s.execute(
                select(Notification, Person, Unit)
                .join(Person, Person.id == Notification.recipient_id)
                .join(Unit, Unit.id == Person.unit_id)
                .where(Notification.id.in_(won))
                .order_by(Notification.priority, Notification.next_attempt_at, Notification.id)
                .execution_options(populate_existing=True)
            ).all()
            return [
                OutboxItem(
                    id=n.id,
                    recipient_id=n.recipient_id,
                    case_id=n.case_id,
                    kind=n.kind,
                    payload=dict(n.payload or {}),
                    attempts=n.attempts,
                    created_at=n.created_at,
                    chat_id=p.telegram_chat_id,
                    language=p.ui_language or u.default_language or "zh",
                    recipient_name=p.name,
                )
                for n, p, u in rows
            ]

    # -- outcomes -------------------------------------------------------------------------------------------

    def _sent(self, item: OutboxItem, ref: str | None) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            s.execute(
                update(Notification)
                .where(Notification.id == item.id)
                .values(status=NotificationStatus.sent, sent_at=now, external_ref=ref, last_error=None)
            )

    def backoff(self, attempts: int) -> timedelta:
        """Exponential: base, 2·base, 4·base, ... capped at ``backoff_max`` (attempts counts from 1)."""
        factor = 2 ** max(0, attempts - 1)
        return min(self.backoff_max, self.backoff_base * factor)

    def _failed(self, item: OutboxItem, error: str, permanent: bool, retry_after: float | None, *,
                progress: dict[str, Any] | None = None, waiting_for_user: bool = False,
                recipient_gone: bool = False) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Notification, item.id)
            if n is None:  # pragma: no cover - deleted underneath us
                return
            if recipient_gone:
                mark_unreachable(s, n.recipient_id, "gone", now)
            if progress is not None:  # parts already sent: the retry sends only the rest
                n.payload = {**(n.payload or {}), PROGRESS_KEY: progress}
            if waiting_for_user and not permanent:
                self._blocked(s, n, now, error)
                return
            n.last_error = error[:2000]
            if permanent or n.attempts >= self.max_attempts:
                self._give_up(s, n, now, error, permanent=permanent)
                return
            delay = timedelta(seconds=retry_after) if retry_after is not None else self.backoff(n.attempts)
            n.status = NotificationStatus.pending
            n.next_attempt_at = now + delay
            log.info("notification %s (%s) attempt %d failed: %s; retry at %s", n.id, n.kind, n.attempts,
                     error, n.next_attempt_at)

    def _no_chat(self, item: OutboxItem) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Notification, item.id)
            if n is None:  # pragma: no cover
                return
            n.attempts = max(0, n.attempts - 1)  # waiting for a chat is not a failed attempt
            n.last_error = NO_CHAT_ERROR
            if now - n.created_at >= self.no_chat_give_up:
                self._give_up(s, n, now, NO_CHAT_ERROR, permanent=True)
                return
            n.status = NotificationStatus.pending
            n.next_attempt_at = now + self.no_chat_retry

    def _blocked(self, s: Session, n: Notification, now: datetime, error: str) -> None:
        """The recipient blocked the bot: wait for them (long steps, attempts not spent), tell admins once."""
        first = not (n.last_error or "").startswith(BLOCKED_PREFIX)
        mark_unreachable(s, n.recipient_id, "blocked", now)
        n.attempts = max(0, n.attempts - 1)
        n.last_error = (BLOCKED_PREFIX + error)[:2000]
        if now - n.created_at >= self.blocked_give_up:
            self._give_up(s, n, now, n.last_error, permanent=True)
            return
        n.status = NotificationStatus.pending
        n.next_attempt_at = now + self.blocked_retry
        log.warning("notification %s (%s) to person %s: recipient blocked the bot (%s); retry at %s",
                    n.id, n.kind, n.recipient_id, error, n.next_attempt_at)
        if not first or n.kind == DELIVERY_FAILED:
            return
        already_waiting = s.scalar(
            select(Notification.id).where(
                Notification.recipient_id == n.recipient_id,
                Notification.id != n.id,
                Notification.status == NotificationStatus.pending,
                Notification.last_error.like(BLOCKED_PREFIX + "%"),
            ).limit(1)
        )
        if already_waiting is None:  # the first notification held up by this block: tell the admins once
            self._tell_admins(s, n, now, error, permanent=False, blocked=True)

    def _give_up(self, s: Session, n: Notification, now: datetime, error: str, *, permanent: bool) -> None:
        n.status = NotificationStatus.failed
        log.error("notification %s (%s to person %s) failed for good after %d attempt(s): %s",
                  n.id, n.kind, n.recipient_id, n.attempts, error)
        if n.kind == DELIVERY_FAILED:  # never report a failed failure report: no loops
            return
        self._tell_admins(s, n, now, error, permanent=permanent)

    def _tell_admins(self, s: Session, n: Notification, now: datetime, error: str, *, permanent: bool,
                     blocked: bool = False) -> None:
        recipient = s.get(Person, n.recipient_id)
        payload: dict[str, Any] = {
            "case_id": n.case_id,
            "notification_id": n.id,
            "failed_kind": n.kind,
            "recipient": {"id": n.recipient_id, "name": recipient.name if recipient else None},
            "attempts": n.attempts,
            "permanent": permanent,
            "error": error[:500],
        }
        if blocked:
            payload["blocked"] = True
            payload["retry_until"] = (n.created_at + self.blocked_give_up).isoformat()
        marker = unreachable_marker(recipient) if (blocked and recipient is not None) else None
        for admin in active_admins(s):
            if blocked and admin.id == n.recipient_id:  # they blocked the bot: a notice to them cannot arrive
                continue
            key = (unreachable_dedupe_key(n.recipient_id, marker, admin.id) if marker is not None
                   else f"{DELIVERY_FAILED}:{n.id}:{admin.id}")  # one notice per blocked person and spell
            enqueue(
                s,
                recipient_id=admin.id,
                kind=DELIVERY_FAILED,
                case_id=n.case_id,
                payload=payload,
                dedupe_key=key,
                now=now,
            )
