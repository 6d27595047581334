"""Deadline policy per urgency, and the deadline arithmetic that goes with it.

Why the policy is copied onto the case: "every matter answered" means the deadline promised when the case was
assigned is the deadline that holds. An operator who edits ``config.toml`` changes *new* cases only; running
cases keep the JSON copy in ``Case.policy`` (escalations and reopenings re-use that copy).

How the scheduler finds work: ``Case.next_reminder_at`` is the case's next *wake-up* — the earlier of the next
planned reminder and the next deadline (ack, then resolve) that has not been handled yet. The scheduler only
queries that column (and ``autoclose_at``), and every wake-up moves it forward in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from workflows.durations import format_duration, parse_duration
from workflows.errors import ValidationError

URGENCY_ORDER: tuple[str, ...] = ("urgent", "priority", "general")  # most urgent first
DAY = timedelta(days=1)


@dataclass(frozen=True)
class DeadlinePolicy:
    ack_within: timedelta  # owner must accept ("I'm on it") within this, else escalate
    resolve_within: timedelta  # from assignment; else escalate
    remind_every: timedelta | None = None  # repeat reminders while not accepted
    remind_before_resolve: timedelta | None = None  # one reminder this long before the resolve deadline
    autoclose_after: timedelta = timedelta(days=3)  # quiet period after "resolved" before auto-closing
    # "收到" on a reminder pauses that owner's reminders this long (PagerDuty's acknowledgement timeout); the
    # accept and resolve deadlines still hold, so an acknowledged case that nobody accepts still escalates
    ack_pause: timedelta | None = None

    @property
    def overdue_interval(self) -> timedelta:
        """How often an overdue case with nobody above its owner is re-reminded (never more than daily)."""
        return self.remind_every or DAY

    @property
    def pause_after_ack(self) -> timedelta:
        """How long an acknowledgement silences reminders (a case copied before ``ack_pause`` existed: two
        reminder intervals)."""
        return self.ack_pause or 2 * self.overdue_interval

    def to_json(self) -> dict[str, int | None]:
        return {
            f.name: (None if (v := getattr(self, f.name)) is None else int(v.total_seconds())) for f in fields(self)
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadlinePolicy:
        values = {f.name: data.get(f.name) for f in fields(cls) if f.name in data}
        return cls(**{k: None if v is None else timedelta(seconds=v) for k, v in values.items()})

    def describe(self) -> dict[str, str | None]:
        return {f.name: None if (v := getattr(self, f.name)) is None else format_duration(v) for f in fields(self)}


DEFAULT_POLICIES: dict[str, DeadlinePolicy] = {
    "urgent": DeadlinePolicy(
        ack_within=timedelta(minutes=30), resolve_within=timedelta(hours=24), remind_every=timedelta(minutes=30),
        ack_pause=timedelta(hours=1),
    ),
    "priority": DeadlinePolicy(
        ack_within=timedelta(hours=4), resolve_within=timedelta(days=3), remind_every=timedelta(hours=4),
        ack_pause=timedelta(hours=8),
    ),
    "general": DeadlinePolicy(
        ack_within=timedelta(hours=24), resolve_within=timedelta(days=7), remind_before_resolve=timedelta(days=1),
        ack_pause=timedelta(days=1),
    ),
}


@dataclass(frozen=True)
class Policies:
    by_urgency: Mapping[str, DeadlinePolicy]

    def for_urgency(self, urgency: object) -> DeadlinePolicy:
        key = getattr(urgency, "value", urgency)
        try:
            return self.by_urgency[key]  # type: ignore[index]
        except KeyError:
            raise ValidationError(f"unknown urgency {key!r}", code="unknown_urgency", params={"urgency": key}) from None

    @classmethod
    def defaults(cls) -> Policies:
        return cls(dict(DEFAULT_POLICIES))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Policies:
        """``{"urgent": {"ack_within": "30m", ...}, "general": {...}}``; missing keys keep the defaults.
        Durations are strings ("30m", "3d"), seconds, or timedeltas; ``None``/"" / "0" / "off" disable an
        optional reminder. A bad value raises :class:`ValueError` naming ``<urgency>.<key>``."""
        config = config or {}
        unknown = set(config) - set(URGENCY_ORDER)
        if unknown:
            raise ValueError(f"unknown urgency in deadline policy: {', '.join(sorted(unknown))}")
        result: dict[str, DeadlinePolicy] = {}
        names = {f.name for f in fields(DeadlinePolicy)}
        optional = {"remind_every", "remind_before_resolve", "ack_pause"}
        for urgency in URGENCY_ORDER:
            section = dict(config.get(urgency) or {})
            bad = set(section) - names
            if bad:
                raise ValueError(f"{urgency}: unknown key(s) {', '.join(sorted(bad))}")
            changes: dict[str, timedelta | None] = {}
            for key, raw in section.items():
                if key in optional and (raw is None or str(raw).strip().lower() in {"", "0", "off", "none"}):
                    changes[key] = None
                    continue
                try:
                    value = parse_duration(raw)
                except ValueError as exc:
                    raise ValueError(f"{urgency}.{key}: {exc}") from None
                if value <= timedelta(0):
                    raise ValueError(f"{urgency}.{key}: must be longer than zero")
                changes[key] = value
            result[urgency] = replace(DEFAULT_POLICIES[urgency], **changes)
        return cls(result)


@dataclass(frozen=True)
class Deadlines:
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    next_reminder_at: datetime | None


def fresh_deadlines(policy: DeadlinePolicy, now: datetime) -> Deadlines:
    """Deadlines for a case that has just been (re)assigned to an owner who has not accepted it yet."""
    ack_due = now + policy.ack_within
    resolve_due = now + policy.resolve_within
    wake = next_wakeup(policy, now, accepted=False, ack_due=ack_due, resolve_due=resolve_due)
    return Deadlines(ack_due, resolve_due, wake)


def next_wakeup(
    policy: DeadlinePolicy,
    now: datetime,
    *,
    accepted: bool,
    ack_due: datetime | None,
    resolve_due: datetime | None,
    overdue: bool = False,
) -> datetime | None:
    """The next instant the scheduler must look at an active case (strictly after ``now``).

    Candidates: a repeat reminder while not accepted (``remind_every``); the one reminder before the resolve
    deadline; the ack deadline (not accepted yet) and the resolve deadline, as long as they are in the future.
    ``overdue`` (also detected from the deadlines): a deadline has already passed and was handled without
    escalating (nobody above the owner) — remind again after :attr:`DeadlinePolicy.overdue_interval`. The result is never ``<= now``,
    so a wake-up can never fire twice for the same instant.
    """
    overdue = (
        overdue
        or (resolve_due is not None and resolve_due <= now)
        or (not accepted and ack_due is not None and ack_due <= now)
    )
    candidates: list[datetime] = []
    if not accepted and policy.remind_every:
        candidates.append(now + policy.remind_every)
    if policy.remind_before_resolve and resolve_due is not None:
        before = resolve_due - policy.remind_before_resolve
        if before > now:
            candidates.append(before)
    if not accepted and ack_due is not None and ack_due > now:
        candidates.append(ack_due)
    if resolve_due is not None and resolve_due > now:
        candidates.append(resolve_due)
    if overdue:
        candidates.append(now + policy.overdue_interval)
    return min(candidates) if candidates else None


def wakeup_after_ack(
    policy: DeadlinePolicy, now: datetime, *, accepted: bool, ack_due: datetime | None, resolve_due: datetime | None
) -> tuple[datetime, datetime | None]:
    """An owner acknowledged a reminder: no reminder until ``now + pause_after_ack``, but a deadline that has
    not passed yet still wakes the case (the accept deadline while not accepted, the resolve deadline), so an
    acknowledged case that nobody accepts still escalates. Returns (paused_until, next wake-up)."""
    until = now + policy.pause_after_ack
    deadlines = [d for d in ((None if accepted else ack_due), resolve_due) if d is not None and d > now]
    return until, min([until, *deadlines])
