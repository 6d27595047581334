"""Notification kinds, their payloads, and the helper that queues them inside a domain transaction.

Why semantic notifications: the domain says *what* happened (``case_escalated`` with ``reason``, ``from_owner``,
``to_owner``); the bot renders it in the recipient's language when it delivers. Payloads carry what the renderer
needs without another query (names, due instants as ISO strings); ``case_id`` is always present (``None`` only
for notices that are not about one case).

Kinds and recipients:
- ``case_assigned`` → owner: the case card (also to a new owner after reassignment / triage re-route).
- ``urgent_alert`` → every governance operator of the county and the reporter's township commander: the card.
- ``case_received`` → reporter: number, understood category/urgency, owner name.
- ``case_accepted`` → reporter (and the previous owner when a supervisor took the case over).
- ``case_escalated`` → reporter, old owner, new owner: ``reason``, ``from_owner``, ``to_owner`` + card.
- ``case_reassigned`` → old owner and reporter: ``from_owner``, ``to_owner``, ``by``.
- ``case_resolved`` → reporter: ``note``, ``autoclose_at`` (asks Confirm / Not fixed).
- ``case_reopened`` → owner: ``reason``.
- ``case_closed`` → owner on confirmation; reporter and owner on auto-close (``auto`` bool).
- ``case_rejected`` → reporter (and owner if someone else acted): ``reason``; ``duplicate_of`` for duplicates.
- ``reminder`` → owner: ``due_at``, ``overdue`` bool, ``stage`` ack|resolve.
- ``triage_corrected`` → owner when someone else corrected: old/new urgency and category.
- ``transcript_ready`` → owner when a voice note's transcript arrives after the case was routed; also to an
  official who pressed "retry transcription" (card).
- ``transcription_retry_failed`` → that official when the retry failed again or came out empty: ``outcome``
  failed|empty, ``error``.
- ``details_added`` → owner (or reporter when an official adds a note): ``text``, ``has_audio``.
- ``delivery_failed`` → admins: a notification finally failed (never sent about a delivery_failed); with
  ``blocked: true`` (``permanent: false``, ``retry_until``) once when a recipient's block first holds one up.
- ``routing_failed`` → admins: a case could not be triaged/routed; it is stored in ``reported``.
- ``processing_failed`` → admins: the scheduler could not process a due case (one notice per due instant).
- ``official_unreachable`` → admins and the county centre, once per person and spell: routing or escalation
  passed over ``person`` (``why``: not_registered | inactive | blocked | gone; ``owner``: who got the case
  instead; ``fallback``: nobody reachable was left, the case went to them anyway).

Tasks and visits (``case_id`` None or the source case; ``task_id`` / ``visit_id`` in the payload; the renderer
reads the task sheet or the visit as the recipient sees it *now*):
- ``task_assigned`` → each liaison worker the task went to: the text and one line per household with answers;
- ``task_reminder`` → a worker with unanswered lines (``count``, ``open``, ``due_at``): the sheet again;
- ``task_summary`` → the issuer at the deadline: completion by village and grid, problems, who has not answered;
- ``task_complete`` → the issuer when the last line is answered;
- ``task_cancelled`` → workers of a withdrawn task (``reason``); ``task_closed`` → the issuer (``auto``);
- ``visit_assigned`` → the cadre who owes a new visit (``unowned``: to admins when nobody can);
- ``visit_reminder`` → the owner (``overdue``, ``due_at``); ``visit_escalated`` → new and old owner
  (``from_owner``, ``to_owner``, ``reason``); ``visit_handed_on`` → new and old owner (``by``);
- ``visit_done`` → the reporter of the source case and the owner when someone else recorded it (``by``, ``note``);
- ``visit_cancelled`` → the owner when a supervisor cancelled it (``reason``, ``by``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event as event_api
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, object_session

from storage.models import Attachment, Case, CaseEvent, Person, Role
from workflows.outbox import enqueue, priority_of


class Kind(enum.StrEnum):
    case_assigned = "case_assigned"
    urgent_alert = "urgent_alert"
    case_received = "case_received"
    case_accepted = "case_accepted"
    case_escalated = "case_escalated"
    case_reassigned = "case_reassigned"
    case_resolved = "case_resolved"
    case_reopened = "case_reopened"
    case_closed = "case_closed"
    case_rejected = "case_rejected"
    reminder = "reminder"
    triage_corrected = "triage_corrected"
    transcript_ready = "transcript_ready"
    transcription_retry_failed = "transcription_retry_failed"
    details_added = "details_added"
    delivery_failed = "delivery_failed"
    routing_failed = "routing_failed"
    processing_failed = "processing_failed"
    official_unreachable = "official_unreachable"
    task_assigned = "task_assigned"
    task_reminder = "task_reminder"
    task_summary = "task_summary"
    task_complete = "task_complete"
    task_cancelled = "task_cancelled"
    task_closed = "task_closed"
    visit_assigned = "visit_assigned"
    visit_reminder = "visit_reminder"
    visit_escalated = "visit_escalated"
    visit_handed_on = "visit_handed_on"
    visit_done = "visit_done"
    visit_cancelled = "visit_cancelled"


TEXT_PREVIEW = 500  # characters of the report carried in a payload; the full text is one get_case away


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def person_ref(person: Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"id": person.id, "name": person.name, "role": getattr(person.role, "value", person.role)}


def case_card(case: Case) -> dict[str, Any]:
    """What a renderer needs to show a case without querying: number, triage, text preview, where, who, when."""
    unit = case.unit
    text = case.text or ""
    return {
        "case_id": case.id,
        "state": getattr(case.state, "value", case.state),
        "urgency": getattr(case.urgency, "value", case.urgency),
        "category": case.category,
        "confidence": case.triage_confidence,
        "needs_review": bool(case.needs_review),
        "text": text[:TEXT_PREVIEW],
        "text_truncated": len(text) > TEXT_PREVIEW,
        "language": case.language,
        "transcript_status": case.transcript_status,
        "unit_name": unit.name if unit is not None else None,
        "reporter": person_ref(case.reporter),
        "owner": person_ref(case.owner),
        "escalation_level": case.escalation_level,
        "ack_due_at": iso(case.ack_due_at),
        "resolve_due_at": iso(case.resolve_due_at),
        "created_at": iso(case.created_at),
        # the newest attachment when this was queued: a card sends along the media up to here; later ones come
        # with their own "details added" notice (an album's photos arriving after its caption routed the case)
        "media_upto": _newest_attachment(case),
    }


FRESH_EVENTS = "lianhu.fresh_events"


def mark_fresh(session: Session, event: CaseEvent) -> None:
    """``event`` was inserted by this transaction: nothing can be queued under its dedupe keys yet, so
    :func:`notify` skips the look-up (one SELECT per notification saved; the unique key still guards)."""
    session.info.setdefault(FRESH_EVENTS, set()).add(event.id)


def _is_fresh(session: Session, event: CaseEvent | None) -> bool:
    if event is None or event.id not in session.info.get(FRESH_EVENTS, ()):
        return False
    state = sa_inspect(event)
    return state.persistent  # an event of a rolled-back savepoint is no longer in the session


@event_api.listens_for(Session, "after_commit")
@event_api.listens_for(Session, "after_rollback")
def _forget_fresh(session: Session) -> None:
    session.info.pop(FRESH_EVENTS, None)


def _newest_attachment(case: Case) -> int | None:
    session = object_session(case)
    if session is None or case.id is None:
        return None
    return session.scalar(select(func.max(Attachment.id)).where(Attachment.case_id == case.id)) or 0


def notify(
    session: Session,
    *,
    now: datetime,
    kind: Kind,
    recipients: Iterable[Person | int | None],
    case: Case | None,
    event: CaseEvent | None,
    payload: dict[str, Any] | None = None,
    card: bool = False,
    exclude: Iterable[int | None] = (),
) -> int:
    """Queue ``kind`` for each distinct recipient (``None`` and ``exclude`` skipped) inside the caller's
    transaction. The dedupe key ties one notification to one event and one recipient, so replaying the same
    step can never queue it twice. Returns how many were queued."""
    body: dict[str, Any] = case_card(case) if (card and case is not None) else {}
    body.setdefault("case_id", case.id if case is not None else None)
    body.update(payload or {})
    skip = {e for e in exclude if e is not None}
    seen: set[int] = set()
    count = 0
    fresh = _is_fresh(session, event)
    for r in recipients:
        rid = r.id if isinstance(r, Person) else r
        if rid is None or rid in skip or rid in seen:
            continue
        seen.add(rid)
        person = r if isinstance(r, Person) else session.get(Person, rid)
        if person is not None and person.role == Role.integration:
            continue  # another system (Open311): it reads the case's status through the API, it has no chat
        anchor = event.id if event is not None else int(now.timestamp())
        key = f"{kind.value}:{case.id if case is not None else '-'}:{rid}:{anchor}"
        if enqueue(
            session,
            recipient_id=rid,
            kind=kind.value,
            case_id=case.id if case is not None else None,
            payload=body,
            dedupe_key=key,
            now=now,
            fresh=fresh,
            priority=priority_of(kind.value, body),
        ):
            count += 1
    return count
