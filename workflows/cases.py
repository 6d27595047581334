"""CaseService: the one door through which reports become cases and cases move.

Why it is shaped this way:
- **Store first.** ``file_report`` commits the raw report (text or audio bytes) before any triage or routing;
  a classifier bug or an org tree with nobody to own the case leaves a stored case in ``reported`` with a
  ``routing_failed`` event and a notice to the admins — never a lost report.
- **One transaction per step.** Every change updates the case, appends its ``CaseEvent`` (actor, time, from/to,
  note, data) and queues its notifications (outbox) atomically. ``Case.version`` is an optimistic lock: when
  two officials press a button at once, one wins and the other gets :class:`ConcurrentUpdate`.
- **Permissions live here**, not in the bot (see :mod:`workflows.permissions`).
- **Views out.** Every method returns frozen dataclasses (:mod:`workflows.views`), never ORM objects.
- All methods are synchronous (the bot calls them via ``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from storage.db import Database
from storage.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Household,
    Person,
    Role,
    TriageCorrection,
    Urgency,
)
from workflows import lifecycle, permissions
from workflows.errors import ConcurrentUpdate, NotFound, NotPermitted, ValidationError
from workflows.notifications import Kind, iso, notify, person_ref
from workflows.outbox import enqueue
from workflows.policy import URGENCY_ORDER, DeadlinePolicy, Policies, fresh_deadlines, next_wakeup
from workflows.ports import Clock
from workflows.routing import CHAIN_RANK, CHAIN_ROLES, OFFICIAL_ROLES, Router, in_subtree, subtree_ids
from workflows.triage.base import Classifier
from workflows.views import (
    AUDIO_KINDS,
    CaseView,
    PersonView,
    TimelineEntry,
    case_view,
    is_overdue,
    person_view,
    timeline_entry,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TRANSCRIPTION_ATTEMPTS = 3
SCOPES = ("mine", "jurisdiction", "reported")
_CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

# Event kinds written for each transition trigger.
EVENT_KIND = {
    "assign": "assigned",
    "accept": "accepted",
    "resolve": "resolved",
    "confirm": "closed",
    "auto_close": "closed",
    "reopen": "reopened",
    "escalate": "escalated",
    "reassign": "reassigned",
    "reject": "rejected",
    "mark_duplicate": "duplicate",
}


@dataclass(frozen=True)
class AudioIn:
    """A voice note / audio file as received (bytes are stored with the case)."""

    content: bytes
    mime_type: str | None = None
    duration_s: float | None = None
    kind: str = "voice"  # voice | audio | video_note
    telegram_file_id: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class PendingTranscription:
    case_id: int
    attachment_id: int
    language: str
    attempts: int
    mime_type: str | None


def _v(x: Any) -> Any:
    return getattr(x, "value", x)


def _required(text: str | None, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValidationError(f"a {what} is required", code=f"{what}_required", params={"field": what})
    return cleaned


class CaseService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        classifier: Classifier,
        policies: Policies | Mapping[str, Any] | None = None,
        routing_config: Router | Mapping[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.classifier = classifier
        self.policies = policies if isinstance(policies, Policies) else Policies.from_config(policies)
        self.router = Router.from_config(routing_config)

    # ================================================================ plumbing

    @contextmanager
    def _tx(self, case_id: int | None = None) -> Iterator[Session]:
        """A transaction; a lost optimistic-lock race becomes :class:`ConcurrentUpdate` with the new state."""
        try:
            with self.db.session() as s:
                yield s
        except StaleDataError:
            raise self._concurrent(case_id) from None

    def _concurrent(self, case_id: int | None) -> ConcurrentUpdate:
        state = None
        if case_id is not None:
            with self.db.session() as s:
                state = s.scalar(select(Case.state).where(Case.id == case_id))
        state = _v(state)
        return ConcurrentUpdate(
            f"someone else already acted on case #{case_id}; it is now {state}",
            params={"case_id": case_id, "state": state},
        )

    @staticmethod
    def _case(s: Session, case_id: int) -> Case:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case #{case_id}", code="case_not_found", params={"case_id": case_id})
        return case

    @staticmethod
    def _person(s: Session, person_id: int) -> Person:
        person = s.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person {person_id}", code="person_not_found", params={"person_id": person_id})
        return person

    def _view(self, s: Session, case: Case, viewer: Person | None, now: datetime) -> CaseView:
        allowed = permissions.allowed_actions(s, self.router, case, viewer) if viewer is not None else []
        return case_view(s, case, now=now, allowed=allowed)

    def _act(self, case_id: int, actor_id: int, action: str, apply: Callable[[Session, Case, Person, datetime], None]) -> CaseView:
        """Load, check permission and state, apply, and return the case as the actor now sees it."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            actor = self._person(s, actor_id)
            permissions.require(s, self.router, case, actor, action)
            apply(s, case, actor, now)
            case.updated_at = now
            s.flush()
            return self._view(s, case, actor, now)

    @staticmethod
    def _event(
        s: Session,
        case: Case,
        now: datetime,
        kind: str,
        *,
        actor: Person | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        event = CaseEvent(
            case_id=case.id,
            at=now,
            actor_id=actor.id if actor is not None else None,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            note=note,
            data=data or None,
        )
        s.add(event)
        s.flush()  # event id anchors notification dedupe keys; also flushes the case (version check)
        return event

    def _transition(
        self,
        s: Session,
        case: Case,
        trigger: str,
        now: datetime,
        *,
        actor: Person | None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        source = _v(case.state)
        dest = lifecycle.next_state(source, trigger)
        case.state = CaseState(dest)
        case.updated_at = now
        return self._event(
            s, case, now, EVENT_KIND[trigger], actor=actor, from_state=source, to_state=dest, note=note, data=data
        )

    def case_policy(self, case: Case) -> DeadlinePolicy:
        """The copy stored on the case; config only for a case that never had one."""
        if case.policy:
            return DeadlinePolicy.from_json(case.policy)
        return self.policies.for_urgency(case.urgency)

    def _copy_policy(self, case: Case) -> DeadlinePolicy:
        policy = self.policies.for_urgency(case.urgency)
        case.policy = {"urgency": _v(case.urgency), **policy.to_json()}
        return policy

    @staticmethod
    def _set_fresh_deadlines(case: Case, policy: DeadlinePolicy, now: datetime) -> None:
        d = fresh_deadlines(policy, now)
        case.ack_due_at, case.resolve_due_at, case.next_reminder_at = d.ack_due_at, d.resolve_due_at, d.next_reminder_at
        case.autoclose_at = None

    def _rearm(self, case: Case, now: datetime) -> None:
        """Recompute the next wake-up of an active case from its deadlines (after accept, triage change ...)."""
        if _v(case.state) not in lifecycle.ACTIVE_STATES:
            case.next_reminder_at = None
            return
        case.next_reminder_at = next_wakeup(
            self.case_policy(case),
            now,
            accepted=_v(case.state) == "accepted",
            ack_due=case.ack_due_at,
            resolve_due=case.resolve_due_at,
        )

    def _hand_to(
        self,
        s: Session,
        case: Case,
        owner: Person,
        trigger: str,
        now: datetime,
        *,
        actor: Person | None,
        fresh_policy: bool,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        """Give the case to ``owner`` via ``trigger`` (assign/escalate/reassign/reopen) with fresh deadlines."""
        previous = case.owner
        case.owner = owner
        case.owner_id = owner.id
        policy = self._copy_policy(case) if (fresh_policy or not case.policy) else self.case_policy(case)
        self._set_fresh_deadlines(case, policy, now)
        payload = {
            "owner_id": owner.id,
            "owner_name": owner.name,
            "previous_owner_id": previous.id if previous is not None else None,
            "ack_due_at": iso(case.ack_due_at),
            "resolve_due_at": iso(case.resolve_due_at),
            **(data or {}),
        }
        return self._transition(s, case, trigger, now, actor=actor, note=note, data=payload)

    def _alert_if_urgent(self, s: Session, case: Case, event: CaseEvent, now: datetime) -> None:
        if case.urgency != Urgency.urgent:
            return
        notify(
            s,
            now=now,
            kind=Kind.urgent_alert,
            recipients=self.router.urgent_alert_recipients(s, case.unit_id),
            case=case,
            event=event,
            card=True,
            exclude=[case.owner_id],
        )

    def _first_assignment(self, s: Session, case: Case, owner: Person, now: datetime, actor: Person | None) -> None:
        event = self._hand_to(s, case, owner, "assign", now, actor=actor, fresh_policy=True)
        notify(s, now=now, kind=Kind.case_assigned, recipients=[owner], case=case, event=event, card=True)
        notify(
            s,
            now=now,
            kind=Kind.case_received,
            recipients=[case.reporter_id],
            case=case,
            event=event,
            payload={
                "urgency": _v(case.urgency),
                "category": case.category,
                "owner": person_ref(owner),
                "needs_review": bool(case.needs_review),
            },
        )
        self._alert_if_urgent(s, case, event, now)

    # ================================================================ reports

    def file_report(
        self,
        reporter_id: int,
        *,
        text: str | None = None,
        audio: AudioIn | None = None,
        source_key: str | None = None,
        language: str | None = None,
        household_id: int | None = None,
    ) -> CaseView:
        """Store a report (commit), then — for text — triage and route it in a second transaction.
        The same ``source_key`` always yields the same case (no second case, no second notification)."""
        text = (text or "").strip() or None
        if text is None and audio is None:
            raise ValidationError("a report needs text or audio", code="empty_report")
        if audio is not None and not audio.content:
            raise ValidationError("the audio is empty", code="empty_audio")
        if source_key is not None:
            existing = self._existing(source_key, reporter_id)
            if existing is not None:
                return existing
        now = self.clock.now()
        try:
            with self.db.session() as s:
                reporter = self._person(s, reporter_id)
                if not reporter.active:
                    raise NotPermitted(f"{reporter.name} is not active", params={"action": "report"})
                if household_id is not None and s.get(Household, household_id) is None:
                    raise NotFound(f"no household {household_id}", code="household_not_found")
                unit = reporter.unit
                case = Case(
                    source_key=source_key,
                    reporter_id=reporter.id,
                    unit_id=reporter.unit_id,
                    household_id=household_id,
                    state=CaseState.reported,
                    language=language or reporter.speech_language or (unit.default_language if unit else None) or "zh",
                    text=text,
                    transcript_status="pending" if audio is not None else None,
                    urgency=Urgency.general,
                    category="other",
                    created_at=now,
                    updated_at=now,
                )
                s.add(case)
                s.flush()
                event = self._event(
                    s,
                    case,
                    now,
                    "reported",
                    actor=reporter,
                    to_state="reported",
                    note=text,
                    data={"source": "voice" if audio is not None else "text", "source_key": source_key},
                )
                if audio is not None:
                    s.add(self._attachment(case, event, audio, now))
                case_id = case.id
        except IntegrityError:
            if source_key is not None:  # a concurrent delivery of the same update won the insert
                existing = self._existing(source_key, reporter_id)
                if existing is not None:
                    return existing
            raise
        if text is not None:
            self._triage_and_route(case_id)
        return self.get_case(case_id, reporter_id)

    def _existing(self, source_key: str, viewer_id: int) -> CaseView | None:
        with self.db.session() as s:
            case = s.scalars(select(Case).where(Case.source_key == source_key)).first()
            if case is None:
                return None
            viewer = s.get(Person, viewer_id)
            return self._view(s, case, viewer, self.clock.now())

    @staticmethod
    def _attachment(case: Case, event: CaseEvent | None, audio: AudioIn, now: datetime) -> Attachment:
        return Attachment(
            case_id=case.id,
            event_id=event.id if event is not None else None,
            kind=audio.kind,
            mime_type=audio.mime_type,
            filename=audio.filename,
            size=len(audio.content),
            sha256=hashlib.sha256(audio.content).hexdigest(),
            duration_s=audio.duration_s,
            content=audio.content,
            telegram_file_id=audio.telegram_file_id,
            created_at=now,
        )

    def _triage_and_route(self, case_id: int, *, needs_review: bool = False) -> None:
        """Triage + route a stored ``reported`` case. Never raises: a failure is recorded on the case and the
        admins are told; a case someone else routed meanwhile is left alone."""
        now = self.clock.now()
        stage = "triage"
        triage: dict[str, Any] | None = None
        try:
            with self.db.session() as s:
                case = self._case(s, case_id)
                if case.state != CaseState.reported:
                    return
                triage = self._triage_fields(case, needs_review=needs_review)
                self._apply_triage(case, triage)
                self._event(s, case, now, "triaged", data=triage)
                stage = "routing"
                owner = self.router.owner_for(s, case.unit_id, case.category)
                self._first_assignment(s, case, owner, now, actor=None)
        except (StaleDataError, ConcurrentUpdate):
            log.info("case %s was routed concurrently; leaving it", case_id)
        except Exception as exc:  # noqa: BLE001 - recorded on the case and reported to a human
            log.exception("case %s: %s failed", case_id, stage)
            self._record_routing_failure(case_id, stage, exc, triage)

    def _triage_fields(self, case: Case, *, needs_review: bool) -> dict[str, Any]:
        text = (case.text or "").strip()
        if needs_review or not text:
            # An untranscribed voice note could be an emergency: never let it wait a week.
            return {"urgency": "priority", "category": "other", "confidence": 0.0, "cues": [], "model": None,
                    "needs_review": True}
        result = self.classifier.classify(text, case.language)
        return {
            "urgency": result.urgency,
            "category": result.category,
            "confidence": result.confidence,
            "cues": result.why(),
            "model": result.model,
            "needs_review": False,
        }

    @staticmethod
    def _apply_triage(case: Case, triage: Mapping[str, Any]) -> None:
        case.urgency = Urgency(triage["urgency"])
        case.category = triage["category"]
        case.triage_confidence = triage["confidence"]
        case.triage_cues = list(triage["cues"])
        case.triage_model = triage["model"]
        case.needs_review = bool(triage["needs_review"])

    def _record_routing_failure(self, case_id: int, stage: str, exc: Exception, triage: dict[str, Any] | None) -> None:
        now = self.clock.now()
        try:
            with self.db.session() as s:
                case = self._case(s, case_id)
                if triage is not None and case.state == CaseState.reported:
                    self._apply_triage(case, triage)
                code = getattr(exc, "code", type(exc).__name__)
                event = self._event(
                    s, case, now, "routing_failed", note=str(exc)[:2000], data={"stage": stage, "error_code": code}
                )
                admins = s.scalars(
                    select(Person).where(Person.role == Role.admin, Person.active.is_(True)).order_by(Person.id)
                ).all()
                if not admins:
                    log.error("case %s could not be routed and there is no active admin to tell", case_id)
                notify(
                    s,
                    now=now,
                    kind=Kind.routing_failed,
                    recipients=admins,
                    case=case,
                    event=event,
                    card=True,
                    payload={"stage": stage, "error": str(exc)[:500], "error_code": code},
                )
        except Exception:  # pragma: no cover - the database itself is failing; the log is all we have
            log.exception("case %s: could not even record the %s failure", case_id, stage)

    # ================================================================ voice

    def attach_transcript(
        self, case_id: int, text: str, *, model: str | None = None, language: str | None = None
    ) -> CaseView:
        """Store a voice note's transcript and triage + route the case ("" → routed with needs_review). On a
        case already routed (after failed attempts) it re-triages, raising urgency only upward."""
        text = (text or "").strip()
        now = self.clock.now()
        route = False
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            if case.transcript_status in ("done", "empty"):
                return self._view(s, case, case.reporter, now)  # already attached (e.g. retried after restart)
            if text:
                case.text = f"{case.text}\n{text}" if case.text else text
            case.transcript_status = "done" if text else "empty"
            case.transcript_error = None
            if language:
                case.language = language
            case.updated_at = now
            event = self._event(
                s, case, now, "transcript", note=text or None,
                data={"model": model, "language": case.language, "chars": len(text)},
            )
            if case.state == CaseState.reported:
                route = True
            elif text and _v(case.state) in lifecycle.ACTIVE_STATES:
                self._retriage_routed(s, case, event, now)
        if route:
            self._triage_and_route(case_id, needs_review=not text)
        return self._system_view(case_id)

    def _retriage_routed(self, s: Session, case: Case, event: CaseEvent, now: datetime) -> None:
        result = self.classifier.classify(case.text or "", case.language)
        old_urgency = _v(case.urgency)
        upgraded = URGENCY_ORDER.index(result.urgency) < URGENCY_ORDER.index(old_urgency)
        if case.category == "other":
            case.category = result.category
        case.triage_confidence = result.confidence
        case.triage_cues = result.why()
        case.triage_model = result.model
        case.needs_review = False
        if upgraded:
            case.urgency = Urgency(result.urgency)
            self._redeadline(case, now)
        retriage = self._event(
            s, case, now, "triaged",
            data={"urgency": _v(case.urgency), "category": case.category, "confidence": result.confidence,
                  "model": result.model, "upgraded_from": old_urgency if upgraded else None},
        )
        notify(s, now=now, kind=Kind.transcript_ready, recipients=[case.owner_id], case=case, event=event, card=True)
        if upgraded and case.urgency == Urgency.urgent:
            self._alert_if_urgent(s, case, retriage, now)

    def _redeadline(self, case: Case, now: datetime) -> None:
        """New urgency: copy its policy and restart the clock from now (keeping an accepted case accepted)."""
        policy = self._copy_policy(case)
        d = fresh_deadlines(policy, now)
        case.ack_due_at, case.resolve_due_at = d.ack_due_at, d.resolve_due_at
        self._rearm(case, now)

    def transcription_failed(self, case_id: int, error: str, *, retryable: bool) -> CaseView:
        """Record a failed transcription; after the last attempt (or a permanent error) route the case with
        ``needs_review`` so the official listens to the audio."""
        now = self.clock.now()
        route = False
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            if case.transcript_status in ("done", "empty"):
                return self._view(s, case, case.reporter, now)
            case.transcript_attempts = (case.transcript_attempts or 0) + 1
            case.transcript_error = (error or "")[:2000]
            give_up = not retryable or case.transcript_attempts >= MAX_TRANSCRIPTION_ATTEMPTS
            if give_up:
                case.transcript_status = "failed"
            case.updated_at = now
            self._event(
                s, case, now, "transcription_failed", note=case.transcript_error,
                data={"attempt": case.transcript_attempts, "retryable": retryable, "gave_up": give_up},
            )
            route = give_up and case.state == CaseState.reported
        if route:
            self._triage_and_route(case_id, needs_review=True)
        return self._system_view(case_id)

    def pending_transcriptions(self) -> list[PendingTranscription]:
        """Voice cases still waiting for a transcript (the bot re-queues these at start-up)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Case.id, Case.language, Case.transcript_attempts, Attachment.id, Attachment.mime_type)
                .join(Attachment, Attachment.case_id == Case.id)
                .where(Case.transcript_status == "pending", Attachment.kind.in_(AUDIO_KINDS))
                .order_by(Case.id, Attachment.id)
            ).all()
        seen: set[int] = set()
        result = []
        for cid, lang, attempts, aid, mime in rows:
            if cid not in seen:
                seen.add(cid)
                result.append(PendingTranscription(cid, aid, lang, attempts or 0, mime))
        return result

    def audio_of(self, case_id: int, attachment_id: int | None = None) -> tuple[bytes, str | None]:
        """The bytes and mime type of the case's (first, or given) audio attachment."""
        with self.db.session() as s:
            q = select(Attachment.content, Attachment.mime_type).where(Attachment.case_id == case_id)
            q = q.where(Attachment.id == attachment_id) if attachment_id else q.where(Attachment.kind.in_(AUDIO_KINDS))
            row = s.execute(q.order_by(Attachment.id).limit(1)).first()
        if row is None:
            raise NotFound(f"case #{case_id} has no audio", code="audio_not_found", params={"case_id": case_id})
        return bytes(row[0]), row[1]

    def _system_view(self, case_id: int) -> CaseView:
        """The case as its reporter sees it (for calls made by the system, e.g. the transcription worker)."""
        with self.db.session() as s:
            case = self._case(s, case_id)
            return self._view(s, case, case.reporter, self.clock.now())

    # ================================================================ actions

    def add_details(self, case_id: int, actor_id: int, text: str | None = None, audio: AudioIn | None = None) -> CaseView:
        cleaned = (text or "").strip() or None
        if cleaned is None and audio is None:
            raise ValidationError("nothing to add", code="empty_report")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            event = self._event(s, case, now, "details_added", actor=actor, note=cleaned,
                                data={"has_audio": audio is not None})
            if audio is not None:
                s.add(self._attachment(case, event, audio, now))
            if cleaned and case.transcript_status is None and case.state == CaseState.reported:
                case.text = f"{case.text}\n{cleaned}" if case.text else cleaned
            to = case.owner_id if actor.id == case.reporter_id else case.reporter_id
            notify(s, now=now, kind=Kind.details_added, recipients=[to], case=case, event=event,
                   payload={"text": cleaned, "has_audio": audio is not None, "by": person_ref(actor)},
                   exclude=[actor.id])

        return self._act(case_id, actor_id, "add_details", apply)

    def accept(self, case_id: int, actor_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            previous = case.owner
            took_over = previous is None or previous.id != actor.id
            if took_over:
                case.owner = actor
                case.owner_id = actor.id
            case.accepted_at = now
            event = self._transition(
                s, case, "accept", now, actor=actor,
                data={"took_over_from": previous.id if (took_over and previous) else None},
            )
            self._rearm(case, now)
            payload = {"owner": person_ref(actor), "resolve_due_at": iso(case.resolve_due_at)}
            notify(s, now=now, kind=Kind.case_accepted, recipients=[case.reporter_id], case=case, event=event,
                   payload=payload, exclude=[actor.id])
            if took_over and previous is not None:
                notify(s, now=now, kind=Kind.case_accepted, recipients=[previous], case=case, event=event,
                       payload={**payload, "took_over": True})

        return self._act(case_id, actor_id, "accept", apply)

    def resolve(self, case_id: int, actor_id: int, note: str) -> CaseView:
        note = _required(note, "note")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            policy = self.case_policy(case)
            case.resolution_note = note
            case.resolved_at = now
            case.next_reminder_at = None
            case.autoclose_at = now + policy.autoclose_after
            event = self._transition(s, case, "resolve", now, actor=actor, note=note,
                                     data={"autoclose_at": iso(case.autoclose_at)})
            notify(s, now=now, kind=Kind.case_resolved, recipients=[case.reporter_id], case=case, event=event,
                   payload={"note": note, "by": person_ref(actor), "autoclose_at": iso(case.autoclose_at)},
                   exclude=[actor.id])
            if case.owner_id != actor.id:
                notify(s, now=now, kind=Kind.case_resolved, recipients=[case.owner_id], case=case, event=event,
                       payload={"note": note, "by": person_ref(actor)})

        return self._act(case_id, actor_id, "resolve", apply)

    def confirm(self, case_id: int, actor_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            case.closed_at = now
            case.close_reason = "confirmed"
            case.autoclose_at = None
            event = self._transition(s, case, "confirm", now, actor=actor, data={"how": "confirmed"})
            notify(s, now=now, kind=Kind.case_closed, recipients=[case.owner_id], case=case, event=event,
                   payload={"auto": False, "by": person_ref(actor)}, exclude=[actor.id])

        return self._act(case_id, actor_id, "confirm", apply)

    def reopen(self, case_id: int, actor_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            owner = case.owner
            if owner is None or not owner.active:
                owner = self.router.owner_for(s, case.unit_id, case.category)
            previous_note = case.resolution_note
            case.resolved_at = case.closed_at = case.autoclose_at = None
            case.resolution_note = case.close_reason = None
            case.accepted_at = None
            event = self._hand_to(s, case, owner, "reopen", now, actor=actor, fresh_policy=False, note=reason,
                                  data={"reason": reason, "previous_resolution": previous_note})
            notify(s, now=now, kind=Kind.case_reopened, recipients=[owner], case=case, event=event, card=True,
                   payload={"reason": reason, "by": person_ref(actor), "previous_resolution": previous_note},
                   exclude=[actor.id])

        return self._act(case_id, actor_id, "reopen", apply)

    def escalate(self, case_id: int, actor_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            target = self.router.escalation_target(s, case)
            assert target is not None  # permissions.require checked there is one
            self._escalate(s, case, target, now, actor=actor, reason="manual", note=reason)

        return self._act(case_id, actor_id, "escalate", apply)

    def _escalate(
        self, s: Session, case: Case, target: Person, now: datetime, *, actor: Person | None, reason: str,
        note: str | None = None,
    ) -> CaseEvent:
        old = case.owner
        case.escalation_level = (case.escalation_level or 0) + 1
        case.accepted_at = None
        event = self._hand_to(
            s, case, target, "escalate", now, actor=actor, fresh_policy=False, note=note,
            data={"reason": reason, "level": case.escalation_level},
        )
        notify(
            s, now=now, kind=Kind.case_escalated, recipients=[case.reporter_id, old, target], case=case,
            event=event, card=True,
            payload={"reason": reason, "note": note, "from_owner": person_ref(old), "to_owner": person_ref(target),
                     "by": person_ref(actor), "automatic": actor is None},
            exclude=[actor.id] if actor is not None else (),
        )
        return event

    def reassign(self, case_id: int, actor_id: int, to_person_id: int) -> CaseView:
        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            target = self._person(s, to_person_id)
            self._check_reassign_target(s, actor, target)
            if target.id == case.owner_id:
                raise ValidationError("the case is already theirs", code="same_owner", params={"person_id": target.id})
            old = case.owner
            case.accepted_at = None
            event = self._hand_to(s, case, target, "reassign", now, actor=actor, fresh_policy=False,
                                  data={"by": actor.id})
            notify(s, now=now, kind=Kind.case_assigned, recipients=[target], case=case, event=event, card=True,
                   payload={"reassigned_by": person_ref(actor), "from_owner": person_ref(old)}, exclude=[actor.id])
            notify(s, now=now, kind=Kind.case_reassigned, recipients=[old, case.reporter_id], case=case, event=event,
                   payload={"from_owner": person_ref(old), "to_owner": person_ref(target), "by": person_ref(actor)},
                   exclude=[actor.id, target.id])

        return self._act(case_id, actor_id, "reassign", apply)

    def _check_reassign_target(self, s: Session, actor: Person, target: Person) -> None:
        ok = bool(target.active) and target.role in OFFICIAL_ROLES
        if ok and actor.role != Role.admin:
            ok = in_subtree(s, target.unit_id, actor.unit_id)
        if not ok:
            raise NotPermitted(
                f"{target.name} is not an official within {actor.name}'s jurisdiction",
                code="target_not_in_jurisdiction",
                params={"person_id": target.id},
            )

    def reject(self, case_id: int, actor_id: int, reason: str) -> CaseView:
        reason = _required(reason, "reason")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            self._close_off(s, case, actor, now, "reject", reason, duplicate_of=None)

        return self._act(case_id, actor_id, "reject", apply)

    def mark_duplicate(self, case_id: int, actor_id: int, of_case_id: int, reason: str | None = None) -> CaseView:
        reason = (reason or "").strip() or None
        if of_case_id == case_id:
            raise ValidationError("a case cannot duplicate itself", code="duplicate_of_self")

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            original = self._case(s, of_case_id)
            case.duplicate_of_id = original.id
            self._close_off(s, case, actor, now, "mark_duplicate", reason or f"duplicate of #{original.id}",
                            duplicate_of=original.id)

        return self._act(case_id, actor_id, "mark_duplicate", apply)

    def _close_off(
        self, s: Session, case: Case, actor: Person, now: datetime, trigger: str, reason: str, *, duplicate_of: int | None
    ) -> None:
        case.close_reason = reason
        case.closed_at = now
        case.next_reminder_at = case.autoclose_at = None
        event = self._transition(s, case, trigger, now, actor=actor, note=reason,
                                 data={"reason": reason, "duplicate_of": duplicate_of})
        notify(s, now=now, kind=Kind.case_rejected, recipients=[case.reporter_id, case.owner_id], case=case,
               event=event, payload={"reason": reason, "duplicate_of": duplicate_of, "by": person_ref(actor)},
               exclude=[actor.id])

    def correct_triage(
        self, case_id: int, actor_id: int, *, urgency: str | None = None, category: str | None = None
    ) -> CaseView:
        """Record a human correction of what the system understood (training data), then act on it: a new
        department re-routes, a new urgency restarts the clock with its policy, upgrading to urgent alerts."""
        if urgency is not None and urgency not in URGENCY_ORDER:
            raise ValidationError(f"unknown urgency {urgency!r}", code="unknown_urgency", params={"urgency": urgency})
        if category is not None and not _CATEGORY_RE.match(category):
            raise ValidationError(f"bad category {category!r}", code="unknown_category", params={"category": category})

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            old_u, old_c = _v(case.urgency), case.category
            new_u, new_c = urgency or old_u, category or old_c
            if (new_u, new_c) == (old_u, old_c):
                return
            s.add(TriageCorrection(case_id=case.id, actor_id=actor.id, at=now, text=case.text, language=case.language,
                                   old_urgency=old_u, new_urgency=new_u, old_category=old_c, new_category=new_c))
            case.urgency, case.category, case.needs_review = Urgency(new_u), new_c, False
            event = self._event(s, case, now, "triage_corrected", actor=actor,
                                data={"old_urgency": old_u, "new_urgency": new_u, "old_category": old_c,
                                      "new_category": new_c})
            if _v(case.state) not in lifecycle.ACTIVE_STATES:
                return
            old_owner = case.owner
            new_owner = old_owner
            if self.router.department_for(old_c) != self.router.department_for(new_c):
                new_owner = self.router.owner_for(s, case.unit_id, new_c)
            if old_owner is None or new_owner.id != old_owner.id:
                case.accepted_at = None
                move = self._hand_to(s, case, new_owner, "reassign", now, actor=actor, fresh_policy=True,
                                     data={"reason": "triage_corrected"})
                notify(s, now=now, kind=Kind.case_assigned, recipients=[new_owner], case=case, event=move, card=True,
                       payload={"reassigned_by": person_ref(actor), "from_owner": person_ref(old_owner)})
                notify(s, now=now, kind=Kind.case_reassigned, recipients=[old_owner, case.reporter_id], case=case,
                       event=move, payload={"from_owner": person_ref(old_owner), "to_owner": person_ref(new_owner),
                                            "by": person_ref(actor), "reason": "triage_corrected"},
                       exclude=[actor.id, new_owner.id])
            elif new_u != old_u:
                self._redeadline(case, now)
            notify(s, now=now, kind=Kind.triage_corrected, recipients=[case.owner_id], case=case, event=event,
                   payload={"old_urgency": old_u, "new_urgency": new_u, "old_category": old_c, "new_category": new_c,
                            "by": person_ref(actor)}, exclude=[actor.id])
            if new_u == "urgent" and old_u != "urgent":
                self._alert_if_urgent(s, case, event, now)

        return self._act(case_id, actor_id, "correct_triage", apply)

    def acknowledge_reminder(self, case_id: int, actor_id: int) -> CaseView:
        """An official says "seen" on a reminder: recorded in the audit trail (it does not stop the clock)."""

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            self._event(s, case, now, "reminder_seen", actor=actor)

        return self._act(case_id, actor_id, "acknowledge_reminder", apply)

    def assign(self, case_id: int, actor_id: int, to_person_id: int | None = None) -> CaseView:
        """Place a case routing could not place (admin, or the county commander): to the routed owner, or to
        the given official."""

        def apply(s: Session, case: Case, actor: Person, now: datetime) -> None:
            if to_person_id is None:
                owner = self.router.owner_for(s, case.unit_id, case.category)
            else:
                owner = self._person(s, to_person_id)
                if not owner.active or owner.role not in OFFICIAL_ROLES:
                    raise NotPermitted(f"{owner.name} cannot own cases", code="target_not_official",
                                       params={"person_id": owner.id})
            self._first_assignment(s, case, owner, now, actor=actor)

        return self._act(case_id, actor_id, "assign", apply)

    # ================================================================ due work (called by the scheduler)

    def process_due(self, case_id: int) -> str | None:
        """Handle whatever is due on one case, in one transaction that also moves the due instant forward
        (so it fires once). Returns what happened: "auto_closed", "escalated", "overdue_reminder",
        "reminder", or None when nothing was due (already handled)."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            state = _v(case.state)
            if state == "resolved" and case.autoclose_at is not None and case.autoclose_at <= now:
                self._auto_close(s, case, now)
                return "auto_closed"
            if state not in lifecycle.ACTIVE_STATES:
                if case.next_reminder_at is not None:
                    case.next_reminder_at = None  # stale wake-up on a case nobody is on the hook for
                return None
            if case.next_reminder_at is None or case.next_reminder_at > now:
                return None
            policy = self.case_policy(case)
            stage = "ack" if state == "assigned" else "resolve"
            missed = None
            if state == "assigned" and case.ack_due_at is not None and case.ack_due_at <= now:
                missed = "ack"
            elif case.resolve_due_at is not None and case.resolve_due_at <= now:
                missed = "resolve"
            if missed is not None:
                target = self.router.escalation_target(s, case)
                if target is not None:
                    self._escalate(s, case, target, now, actor=None, reason=f"{missed}_overdue")
                    case.updated_at = now
                    return "escalated"
                stage = missed
            due_at = case.ack_due_at if stage == "ack" else case.resolve_due_at
            case.reminders_sent = (case.reminders_sent or 0) + 1
            case.next_reminder_at = next_wakeup(
                policy, now, accepted=state == "accepted", ack_due=case.ack_due_at, resolve_due=case.resolve_due_at,
                overdue=missed is not None,
            )
            case.updated_at = now
            event = self._event(
                s, case, now, "reminder",
                data={"stage": stage, "overdue": missed is not None, "due_at": iso(due_at), "count": case.reminders_sent,
                      "next_at": iso(case.next_reminder_at)},
            )
            notify(s, now=now, kind=Kind.reminder, recipients=[case.owner_id], case=case, event=event, card=True,
                   payload={"due_at": iso(due_at), "overdue": missed is not None, "stage": stage,
                            "count": case.reminders_sent})
            return "overdue_reminder" if missed is not None else "reminder"

    def _auto_close(self, s: Session, case: Case, now: datetime) -> None:
        case.closed_at = now
        case.close_reason = "auto"
        case.autoclose_at = None
        case.next_reminder_at = None
        case.updated_at = now
        event = self._transition(s, case, "auto_close", now, actor=None, data={"how": "quiet_period"})
        notify(s, now=now, kind=Kind.case_closed, recipients=[case.reporter_id, case.owner_id], case=case,
               event=event, payload={"auto": True})

    def routing_stalled(self, older_than: timedelta = timedelta(minutes=2)) -> list[int]:
        """Text cases stored but never triaged/routed (the process died between the two transactions) and
        with no recorded routing failure — the scheduler retries these."""
        cutoff = self.clock.now() - older_than
        failed = select(CaseEvent.id).where(
            CaseEvent.case_id == Case.id, CaseEvent.kind.in_(("routing_failed", "triaged"))
        )
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Case.id)
                    .where(
                        Case.state == CaseState.reported,
                        Case.transcript_status.is_(None),
                        Case.created_at <= cutoff,
                        ~failed.exists(),
                    )
                    .order_by(Case.id)
                    .limit(100)
                )
            )

    def retry_routing(self, case_id: int) -> None:
        self._triage_and_route(case_id)

    def report_processing_failure(self, case_id: int, error: str, due_at: datetime | None) -> None:
        """Tell the admins (once per case and due instant) that the scheduler keeps failing on a case."""
        now = self.clock.now()
        with self.db.session() as s:
            case = s.get(Case, case_id)
            admins = s.scalars(select(Person).where(Person.role == Role.admin, Person.active.is_(True))).all()
            anchor = int(due_at.timestamp()) if due_at else 0
            for admin in admins:
                enqueue(s, recipient_id=admin.id, kind=Kind.processing_failed.value,
                        case_id=case.id if case else None,
                        payload={"case_id": case_id, "error": error[:500], "due_at": iso(due_at)},
                        dedupe_key=f"processing_failed:{case_id}:{admin.id}:{anchor}", now=now)

    # ================================================================ reading

    def get_case(self, case_id: int, viewer_id: int) -> CaseView:
        with self.db.session() as s:
            case = self._case(s, case_id)
            viewer = self._person(s, viewer_id)
            permissions.require_view(s, self.router, case, viewer)
            return self._view(s, case, viewer, self.clock.now())

    def can_act(self, case_id: int, actor_id: int) -> bool:
        try:
            return bool(self.get_case(case_id, actor_id).allowed_actions)
        except (NotPermitted, NotFound):
            return False

    def timeline(self, case_id: int, viewer_id: int) -> list[TimelineEntry]:
        with self.db.session() as s:
            case = self._case(s, case_id)
            permissions.require_view(s, self.router, case, self._person(s, viewer_id))
            events = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
            return [timeline_entry(e) for e in events]

    def _scoped(self, s: Session, viewer: Person, scope: str, *, open_only: bool, overdue_only: bool, now: datetime):
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}", code="unknown_scope", params={"scope": scope})
        q = select(Case)
        if scope == "mine":
            q = q.where(Case.owner_id == viewer.id)
        elif scope == "reported":
            q = q.where(Case.reporter_id == viewer.id)
        else:
            q = q.where(self._jurisdiction_clause(s, viewer))
        if open_only:
            q = q.where(Case.state.in_([CaseState(x) for x in lifecycle.OPEN_STATES]))
        if overdue_only:
            q = q.where(
                or_(
                    and_(Case.state == CaseState.assigned, Case.ack_due_at <= now),
                    and_(Case.state.in_([CaseState.assigned, CaseState.accepted]), Case.resolve_due_at <= now),
                )
            )
        return q

    def _jurisdiction_clause(self, s: Session, viewer: Person):
        role = viewer.role
        if role == Role.admin:
            return Case.id.is_not(None)
        units = subtree_ids(s, viewer.unit_id)
        if role == Role.governance_operator:
            return and_(Case.unit_id.in_(units), Case.urgency == Urgency.urgent)
        if role == Role.department_contact:
            cats = [c for c, d in self.router.department_for_category.items() if d == viewer.department]
            return or_(Case.owner_id == viewer.id, and_(Case.unit_id.in_(units), Case.category.in_(cats)))
        if role in CHAIN_ROLES:
            return Case.unit_id.in_(units)
        return Case.reporter_id == viewer.id

    @staticmethod
    def _ordering():
        urgency_rank = sql_case({u: i for i, u in enumerate(URGENCY_ORDER)}, value=Case.urgency, else_=len(URGENCY_ORDER))
        due = sql_case((Case.state == CaseState.assigned, Case.ack_due_at), else_=Case.resolve_due_at)
        return (urgency_rank, due.asc().nulls_last(), Case.created_at, Case.id)

    def list_cases(
        self,
        viewer_id: int,
        *,
        scope: str = "mine",
        open_only: bool = True,
        overdue_only: bool = False,
        limit: int = 10,
        offset: int = 0,
    ) -> list[CaseView]:
        """Cases for a list screen, most urgent first, then the most overdue (earliest deadline) first."""
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            cases = s.scalars(q.order_by(*self._ordering()).limit(limit).offset(offset)).all()
            return [self._view(s, c, viewer, now) for c in cases]

    def count_cases(self, viewer_id: int, *, scope: str = "mine", open_only: bool = True, overdue_only: bool = False) -> int:
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._scoped(s, viewer, scope, open_only=open_only, overdue_only=overdue_only, now=now)
            return s.scalar(select(func.count()).select_from(q.with_only_columns(Case.id).subquery())) or 0

    def latest_open_case(self, reporter_id: int, within: timedelta) -> CaseView | None:
        """The reporter's most recent case still being worked on, if filed within ``within`` (for the bot's
        "add this to case #N?" question)."""
        now = self.clock.now()
        with self.db.session() as s:
            case = s.scalars(
                select(Case)
                .where(
                    Case.reporter_id == reporter_id,
                    Case.state.in_([CaseState.reported, CaseState.assigned, CaseState.accepted]),
                    Case.created_at >= now - within,
                )
                .order_by(Case.created_at.desc(), Case.id.desc())
                .limit(1)
            ).first()
            if case is None:
                return None
            return self._view(s, case, s.get(Person, reporter_id), now)

    def jurisdiction_people(self, actor_id: int) -> list[PersonView]:
        """Officials the actor may hand a case to (reassign targets), nearest rank first."""
        with self.db.session() as s:
            actor = self._person(s, actor_id)
            q = select(Person).where(Person.active.is_(True), Person.role.in_(list(OFFICIAL_ROLES)),
                                     Person.id != actor.id)
            if actor.role != Role.admin:
                q = q.where(Person.unit_id.in_(subtree_ids(s, actor.unit_id)))
            people = s.scalars(q.order_by(Person.id)).all()
            people = sorted(people, key=lambda p: (CHAIN_RANK.get(p.role, 9), p.name, p.id))
            return [person_view(s, p) for p in people]

    def ledger(self, viewer_id: int | None = None) -> list[dict[str, Any]]:
        """台账 rows (all cases, or the viewer's jurisdiction), oldest first, JSON/CSV friendly."""
        now = self.clock.now()
        with self.db.session() as s:
            q = select(Case)
            if viewer_id is not None:
                q = q.where(self._jurisdiction_clause(s, self._person(s, viewer_id)))
            rows = []
            households: dict[int, str] = {}
            for case in s.scalars(q.order_by(Case.id)):
                hh = None
                if case.household_id is not None:
                    if case.household_id not in households:
                        households[case.household_id] = s.scalar(
                            select(Household.code).where(Household.id == case.household_id)
                        ) or ""
                    hh = households[case.household_id]
                view = case_view(s, case, now=now)
                rows.append({
                    "case_id": case.id,
                    "created_at": iso(case.created_at),
                    "unit": " / ".join(view.unit_path),
                    "household": hh,
                    "reporter": view.reporter.name,
                    "reporter_code": case.reporter.code,
                    "text": case.text,
                    "category": case.category,
                    "urgency": _v(case.urgency),
                    "state": _v(case.state),
                    "owner": view.owner.name if view.owner else None,
                    "owner_role": view.owner.role if view.owner else None,
                    "escalation_level": case.escalation_level,
                    "ack_due_at": iso(case.ack_due_at),
                    "resolve_due_at": iso(case.resolve_due_at),
                    "accepted_at": iso(case.accepted_at),
                    "resolved_at": iso(case.resolved_at),
                    "closed_at": iso(case.closed_at),
                    "overdue": is_overdue(case, now),
                    "resolved_on_time": (
                        None if case.resolved_at is None or case.resolve_due_at is None
                        else case.resolved_at <= case.resolve_due_at
                    ),
                    "resolution_note": case.resolution_note,
                    "close_reason": case.close_reason,
                    "reminders_sent": case.reminders_sent,
                })
            return rows
