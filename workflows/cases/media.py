"""Photos, albums, videos, documents and places: a worker's report as Telegram delivers it, one message at a
time, becomes one case.

Why one case per album: Telegram sends an album as separate messages sharing a ``media_group_id``, often
processed at the same time; the album's key is the case's idempotency key, so the first message creates the
case and every other one (and a redelivery of any) joins it. A file already on the case (same Telegram file
id) is not stored twice.

Why store before asking: a photo without words is stored at once (nothing is lost if the worker never
answers); it waits for the answer to "what happened?" (:meth:`CaseActions.add_details` routes it with those
words), and the scheduler routes it without words after ``media_wait`` (:meth:`CaseDueWork.routing_stalled`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Attachment, Case, CaseEvent, CaseState
from workflows.cases.actions import CaseActions
from workflows.cases.reporting import MediaIn
from workflows.errors import ConcurrentUpdate, NotFound
from workflows.views import CaseView

#: An album's messages race for the same case: joining is retried this often after a lost optimistic lock.
JOIN_ATTEMPTS = 5


@dataclass(frozen=True)
class MediaFiled:
    """What became of one photo/place message: its case, whether it opened that case, and whether the case is
    still waiting for words (then the bot asks "what happened?")."""

    case: CaseView
    new_case: bool
    waiting_for_words: bool


@dataclass(frozen=True)
class MediaItem:
    """One attachment of a case, without its bytes (:meth:`CaseMediaReports.media_content` reads those)."""

    id: int
    kind: str
    mime_type: str | None
    filename: str | None
    size: int
    telegram_file_id: str | None
    latitude: float | None
    longitude: float | None
    duration_s: float | None


class CaseMediaReports(CaseActions):
    """Media in (photos, albums, videos, documents, places) and media out (what officials are sent along)."""

    def file_media(self, reporter_id: int, media: MediaIn, *, text: str | None = None, source_key: str,
                   group_key: str | None = None, language: str | None = None) -> MediaFiled:
        """File one message's photo/video/document/place (and its caption, the report's words).

        ``group_key`` (an album's ``media_group_id``) makes every message of the album join one case."""
        key = group_key or source_key
        existing = self._existing(key, reporter_id)
        if existing is None:
            view = self.file_report(reporter_id, text=text, media=[media], source_key=key, language=language)
            if self._opened_by(view.id, media):
                view = self._route_if_stranded(view, reporter_id)
                return MediaFiled(view, True, self.is_waiting_for_words(view.id))
            existing = view  # another message of the album created the case a moment earlier: join it
        for attempt in range(JOIN_ATTEMPTS):
            with self.db.session() as s:
                if self._same_file(s, existing.id, media) is not None:  # a redelivered message: stored already
                    break
            try:
                existing = self.add_details(existing.id, reporter_id, text, media=[media])
                break
            except ConcurrentUpdate:  # the album's other messages (or its routing) changed the case meanwhile
                if attempt == JOIN_ATTEMPTS - 1:
                    raise
        existing = self._route_if_stranded(existing, reporter_id)
        return MediaFiled(existing, False, self.is_waiting_for_words(existing.id))

    def _route_if_stranded(self, view: CaseView, viewer_id: int) -> CaseView:
        """Route a case that has words but whose triage lost the optimistic-lock race to another message of the
        same album (``_triage_and_route`` then leaves it, expecting the winner to have routed it). Without this
        the album's caption would wait for the scheduler's stalled-routing retry, minutes for an urgent one."""
        with self.db.session() as s:
            case = self._case(s, view.id)
            if case.state != CaseState.reported or not case.text or case.transcript_status is not None:
                return view
            done = s.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                                       CaseEvent.kind.in_(("triaged", "routing_failed"))).limit(1))
            if done is not None:
                return view
        self._triage_and_route(view.id)
        return self.get_case(view.id, viewer_id)

    def is_waiting_for_words(self, case_id: int) -> bool:
        with self.db.session() as s:
            return self.waiting_for_words(self._case(s, case_id))

    def _opened_by(self, case_id: int, media: MediaIn) -> bool:
        """This message's attachment is the case's first one: this message created the case."""
        with self.db.session() as s:
            first = s.scalars(select(Attachment.id).where(Attachment.case_id == case_id)
                              .order_by(Attachment.id).limit(1)).first()
            mine = self._same_file(s, case_id, media)
            return first is not None and first == mine

    @staticmethod
    def _same_file(s: Session, case_id: int, media: MediaIn) -> int | None:
        q = select(Attachment.id).where(Attachment.case_id == case_id, Attachment.kind == media.kind)
        if media.telegram_file_id:
            q = q.where(Attachment.telegram_file_id == media.telegram_file_id)
        elif media.kind == "location":
            q = q.where(Attachment.latitude == media.latitude, Attachment.longitude == media.longitude)
        else:
            return None
        return s.scalars(q.order_by(Attachment.id).limit(1)).first()

    def case_media(self, case_id: int, viewer_id: int, attachment_ids: tuple[int, ...] | None = None
                   ) -> list[MediaItem]:
        """The case's attachments (all, or those ids), if the viewer may see the case; no bytes."""
        self.get_case(case_id, viewer_id)  # NotPermitted / NotFound
        with self.db.session() as s:
            q = select(Attachment).where(Attachment.case_id == case_id)
            if attachment_ids is not None:
                q = q.where(Attachment.id.in_(attachment_ids))
            rows = s.execute(q.order_by(Attachment.id).with_only_columns(
                Attachment.id, Attachment.kind, Attachment.mime_type, Attachment.filename, Attachment.size,
                Attachment.telegram_file_id, Attachment.latitude, Attachment.longitude, Attachment.duration_s,
            )).all()
            return [MediaItem(*row) for row in rows]

    def media_content(self, case_id: int, attachment_id: int) -> bytes:
        """The stored bytes of one attachment of the case (b"" for a place, or a file never downloaded)."""
        with self.db.session() as s:
            content = s.scalar(select(Attachment.content).where(Attachment.id == attachment_id,
                                                                Attachment.case_id == case_id))
            if content is None and s.get(Case, case_id) is None:
                raise NotFound(f"no case #{case_id}", code="case_not_found", params={"case_id": case_id})
            return bytes(content or b"")
