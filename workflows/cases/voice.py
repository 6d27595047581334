"""The transcription worker's side of a voice report: the transcript arrives (then triage + route, or a re-triage
that only raises urgency), or the attempt failed (after the last one the case is routed for a human to listen).

A recording whose download failed is stored without bytes (``Attachment.content == b""``, its Telegram file id
kept); the bot fetches it later and hands the bytes in with :meth:`CaseVoice.store_audio`. An official may ask
for another attempt (:meth:`CaseVoice.request_transcription_retry`); whoever asked is told the outcome
(``transcript_ready`` with the card, or ``transcription_retry_failed``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Attachment, Case, CaseEvent, CaseState, Urgency
from workflows import lifecycle, transcription_jobs
from workflows.cases.plumbing import _v, text_source
from workflows.cases.reporting import CaseReporting
from workflows.errors import NotFound, NotPermitted
from workflows.household_names import named_household
from workflows.notifications import Kind, notify, person_ref
from workflows.policy import URGENCY_ORDER
from workflows.triage.base import classify
from workflows.views import AUDIO_KINDS, CaseView

MAX_TRANSCRIPTION_ATTEMPTS = 3


@dataclass(frozen=True)
class PendingTranscription:
    case_id: int
    attachment_id: int
    language: str
    attempts: int
    mime_type: str | None


@dataclass(frozen=True)
class AudioSource:
    """A case's recording: its bytes (empty while not downloaded yet) and how to fetch it from Telegram."""

    attachment_id: int
    content: bytes
    mime_type: str | None
    telegram_file_id: str | None
    filename: str | None
    kind: str = "voice"  # voice | audio | video_note: how officials are sent it back


def _retry_requesters(s: Session, case_id: int) -> list[int]:
    """People who asked for a new transcription since the last outcome (transcript, or giving up)."""
    waiting: list[int] = []
    for kind, actor_id, data in s.execute(
        select(CaseEvent.kind, CaseEvent.actor_id, CaseEvent.data)
        .where(CaseEvent.case_id == case_id,
               CaseEvent.kind.in_(("transcript", "transcription_failed", "transcription_retry")))
        .order_by(CaseEvent.id)
    ):
        if kind == "transcription_retry":
            if actor_id is not None and actor_id not in waiting:
                waiting.append(actor_id)
        elif kind == "transcript" or (data or {}).get("gave_up"):
            waiting = []
    return waiting


class CaseVoice(CaseReporting):
    """Transcripts in for voice reports, failures recorded, pending work listed for restart."""

    def attach_transcript(
        self, case_id: int, text: str, *, model: str | None = None, language: str | None = None,
        reliable: bool = True,
    ) -> CaseView:
        """Store a voice note's transcript and triage + route the case ("" → routed with needs_review). On a
        case already routed (after failed attempts) it re-triages, raising urgency only upward.

        ``reliable=False`` (a stand-in model for the language, e.g. Whisper base for Tibetan): the text is kept
        as a hint, but the case is routed as needs_review, at least "priority", for a person to listen to."""
        text = (text or "").strip()
        now = self.clock.now()
        route = False
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            if case.transcript_status in ("done", "empty"):
                return self._view(s, case, case.reporter, now)  # already attached (e.g. retried after restart)
            requesters = _retry_requesters(s, case_id)
            if text:
                case.text = f"{case.text}\n{text}" if case.text else text
                if case.household_id is None:  # "仁青家的牦牛病了" said aloud names the household as typed text does
                    case.household_id = named_household(s, case.reporter, text)
            case.transcript_status = "done" if text else "empty"
            case.transcript_error = None
            if language:
                case.language = language
            case.updated_at = now
            event = self._event(
                s, case, now, "transcript", note=text or None,
                data={"model": model, "language": case.language, "chars": len(text), "reliable": reliable},
            )
            if case.state == CaseState.reported:
                route = True
            elif text and reliable and _v(case.state) in lifecycle.ACTIVE_STATES:
                self._retriage_routed(s, case, event, now)
            if requesters:  # an official pressed "retry transcription": tell them how it went
                if text:
                    notify(s, now=now, kind=Kind.transcript_ready, recipients=requesters, case=case, event=event,
                           card=True, exclude=[case.owner_id] if _v(case.state) in lifecycle.ACTIVE_STATES else ())
                else:
                    notify(s, now=now, kind=Kind.transcription_retry_failed, recipients=requesters, case=case,
                           event=event, payload={"outcome": "empty"})
        if route:
            self._triage_and_route(case_id, needs_review=not text, unreliable_text=bool(text) and not reliable)
        return self._system_view(case_id)

    def _retriage_routed(self, s: Session, case: Case, event: CaseEvent, now: datetime) -> None:
        result = classify(self.classifier, case.text or "", case.language, source=text_source(case))
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

    def transcription_failed(self, case_id: int, error: str, *, retryable: bool) -> CaseView:
        """Record a failed transcription; after the last attempt (or a permanent error) route the case with
        ``needs_review`` so the official listens to the audio."""
        now = self.clock.now()
        route = False
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            if case.transcript_status in ("done", "empty"):
                return self._view(s, case, case.reporter, now)
            requesters = _retry_requesters(s, case_id)
            case.transcript_attempts = (case.transcript_attempts or 0) + 1
            case.transcript_error = (error or "")[:2000]
            give_up = not retryable or case.transcript_attempts >= MAX_TRANSCRIPTION_ATTEMPTS
            if give_up:
                case.transcript_status = "failed"
            case.updated_at = now
            event = self._event(
                s, case, now, "transcription_failed", note=case.transcript_error,
                data={"attempt": case.transcript_attempts, "retryable": retryable, "gave_up": give_up},
            )
            if give_up and requesters:
                notify(s, now=now, kind=Kind.transcription_retry_failed, recipients=requesters, case=case,
                       event=event, payload={"outcome": "failed", "error": case.transcript_error[:300]})
            route = give_up and case.state == CaseState.reported
        if route:
            self._triage_and_route(case_id, needs_review=True)
        return self._system_view(case_id)

    def request_transcription_retry(self, case_id: int, actor_id: int) -> CaseView:
        """An official asks for another transcription of a recording that failed (or came out empty): the case
        waits for a transcript again (``pending``, a fresh round of attempts; picked up again after a restart)
        and the official is told the outcome. On a case already pending or transcribed nothing changes."""
        now = self.clock.now()
        if not self.can_act(case_id, actor_id):
            raise NotPermitted(f"person {actor_id} may not act on case #{case_id}",
                               params={"case_id": case_id, "action": "retry_transcription"})
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            actor = self._person(s, actor_id)
            audio = [a for a in case.attachments if a.kind in AUDIO_KINDS]
            if case.transcript_status in ("failed", "empty") and audio:
                case.transcript_status = "pending"
                case.transcript_attempts = 0
                case.updated_at = now
                self._event(s, case, now, "transcription_retry", actor=actor, data={"by": person_ref(actor)})
                transcription_jobs.enqueue(s, case_id=case.id, attachment_id=min(a.id for a in audio),
                                           language=case.language, now=now)
            return self._view(s, case, actor, now)

    def audio_source(self, case_id: int, attachment_id: int | None = None) -> AudioSource:
        """The case's (first, or given) recording, bytes possibly empty (not downloaded yet)."""
        with self.db.session() as s:
            q = select(Attachment).where(Attachment.case_id == case_id)
            q = q.where(Attachment.id == attachment_id) if attachment_id else q.where(Attachment.kind.in_(AUDIO_KINDS))
            a = s.scalars(q.order_by(Attachment.id).limit(1)).first()
            if a is None:
                raise NotFound(f"case #{case_id} has no audio", code="audio_not_found", params={"case_id": case_id})
            return AudioSource(a.id, bytes(a.content or b""), a.mime_type, a.telegram_file_id, a.filename, a.kind)

    def store_audio(self, case_id: int, attachment_id: int, content: bytes) -> bool:
        """The bytes of a recording stored without them (download failed at first). Returns False when the
        attachment already had its bytes (nothing changed)."""
        if not content:
            raise ValueError("store_audio needs the recording's bytes")
        with self.db.session() as s:
            a = s.get(Attachment, attachment_id)
            if a is None or a.case_id != case_id:
                raise NotFound(f"case #{case_id} has no attachment {attachment_id}", code="audio_not_found",
                               params={"case_id": case_id})
            if a.content:
                return False
            a.content = content
            a.size = len(content)
            a.sha256 = hashlib.sha256(content).hexdigest()
            return True

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
