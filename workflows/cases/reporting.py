"""A report comes in: ``file_report`` stores it first (its own transaction), then triage and routing run in a
second one; a failure there is recorded on the case and the admins are told, never raised to the reporter.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from storage.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Household,
    Person,
    Task,
    TriageCorrection,
    Urgency,
)
from storage.text import original_record, storable
from workflows import permissions, transcription_jobs
from workflows.cases.plumbing import text_source
from workflows.cases.queries import CaseQueries
from workflows.errors import ConcurrentUpdate, NotFound, NotPermitted, ValidationError
from workflows.household_names import named_household
from workflows.notifications import Kind, notify
from workflows.policy import URGENCY_ORDER
from workflows.routing import Skipped, active_admins, in_subtree
from workflows.triage.base import classify
from workflows.views import CaseView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioIn:
    """A voice note / audio file as received (bytes are stored with the case). ``content`` may be empty when
    the download failed: then ``telegram_file_id`` is required and the bytes are fetched later
    (:meth:`~workflows.cases.voice.CaseVoice.store_audio`)."""

    content: bytes
    mime_type: str | None = None
    duration_s: float | None = None
    kind: str = "voice"  # voice | audio | video_note
    telegram_file_id: str | None = None
    filename: str | None = None


#: What a worker may send besides text and recordings; each is kept with the case as an ``Attachment``.
MEDIA_KINDS = frozenset({"photo", "video", "document", "location"})


@dataclass(frozen=True)
class MediaIn:
    """A photo, video, document or place as received. Like a recording, a file's ``content`` may be empty (the
    download failed, or the file is over the Bot API's 20 MB download limit): its ``telegram_file_id`` then still
    lets officials open it in Telegram. A place (``kind == "location"``) has coordinates and no bytes."""

    kind: str  # photo | video | document | location
    content: bytes = b""
    mime_type: str | None = None
    filename: str | None = None
    telegram_file_id: str | None = None
    duration_s: float | None = None
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MEDIA_KINDS:
            raise ValidationError(f"unknown media kind {self.kind!r}", code="bad_media")
        if self.kind == "location":
            lat, lon = self.latitude, self.longitude
            if lat is None or lon is None or not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
                raise ValidationError("a place needs latitude and longitude", code="bad_media")
        elif not self.content and not self.telegram_file_id:
            raise ValidationError("the file is empty", code="bad_media")


def _clean(value: str | None, limit: int) -> str | None:
    """A user-supplied name (file name, mime type) fit for any database column: no NUL (PostgreSQL refuses it
    in text), at most ``limit`` characters (the column's size) — the report must be stored whatever it holds."""
    if value is None:
        return None
    value = value.replace("\x00", "")[:limit]
    return value or None


class CaseReporting(CaseQueries):
    """Reports in: store first, then triage and route (or record why routing failed)."""

    def file_report(
        self,
        reporter_id: int,
        *,
        text: str | None = None,
        audio: AudioIn | None = None,
        source_key: str | None = None,
        language: str | None = None,
        household_id: int | None = None,
        task_id: int | None = None,
        unit_id: int | None = None,
        filed_by: int | None = None,
        channel: str | None = None,
        details: Mapping[str, Any] | None = None,
        media: Sequence[MediaIn] = (),
    ) -> CaseView:
        """Store a report (commit), then — for text — triage and route it in a second transaction.
        The same ``source_key`` always yields the same case (no second case, no second notification).

        ``unit_id``: where it happened, when that is not the reporter's own unit (a household's unit, or the unit
        an Open311 request names); it must lie inside the reporter's unit. ``filed_by``: an official filing on
        the reporter's behalf (a phone call or walk-in at the governance centre); they must be allowed to, i.e.
        the reporter is inside their area (:func:`workflows.permissions.may_file_for`). ``channel`` (``console``,
        ``open311``, ...) and ``details`` (e.g. the caller's contact) are kept on the "reported" event.
        ``task_id``: the report is a "problem" answer to that task (its floor applies in triage).

        ``media``: photos, videos, documents, places sent with the report. With text (a caption) the case is
        triaged and routed as a text report. Media alone is stored and waits for words (the bot asks "what
        happened?"; the answer, through :meth:`add_details`, routes it); the scheduler routes it for a person
        to look at after :attr:`media_wait` if no words come (:meth:`routing_stalled`)."""
        raw_text = text
        text, altered = storable(text)  # NUL and lone surrogates: no column takes them (storage/text.py)
        text = (text or "").strip() or None
        if text is None and audio is None and not media:
            raise ValidationError("a report needs text or audio", code="empty_report")
        if audio is not None and not audio.content and not audio.telegram_file_id:
            # no bytes *and* no way to fetch them later; bytes that could not be downloaded yet are fine:
            # the case is stored with the file id and the bot fetches the recording afterwards (store first)
            raise ValidationError("the audio is empty", code="empty_audio")
        now = self.clock.now()
        try:
            with self.db.session() as s:
                if source_key is not None:  # the same Telegram update delivered again: the same case
                    existing = self._existing_in(s, source_key, reporter_id, now)
                    if existing is not None:
                        return existing
                reporter = self._person(s, reporter_id)
                if not reporter.active:
                    raise NotPermitted(f"{reporter.name} is not active", params={"action": "report"})
                if household_id is not None and s.get(Household, household_id) is None:
                    raise NotFound(f"no household {household_id}", code="household_not_found")
                if household_id is None:  # "仁青家的牦牛病了": the worker named one of their households
                    household_id = named_household(s, reporter, text)
                filer = None
                if filed_by is not None:
                    filer = self._person(s, filed_by)
                    if not permissions.may_file_for(s, filer, reporter):
                        raise NotPermitted(f"{filer.name} may not file reports for {reporter.name}",
                                           params={"action": "file_for"})
                if unit_id is not None and unit_id != reporter.unit_id and not in_subtree(s, unit_id, reporter.unit_id):
                    raise NotPermitted(f"unit {unit_id} is outside {reporter.name}'s area",
                                       code="target_not_in_jurisdiction", params={"action": "report"})
                unit = reporter.unit
                case = Case(
                    source_key=source_key,
                    reporter_id=reporter.id,
                    unit_id=unit_id or reporter.unit_id,
                    household_id=household_id,
                    task_id=task_id,
                    state=CaseState.reported,
                    language=language or reporter.speech_language or (unit.default_language if unit else None) or "zh",
                    text=text,
                    transcript_status="pending" if audio is not None else None,
                    urgency=Urgency.general,
                    category="other",
                    created_at=now,
                    updated_at=now,
                )
                # Triage is pure computation: done before the first write, so no write lock is held meanwhile.
                triage: dict[str, Any] | Exception | None = None
                if text is not None:
                    try:
                        triage = self._task_floor(s, case, self._triage_fields(case, needs_review=False))
                        self._apply_triage(case, triage)  # written with the INSERT: no UPDATE for it
                    except Exception as exc:  # noqa: BLE001 - recorded on the stored case below
                        triage = exc
                s.add(case)
                s.flush()
                event = self._event(
                    s,
                    case,
                    now,
                    "reported",
                    actor=filer or reporter,
                    to_state="reported",
                    note=text,
                    data={"source": "voice" if audio is not None else ("text" if text is not None else "media"),
                          "source_key": source_key,
                          **({"media": [m.kind for m in media]} if media else {}),
                          **({"channel": channel} if channel else {}),
                          **({"filed_by": filer.id, "reporter": reporter.id} if filer is not None else {}),
                          **({"details": dict(details)} if details else {}),
                          # what the worker sent, byte for byte, when it held characters no column takes
                          **({"original_text": original_record(raw_text)} if altered and raw_text else {})},
                )
                if audio is not None:
                    attachment = self._attachment(case, event, audio, now)
                    s.add(attachment)
                    s.flush()
                    transcription_jobs.enqueue(s, case_id=case.id, attachment_id=attachment.id,
                                               language=case.language, now=now, hold=transcription_jobs.HOLD)
                for item in media:
                    s.add(self._attachment(case, event, item, now))
                if media:
                    s.flush()  # before routing: the card's media_upto counts them
                if triage is not None:
                    # Store first, in the same transaction: routing runs inside a savepoint, so whatever fails
                    # there is rolled back alone and the report itself still commits, with the failure on it.
                    self._route_stored(s, case, triage, now)
                return self._view(s, case, reporter, now)
        except IntegrityError:
            if source_key is not None:  # a concurrent delivery of the same update won the insert
                existing = self._existing(source_key, reporter_id)
                if existing is not None:
                    return existing
            raise

    def _existing_in(self, s: Session, source_key: str, viewer_id: int, now: datetime) -> CaseView | None:
        case = s.scalars(select(Case).where(Case.source_key == source_key)).first()
        if case is None:
            return None
        return self._view(s, case, s.get(Person, viewer_id), now)

    def _route_stored(self, s: Session, case: Case, triage: dict[str, Any] | Exception, now: datetime) -> None:
        """Record ``triage`` (already applied to the case, or the exception it raised) on a case flushed in
        this transaction, and route it inside a savepoint: a failure there is rolled back alone, the stored
        report still commits and carries ``routing_failed`` instead (the same outcome as
        :meth:`_triage_and_route` on a committed case)."""
        if isinstance(triage, Exception):
            log.error("case %s: triage failed", case.id, exc_info=triage)
            self._record_failure_in(s, case, "triage", triage, None)
            return
        self._event(s, case, now, "triaged", data=triage)
        try:
            with s.begin_nested():
                skipped: list[Skipped] = []
                owner = self.router.owner_for(s, case.unit_id, case.category, skipped)
                self._first_assignment(s, case, owner, now, actor=None)
                self._note_skipped(s, case, skipped, now)
                self._life_event(s, case, triage.get("life_event"), now)
        except Exception as exc:  # noqa: BLE001 - recorded on the case and reported to a human
            log.exception("case %s: routing failed", case.id)
            self._record_failure_in(s, case, "routing", exc, triage)

    def _existing(self, source_key: str, viewer_id: int) -> CaseView | None:
        with self.db.session() as s:
            case = s.scalars(select(Case).where(Case.source_key == source_key)).first()
            if case is None:
                return None
            viewer = s.get(Person, viewer_id)
            return self._view(s, case, viewer, self.clock.now())

    @staticmethod
    def _attachment(case: Case, event: CaseEvent | None, audio: AudioIn | MediaIn, now: datetime) -> Attachment:
        return Attachment(
            case_id=case.id,
            event_id=event.id if event is not None else None,
            kind=audio.kind,
            mime_type=_clean(audio.mime_type, 64),
            filename=_clean(audio.filename, 200),
            size=len(audio.content),
            sha256=hashlib.sha256(audio.content).hexdigest(),
            duration_s=audio.duration_s,
            content=audio.content,
            telegram_file_id=_clean(audio.telegram_file_id, 200),
            latitude=getattr(audio, "latitude", None),
            longitude=getattr(audio, "longitude", None),
            created_at=now,
        )

    def _triage_and_route(self, case_id: int, *, needs_review: bool = False, unreliable_text: bool = False) -> None:
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
                triage = self._triage_fields(case, needs_review=needs_review, unreliable_text=unreliable_text)
                triage = self._task_floor(s, case, triage)
                corrected = s.scalars(
                    select(TriageCorrection.id).where(TriageCorrection.case_id == case.id).limit(1)
                ).first()
                if corrected is not None:
                    # a person corrected the triage while the voice note was being transcribed: theirs wins
                    triage = {**triage, "urgency": Urgency(case.urgency).value, "category": case.category,
                              "corrected": True}
                self._apply_triage(case, triage)
                self._event(s, case, now, "triaged", data=triage)
                stage = "routing"
                skipped: list[Skipped] = []
                owner = self.router.owner_for(s, case.unit_id, case.category, skipped)
                self._first_assignment(s, case, owner, now, actor=None)
                self._note_skipped(s, case, skipped, now)
                self._life_event(s, case, triage.get("life_event"), now)
        except (StaleDataError, ConcurrentUpdate):
            log.info("case %s was routed concurrently; leaving it", case_id)
        except Exception as exc:  # noqa: BLE001 - recorded on the case and reported to a human
            log.exception("case %s: %s failed", case_id, stage)
            self._record_routing_failure(case_id, stage, exc, triage)

    def _triage_fields(self, case: Case, *, needs_review: bool, unreliable_text: bool = False) -> dict[str, Any]:
        text = (case.text or "").strip()
        if not text:
            # An untranscribed voice note could be an emergency: never let it wait a week.
            return {"urgency": "priority", "category": "other", "confidence": 0.0, "cues": [], "model": None,
                    "needs_review": True, "life_event": None}
        result = classify(self.classifier, text, case.language, source=text_source(case))
        fields = {
            "urgency": result.urgency,
            "category": result.category,
            "confidence": result.confidence,
            "cues": result.why(),
            "model": result.model,
            "needs_review": False,
            # a 六必访 life event (labels.md six_visit) or None; its cues are in "cues" (target "life_event:<kind>")
            "life_event": getattr(result, "life_event", None),
        }
        if unreliable_text or needs_review:
            # A stand-in speech model's text, or typed details on a voice note nobody could transcribe, is a
            # hint: keep what it suggests (an urgent hint still alerts), but a person listens to the audio, and
            # such a case is never left at "general".
            fields["needs_review"] = True
            if fields["urgency"] == "general":
                fields["urgency"] = "priority"
        return fields

    @staticmethod
    def _task_floor(s: Any, case: Case, triage: dict[str, Any]) -> dict[str, Any]:
        """A task's "problem" answer is at least as urgent as the task says (a problem found in a disaster
        check is never a week-long general case), and takes the task's category when triage found nothing
        better; a cue "task #N" tells the official why."""
        if case.task_id is None or triage.get("corrected"):
            return triage
        task = s.get(Task, case.task_id)
        if task is None:
            return triage
        out = dict(triage)
        floor = task.min_urgency
        if floor in URGENCY_ORDER and URGENCY_ORDER.index(floor) < URGENCY_ORDER.index(out["urgency"]):
            out["urgency"] = floor
            out["cues"] = [*out["cues"], {"text": f"task #{task.id}", "target": floor, "weight": 0.0,
                                          "negated": False, "note": "task"}]
        if out["category"] == "other" and task.problem_category:
            out["category"] = task.problem_category
        return out

    @staticmethod
    def _apply_triage(case: Case, triage: Mapping[str, Any]) -> None:
        case.urgency = Urgency(triage["urgency"])
        case.category = triage["category"]
        case.triage_confidence = triage["confidence"]
        case.triage_cues = list(triage["cues"])
        case.triage_model = triage["model"]
        case.needs_review = bool(triage["needs_review"])

    def _record_routing_failure(self, case_id: int, stage: str, exc: Exception, triage: dict[str, Any] | None) -> None:
        try:
            with self.db.session() as s:
                self._record_failure_in(s, self._case(s, case_id), stage, exc, triage)
        except Exception:  # pragma: no cover - the database itself is failing; the log is all we have
            log.exception("case %s: could not even record the %s failure", case_id, stage)

    def _record_failure_in(self, s: Session, case: Case, stage: str, exc: Exception,
                           triage: dict[str, Any] | None) -> None:
        now = self.clock.now()
        if triage is not None and case.state == CaseState.reported:
            self._apply_triage(case, triage)
        code = getattr(exc, "code", type(exc).__name__)
        event = self._event(
            s, case, now, "routing_failed", note=str(exc)[:2000], data={"stage": stage, "error_code": code}
        )
        admins = active_admins(s)
        if not admins:
            log.error("case %s could not be routed and there is no active admin to tell", case.id)
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
