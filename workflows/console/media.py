"""A case's media for the console (recordings, photos, documents), behind the case's view permission.

The console never touches files on disk: bytes live in the database with the case, and an attachment is
addressed by its integer id *and* its case, so a URL cannot reach another case's media or any path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from storage.models import Attachment
from workflows.errors import NotFound


@dataclass(frozen=True)
class MediaInfo:
    id: int
    kind: str
    mime_type: str
    filename: str | None
    size: int
    duration_s: float | None
    latitude: float | None = None  # a place (kind "location"): shown as coordinates with a geo: link
    longitude: float | None = None

    @property
    def is_place(self) -> bool:
        return self.kind == "location" and self.latitude is not None and self.longitude is not None

    @property
    def geo_uri(self) -> str:
        """RFC 5870 ``geo:`` URI: opens the map app of the phone or desktop (no map tiles from the internet)."""
        return f"geo:{self.latitude:.6f},{self.longitude:.6f}"

    @property
    def is_video(self) -> bool:
        return self.kind == "video" or (self.mime_type.startswith("video/") and self.kind != "video_note")

    @property
    def is_audio(self) -> bool:
        return self.mime_type.startswith("audio/") or self.kind in ("voice", "audio", "video_note")

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/") or self.kind == "photo"


def _mime(kind: str, mime: str | None) -> str:
    if mime:
        return mime
    return {"voice": "audio/ogg", "photo": "image/jpeg", "video_note": "video/mp4", "video": "video/mp4"}.get(
        kind, "application/octet-stream")


class CaseMedia:
    def __init__(self, cases: Any) -> None:
        self.cases = cases
        self.db = cases.db

    def list(self, case_id: int, viewer_id: int) -> list[MediaInfo]:
        self.cases.get_case(case_id, viewer_id)  # raises NotPermitted / NotFound
        with self.db.session() as s:
            rows = s.execute(select(Attachment.id, Attachment.kind, Attachment.mime_type, Attachment.filename,
                                    Attachment.size, Attachment.duration_s, Attachment.latitude,
                                    Attachment.longitude)
                             .where(Attachment.case_id == case_id).order_by(Attachment.id)).all()
            return [MediaInfo(r.id, r.kind, _mime(r.kind, r.mime_type), r.filename, r.size, r.duration_s,
                              r.latitude, r.longitude) for r in rows]

    def content(self, case_id: int, attachment_id: int, viewer_id: int) -> tuple[bytes, MediaInfo]:
        self.cases.get_case(case_id, viewer_id)
        with self.db.session() as s:
            a = s.get(Attachment, attachment_id)
            if a is None or a.case_id != case_id or not a.content:
                raise NotFound(f"no attachment {attachment_id} on case #{case_id}", code="attachment_not_found")
            return bytes(a.content), MediaInfo(a.id, a.kind, _mime(a.kind, a.mime_type), a.filename, a.size,
                                               a.duration_s)
