"""Plain, frozen views of cases and people handed to the bot.

Why not ORM objects: the bot works across ``await`` points and threads, long after the session that loaded a
row is gone; a detached ORM object would lazy-load (or fail) at random. Views are values: safe anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Attachment, Case, CaseEvent, Person
from workflows.routing import ancestors

AUDIO_KINDS = frozenset({"voice", "audio", "video_note"})


@dataclass(frozen=True)
class PersonRef:
    id: int
    name: str
    role: str | None = None


@dataclass(frozen=True)
class PersonView:
    id: int
    code: str
    name: str
    role: str
    unit_id: int
    unit_name: str
    ui_language: str  # effective: the person's setting, else their unit's default
    speech_language: str
    telegram_chat_id: int | None
    telegram_user_id: int | None = None
    department: str | None = None
    active: bool = True


@dataclass(frozen=True)
class CaseView:
    id: int
    state: str
    urgency: str
    category: str
    confidence: float | None
    cues: tuple[dict[str, Any], ...]
    text: str | None
    language: str
    transcript_status: str | None
    needs_review: bool
    reporter: PersonRef
    owner: PersonRef | None
    unit_id: int
    unit_name: str
    unit_path: tuple[str, ...]  # county → ... → the case's unit
    created_at: datetime
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    overdue: bool
    escalation_level: int
    resolution_note: str | None
    close_reason: str | None
    duplicate_of_id: int | None
    has_audio: bool
    attachment_ids: tuple[int, ...]
    allowed_actions: tuple[str, ...]  # what the viewer may do now; the bot builds buttons from this
    household_id: int | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    autoclose_at: datetime | None = None
    reminders_sent: int = 0
    #: kinds of the case's attachments in the order received ("photo", "location", "voice" ...): the card says
    #: what was sent along, and the bot knows what to forward to officials
    media_kinds: tuple[str, ...] = ()

    def why_words(self) -> list[str]:
        """The triage "why" as words, each once: what decided the urgency, then what decided the category
        (``decides`` on each cue, set by triage), so the reason shown is the real one (a model-driven urgent
        names the model's words, not only a category word). A cue heard by its sound in a transcript reads
        "洋剑≈羊圈"; a negated one shows what cancelled it, "着火（灭了）". Older cases without ``decides``: the
        lexicon's cues, the model's n-grams only when the lexicon found nothing (fragments such as "一个"
        explain little). The bot's card, the CLI and the console's case page all show this."""
        cues = [c for c in self.cues if isinstance(c, Mapping) and c.get("text")]
        live = [c for c in cues if not c.get("negated")]
        decisive = [c for c in cues if c.get("decides") in ("urgency", "category")]
        if decisive:
            chosen = [c for c in decisive if c["decides"] == "urgency"] + [c for c in decisive if c["decides"] == "category"]
            chosen = [c for c in chosen if not str(c["text"]).startswith("learned model")] or chosen
        else:
            rules = [c for c in live if c.get("note") != "model"]
            chosen = rules or live
        return list(dict.fromkeys(_cue_word(c) for c in chosen))


def _cue_word(cue: Mapping[str, Any]) -> str:
    note = str(cue.get("note") or "")
    if cue.get("negated"):  # what cancelled it, in the report's own words: "着火（灭了）"
        marker = note[len("negated by "):] if note.startswith("negated by ") else note.partition(": ")[2]
        marker = marker.split(";")[0]
        return f"{cue['text']}（{marker}）" if marker and not marker.isascii() else str(cue["text"])
    if note.startswith("sounds like "):
        return f"{cue['text']}≈{note[len('sounds like '):]}"
    return str(cue["text"])


@dataclass(frozen=True)
class HouseholdChoice:
    """One of a liaison worker's households, as a one-tap button after their report's receipt."""

    id: int
    code: str
    head_name: str


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor_id: int | None
    actor_name: str | None  # None = the system
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any]


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def is_overdue(case: Case, now: datetime) -> bool:
    """Overdue = not accepted by the ack deadline, or not resolved by the resolve deadline."""
    state = _value(case.state)
    if state == "assigned" and case.ack_due_at is not None and case.ack_due_at <= now:
        return True
    return state in ("assigned", "accepted") and case.resolve_due_at is not None and case.resolve_due_at <= now


def person_view(session: Session, person: Person) -> PersonView:
    unit = person.unit
    default = unit.default_language if unit is not None else "zh"
    return PersonView(
        id=person.id,
        code=person.code,
        name=person.name,
        role=_value(person.role),
        unit_id=person.unit_id,
        unit_name=unit.name if unit is not None else "",
        ui_language=person.ui_language or default or "zh",
        speech_language=person.speech_language or default or "zh",
        telegram_chat_id=person.telegram_chat_id,
        telegram_user_id=person.telegram_user_id,
        department=person.department,
        active=bool(person.active),
    )


def case_view(session: Session, case: Case, *, now: datetime, allowed: list[str] | tuple[str, ...] = ()) -> CaseView:
    chain = ancestors(session, case.unit_id)
    attachments = session.execute(
        select(Attachment.id, Attachment.kind).where(Attachment.case_id == case.id).order_by(Attachment.id)
    ).all()  # columns only: never pull audio bytes into a view
    owner = case.owner
    reporter = case.reporter
    return CaseView(
        id=case.id,
        state=_value(case.state),
        urgency=_value(case.urgency),
        category=case.category,
        confidence=case.triage_confidence,
        cues=tuple(case.triage_cues or ()),
        text=case.text,
        language=case.language,
        transcript_status=case.transcript_status,
        needs_review=bool(case.needs_review),
        reporter=PersonRef(reporter.id, reporter.name, _value(reporter.role)),
        owner=PersonRef(owner.id, owner.name, _value(owner.role)) if owner is not None else None,
        unit_id=case.unit_id,
        unit_name=chain[0].name if chain else "",
        unit_path=tuple(u.name for u in reversed(chain)),
        created_at=case.created_at,
        ack_due_at=case.ack_due_at,
        resolve_due_at=case.resolve_due_at,
        overdue=is_overdue(case, now),
        escalation_level=case.escalation_level,
        resolution_note=case.resolution_note,
        close_reason=case.close_reason,
        duplicate_of_id=case.duplicate_of_id,
        has_audio=any(kind in AUDIO_KINDS for _, kind in attachments),
        attachment_ids=tuple(i for i, _ in attachments),
        media_kinds=tuple(kind for _, kind in attachments),
        allowed_actions=tuple(allowed),
        household_id=case.household_id,
        accepted_at=case.accepted_at,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        autoclose_at=case.autoclose_at,
        reminders_sent=case.reminders_sent,
    )


def timeline_entry(event: CaseEvent) -> TimelineEntry:
    actor = event.actor
    return TimelineEntry(
        at=event.at,
        kind=event.kind,
        actor_id=event.actor_id,
        actor_name=actor.name if actor is not None else None,
        from_state=event.from_state,
        to_state=event.to_state,
        note=event.note,
        data=dict(event.data or {}),
    )
