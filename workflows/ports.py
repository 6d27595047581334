"""Small interfaces through which the domain talks to the outside world.

The domain (``workflows``) never imports Telegram or a speech library. It gets:
- a :class:`Clock` (tests inject a fake one and run days of deadlines in milliseconds);
- a :class:`DeliveryPort` that sends one outbox notification (the bot implements it with Telegram);
- a :class:`Classifier` for triage (``workflows.triage`` provides the default one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time as a *naive UTC* datetime (the storage convention)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 8, 0, 0)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class DeliveryError(Exception):
    """Raised by a DeliveryPort. ``permanent`` failures (account deleted, chat gone) are not retried;
    transient ones are retried with backoff (``retry_after`` seconds when the transport says so, e.g.
    Telegram's 429). ``waiting_for_user``: the recipient blocked the bot (or never opened it) — retried in
    long steps until they write to the bot again, like a recipient without a chat.

    ``progress``: how far a multi-part delivery got before it failed (a JSON-able dict the port understands).
    The outbox stores it with the notification and hands it back on the retry, so parts already sent are never
    sent twice."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 waiting_for_user: bool = False, progress: dict | None = None, recipient_gone: bool = False) -> None:
        super().__init__(message)
        # the recipient's account or chat no longer exists (Telegram: user deactivated, chat not found): the
        # outbox marks the person unreachable, so routing passes over them until they register again
        self.recipient_gone = recipient_gone
        self.permanent = permanent
        self.retry_after = retry_after
        self.waiting_for_user = waiting_for_user
        self.progress = progress


@runtime_checkable
class DeliveryPort(Protocol):
    async def deliver(self, notification: "OutboxMessage") -> str | None:  # noqa: UP037
        """Send one notification. Return an external reference (e.g. "chat_id:message_id") or None.
        Raise :class:`DeliveryError` on failure."""
        ...


class OutboxMessage(Protocol):
    """Read-only view of a notification handed to the delivery port (a detached snapshot)."""

    id: int
    recipient_id: int
    case_id: int | None
    kind: str
    payload: dict
    attempts: int
