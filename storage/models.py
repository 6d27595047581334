"""SQLAlchemy 2 models: the org tree, people, households, cases and their audit trail, and the outbox.

Why these shapes:
- The case row carries its own copy of the deadline policy (``policy`` JSON) and the next due instants
  (``ack_due_at``, ``resolve_due_at``, ``next_reminder_at``, ``autoclose_at``), so the scheduler can find
  due work with one indexed query and config edits never change running cases.
- ``version`` is an optimistic-lock counter: two officials pressing "accept" at once cannot both win.
- ``source_key`` is unique, so the same Telegram update delivered twice cannot create two cases.
- Notifications are *semantic* (a ``kind`` and a JSON ``payload``), written in the same transaction as the
  state change; the bot renders them in the recipient's language when it delivers them.
- All timestamps are naive UTC (``datetime`` without tzinfo) so SQLite and PostgreSQL behave alike.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints: Alembic's SQLite batch mode (copy-and-move tables) can only drop or alter a constraint
# it can name, and the names are then the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class UnitLevel(enum.StrEnum):
    county = "county"
    township = "township"
    village = "village"
    grid = "grid"


class Role(enum.StrEnum):
    liaison_worker = "liaison_worker"
    grid_leader = "grid_leader"
    township_commander = "township_commander"
    county_commander = "county_commander"
    governance_operator = "governance_operator"  # 综治中心 operator, county level
    department_contact = "department_contact"  # county-level department (health, civil affairs, ...)
    admin = "admin"
    # Another system (a county 12345 hotline, a platform) filing through the Open311 API with a key: the
    # reporter of its cases. It reads status through the API, so it gets no Telegram notifications.
    integration = "integration"


class CaseState(enum.StrEnum):
    reported = "reported"  # stored, not yet routed (e.g. voice note waiting for transcription)
    assigned = "assigned"  # has an owner who has not acknowledged it
    accepted = "accepted"  # owner acknowledged and is working on it
    resolved = "resolved"  # owner says done; waiting for the reporter to confirm or reopen
    closed = "closed"  # reporter confirmed, or quiet period passed
    rejected = "rejected"  # not a case for us (with a reason)
    duplicate = "duplicate"  # same matter as another case (with a reason / case ref)


class Urgency(enum.StrEnum):
    urgent = "urgent"
    priority = "priority"
    general = "general"


class NotificationStatus(enum.StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"  # gave up after max attempts; visible to operators, never silently dropped


def _enum(e: type[enum.Enum]) -> Enum:
    # Store enum *values* as plain strings (portable, readable in SQL, no PG enum types to migrate).
    return Enum(e, native_enum=False, length=32, values_callable=lambda x: [m.value for m in x])


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # stable key used by CSV import
    name: Mapped[str] = mapped_column(String(200))
    name_bo: Mapped[str | None] = mapped_column(String(200))  # Tibetan name, optional
    level: Mapped[UnitLevel] = mapped_column(_enum(UnitLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    default_language: Mapped[str] = mapped_column(String(8), default="zh")  # zh | bo

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # stable key used by CSV import
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(64))  # for department_contact: e.g. "health"
    phone: Mapped[str | None] = mapped_column(String(32))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    ui_language: Mapped[str | None] = mapped_column(String(8))  # zh | bo | en; None = unit default
    speech_language: Mapped[str | None] = mapped_column(String(8))  # zh | bo; None = unit default
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by the outbox when Telegram says a notice cannot arrive (blocked the bot, account gone); cleared when
    # the person writes to the bot or registers again. Routing passes over such people (workflows.routing).
    unreachable_since: Mapped[datetime | None] = mapped_column(DateTime)
    unreachable_reason: Mapped[str | None] = mapped_column(String(32))  # blocked | gone

    unit: Mapped[Unit] = relationship()


class InviteCode(Base):
    __tablename__ = "invite_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class Household(Base):
    """A household in the archive (档案库), looked after by one liaison worker.

    Why these fields: the six must-visits need the household's *responsible cadre* (``cadre_id``; ``None`` means
    "the grid leader above the household", resolved when a visit is created so a vacancy or a new leader is
    picked up), the festival visits need the county's marks (``festival_marks``: why the household gets a
    Losar / Spring Festival visit), and the archive shows what counties keep: certificates (低保/五保/残疾 ...),
    livestock and a phone. Multi-valued facts are short JSON lists of fixed codes (see
    :mod:`storage.household_fields`), read and shown whole, never queried item by item.
    """

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    head_name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    liaison_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    members: Mapped[int | None] = mapped_column()  # household size as the county declares it
    note: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    cadre_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)  # None: the grid leader
    certificates: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))  # e.g. ["dibao", "disability"]
    festival_marks: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))  # e.g. ["elderly_alone"]
    yaks: Mapped[int | None] = mapped_column()
    sheep: Mapped[int | None] = mapped_column()
    goats: Mapped[int | None] = mapped_column()
    horses: Mapped[int | None] = mapped_column()

    unit: Mapped[Unit] = relationship()
    liaison: Mapped[Person | None] = relationship(foreign_keys=[liaison_id])
    cadre: Mapped[Person | None] = relationship(foreign_keys=[cadre_id])
    member_rows: Mapped[list[HouseholdMember]] = relationship(
        back_populates="household", order_by="HouseholdMember.position", cascade="all, delete-orphan"
    )


class HouseholdMember(Base):
    """One person of a household (from ``members.csv``): relation to the head and birth year, so the archive
    shows who lives there and a visit knows, e.g., that an elder or a school-age child is in the family."""

    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order in the file (the head first, as counties list them)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(16))  # head | spouse | son | daughter | ... (household_fields)
    birth_year: Mapped[int | None] = mapped_column()
    gender: Mapped[str | None] = mapped_column(String(1))  # m | f
    note: Mapped[str | None] = mapped_column(Text)

    household: Mapped[Household] = relationship(back_populates="member_rows")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # The case wall and its counts (workflows.console.wall): filter by state and unit, order by urgency and
        # deadline, count overdue and urgent per unit — all from this index, without reading case rows.
        Index("ix_cases_wall", "state", "unit_id", "urgency", "ack_due_at", "resolve_due_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # shown to users as the case number
    source_key: Mapped[str | None] = mapped_column(String(128), unique=True)  # idempotency key
    reporter_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # where it happened (grid)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)  # a task's "problem" answer
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    state: Mapped[CaseState] = mapped_column(_enum(CaseState), index=True, default=CaseState.reported)
    escalation_level: Mapped[int] = mapped_column(default=0)  # 0 = first owner; +1 per escalation

    # What was reported
    language: Mapped[str] = mapped_column(String(8), default="zh")
    text: Mapped[str | None] = mapped_column(Text)  # typed text, or the transcript once available
    transcript_status: Mapped[str | None] = mapped_column(String(16))  # None(text)|pending|done|empty|failed
    transcript_attempts: Mapped[int] = mapped_column(default=0)
    transcript_error: Mapped[str | None] = mapped_column(Text)

    # Triage
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency), default=Urgency.general)
    category: Mapped[str] = mapped_column(String(32), default="other")
    triage_confidence: Mapped[float | None] = mapped_column()
    triage_cues: Mapped[list[Any] | None] = mapped_column(JSON)  # the "why" shown to officials
    triage_model: Mapped[str | None] = mapped_column(String(64))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)  # e.g. untranscribed voice

    # Deadlines (copied policy + next due instants)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ack_due_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    resolve_due_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    next_reminder_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    autoclose_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    reminders_sent: Mapped[int] = mapped_column(default=0)

    resolution_note: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(Text)  # reject/duplicate reason, or how it closed
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)  # the wall's "recently settled"

    version: Mapped[int] = mapped_column(nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    reporter: Mapped[Person] = relationship(foreign_keys=[reporter_id])
    owner: Mapped[Person | None] = relationship(foreign_keys=[owner_id])
    unit: Mapped[Unit] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="case", cascade="all, delete-orphan")


class CaseEvent(Base):
    """The audit trail: every transition, assignment, reminder, escalation, note — with actor and time."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # None = the system
    kind: Mapped[str] = mapped_column(String(32))  # reported|transition|assigned|reminder|escalated|note|...
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[Person | None] = relationship()


class Attachment(Base):
    """Original media kept with the case (voice notes, audio files, video notes, photos, videos, documents,
    places). Bytes live in the database so a backup of the database is a backup of everything, and storing is
    transactional with the case. A place (``kind == "location"``) has coordinates and no bytes; a file whose
    download failed or was too big for the Bot API has no bytes but its Telegram ``file_id``."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"))
    kind: Mapped[str] = mapped_column(String(16))  # voice|audio|video_note|photo|video|document|location
    mime_type: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float | None] = mapped_column()
    content: Mapped[bytes] = mapped_column(LargeBinary)
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column()  # a place (kind "location"), WGS84 degrees
    longitude: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime)

    case: Mapped[Case] = relationship(back_populates="attachments")


class TriageCorrection(Base):
    """An official's correction of category/urgency: training data for a learned classifier."""

    __tablename__ = "triage_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    old_urgency: Mapped[str] = mapped_column(String(16))
    new_urgency: Mapped[str] = mapped_column(String(16))
    old_category: Mapped[str] = mapped_column(String(32))
    new_category: Mapped[str] = mapped_column(String(32))


class Notification(Base):
    """Transactional outbox. Written with the state change; delivered by the bot's delivery port."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        # the dispatcher's claim: pending rows, most pressing first (urgent alerts before routine reminders)
        Index("ix_notifications_claim", "status", "priority", "next_attempt_at"),
        UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # see workflows.notifications.Kind
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus), default=NotificationStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # 0 = most pressing (urgent alerts, urgent cards), larger = later; see workflows.outbox.priority_of
    priority: Mapped[int] = mapped_column(default=5, server_default="5")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What the transport returned (e.g. Telegram chat/message id) so later edits can target the message.
    external_ref: Mapped[str | None] = mapped_column(String(64))

    recipient: Mapped[Person] = relationship()


class SchedulerLease(Base):
    """At most one scheduler per database: the holder renews its lease; others stand by until it expires."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ProcessedUpdate(Base):
    """Telegram update ids already handled: an update delivered twice is acknowledged, not re-processed."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)


class ConversationEntry(Base):
    """What a bot process must remember between two updates (an official's open question, a follow-up the
    worker may still file as a new case), shared by every process: see :mod:`workflows.conversation`."""

    __tablename__ = "conversation_state"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "tg:<chat_id>"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # "prompt", "followup:<message_id>", ...
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class TranscriptionJob(Base):
    """Durable work queue of voice notes to transcribe, claimed like the outbox by any bot process with a
    transcriber (see :mod:`workflows.transcription_jobs`). The case's ``transcript_status`` stays the domain's
    truth; this row only says who is working on it and when to try again."""

    __tablename__ = "transcription_jobs"
    __table_args__ = (Index("ix_transcription_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed
    claims: Mapped[int] = mapped_column(default=0)  # times a worker took it (a crash loop stops at a limit)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


# ------------------------------------------------------------------------------------ tasks and visits


class Task(Base):
    """A task sent down the hierarchy (任务下达): an official asks every liaison worker under some units to do
    something at each household by a deadline.

    Like a case, the row carries its own schedule (``next_wakeup_at``: the next reminder, the deadline summary
    or the automatic close, whichever comes first) so the scheduler finds due work with one indexed query, and
    ``version`` makes concurrent changes (two taps on "close") fail cleanly. ``texts`` holds the text per
    language when it came from a template (each worker reads their own); ``text`` is what the issuer wrote.
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default="draft")  # draft|sent|closed|cancelled
    template: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    texts: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # {"zh": ..., "bo": ...}
    language: Mapped[str] = mapped_column(String(8), default="zh")
    audio: Mapped[bytes | None] = mapped_column(LargeBinary)  # a voice-note task, kept with the task
    audio_mime: Mapped[str | None] = mapped_column(String(64))
    audio_file_id: Mapped[str | None] = mapped_column(String(200))
    target_unit_ids: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))  # None: all of mine
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    min_urgency: Mapped[str | None] = mapped_column(String(16))  # a problem answer is at least this urgent
    problem_category: Mapped[str | None] = mapped_column(String(32))  # when triage finds nothing better
    reminders: Mapped[int] = mapped_column(default=2)  # how many, spread evenly before the deadline
    reminders_sent: Mapped[int] = mapped_column(default=0)
    next_wakeup_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    summary_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    close_at: Mapped[datetime | None] = mapped_column(DateTime)  # automatic close (after the deadline)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    version: Mapped[int] = mapped_column(nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    issuer: Mapped[Person] = relationship()


class TaskAnswer(Base):
    """One line of a task: one household (or, for a worker who looks after none, the worker) and its answer.
    Created when the task is sent, so "how far along" is a count and a reminder goes to whoever still has a
    ``pending`` line. ``case_id``: the case a "problem" answer became."""

    __tablename__ = "task_answers"
    __table_args__ = (Index("ix_task_answers_task_status", "task_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # the household's (or worker's) grid
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|problem|unreachable
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    household: Mapped[Household | None] = relationship()
    worker: Mapped[Person] = relationship()


class TaskEvent(Base):
    """The task's audit trail, like :class:`CaseEvent`: every transition, answer change, reminder, summary."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # None = the system
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor: Mapped[Person | None] = relationship()


class Visit(Base):
    """A visit a cadre owes a household (六必访): created from a life event in a report or from the festival
    calendar, reminded, escalated when overdue, recorded when done. Deadlines live on the row like a case's."""

    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("household_id", "festival", name="uq_visits_household_festival"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # dropout|idle_youth|illness_poverty|death|troubled_mind|festival
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open|done|cancelled
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)  # the report that flagged it
    festival: Mapped[str | None] = mapped_column(String(32))  # the festival key for festival visits
    due_at: Mapped[datetime] = mapped_column(DateTime)
    next_reminder_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    escalation_level: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(Text)  # what the cadre wrote when done (or why cancelled)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)  # when the current owner got it
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    version: Mapped[int] = mapped_column(nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    household: Mapped[Household | None] = relationship()
    unit: Mapped[Unit] = relationship()
    owner: Mapped[Person | None] = relationship(foreign_keys=[owner_id])


class VisitEvent(Base):
    """The visit's audit trail (created, reminder, escalated, handed on, done, cancelled, also reported)."""

    __tablename__ = "visit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor: Mapped[Person | None] = relationship()


class VisitAttachment(Base):
    """A voice note or photo the cadre sent when recording the visit (bytes in the database, like a case's)."""

    __tablename__ = "visit_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # voice | photo
    mime_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebSignIn(Base):
    """A one-time sign-in link for the web console (``/web`` in the bot, ``lianhu web-link``): short-lived,
    single use, bound to one person. Only the SHA-256 of the token is stored, so a database dump opens nothing."""

    __tablename__ = "web_signins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_via: Mapped[str] = mapped_column(String(16))  # bot | cli
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A browser session opened by a sign-in link. The cookie carries a random token whose SHA-256 is stored
    here; ``csrf_token`` is the synchronizer token every form of that session must post back."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)  # absolute end, however active the session is
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    person: Mapped[Person] = relationship()


class ApiKey(Base):
    """An Open311 integration's key, scoped to one unit's subtree (its jurisdiction). ``person`` is the
    integration's identity (role ``integration``): the reporter of the cases it files. Only the SHA-256 of the
    key is stored; ``key_prefix`` lets an operator tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    unit: Mapped[Unit] = relationship()
    person: Mapped[Person] = relationship()


class OrgVersion(Base):
    """One row (id 1) bumped by database triggers on every change to ``units`` and to the ``people`` columns
    routing reads (role, unit, department, active): every process's in-memory org tree
    (:mod:`workflows.orgcache`) checks it once per transaction. ``token`` is random per change, so a change
    that was rolled back can never look like a committed one."""

    __tablename__ = "org_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(40), default="")
