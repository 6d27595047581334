"""In-memory state of the fake Telegram: chats, messages, files.

A :class:`Message` is both the server's record and what tests inspect: it is updated in place by edits, so a
test holding one always sees the current text and keyboard (the previous versions stay in ``history``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_file_counter = itertools.count(1)


@dataclass
class FileRecord:
    """A file the fake server knows: uploaded by the bot or sent by a fake user."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes | None
    mime_type: str | None = None
    file_name: str | None = None
    url: str | None = None  # when the bot sent an HTTP URL instead of bytes

    @property
    def file_size(self) -> int:
        return len(self.data or b"")

    @classmethod
    def create(
        cls, data: bytes | None, kind: str, *, mime_type: str | None = None, file_name: str | None = None
    ) -> FileRecord:
        n = next(_file_counter)
        digest = hashlib.sha1((data or b"") + str(n).encode()).hexdigest()
        ext = (file_name or "").rsplit(".", 1)[-1] if file_name and "." in file_name else _EXT.get(kind, "bin")
        return cls(
            # Real ids are ~70 url-safe chars; tests only need them unique and stable.
            file_id=f"{kind.upper()}-{n:06d}-{digest[:24]}",
            file_unique_id=f"U{digest[:14]}",
            file_path=f"{_DIRS.get(kind, 'documents')}/file_{n}.{ext}",
            data=data,
            mime_type=mime_type,
            file_name=file_name,
        )

    def api_file(self) -> dict[str, Any]:
        """The ``File`` object getFile returns (file_path is relative; PTB prefixes base_file_url)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


_EXT = {"voice": "oga", "audio": "mp3", "photo": "jpg", "video": "mp4", "video_note": "mp4", "sticker": "webp",
        "animation": "mp4", "document": "bin"}
_DIRS = {"voice": "voice", "audio": "music", "photo": "photos", "video": "videos", "video_note": "video_notes",
         "sticker": "stickers", "animation": "animations", "document": "documents"}


@dataclass
class Chat:
    """A chat the bot can talk to. Private chats belong to one fake user; message ids are per chat."""

    id: int
    type: str = "private"
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    title: str | None = None
    blocked: bool = False
    # Telegram refuses to let a bot write first: until the user writes to the bot (e.g. /start),
    # sends fail with 403 "bot can't initiate conversation with a user".
    started: bool = True
    messages: list[Message] = field(default_factory=list)
    read_upto: int = 0  # index into messages: bot messages before it were returned by wait_for_message
    actions: list[str] = field(default_factory=list)
    _next_id: int = 1

    def api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def allocate_message_id(self) -> int:
        mid = self._next_id
        self._next_id += 1
        return mid

    def next_bot_message(self, predicate: Callable[[Message], bool] | None) -> Message | None:
        """Consume and return the first unread bot message matching ``predicate`` (skipping others)."""
        for i in range(self.read_upto, len(self.messages)):
            m = self.messages[i]
            if m.from_bot and not m.deleted and (predicate is None or predicate(m)):
                self.read_upto = i + 1
                return m
        return None

    def find(self, message_id: int) -> Message | None:
        for msg in self.messages:
            if msg.message_id == message_id and not msg.deleted:
                return msg
        return None


@dataclass
class Message:
    """One message in a chat (from the bot or from a fake user), kept current across edits.

    Test-facing conveniences: ``text``, ``caption``, ``reply_markup``, ``buttons``, ``button(...)``, and
    ``voice``/``document``/``audio``/``photo``/``video``/``file`` returning the attached bytes.
    """

    chat: Chat
    message_id: int
    sender: dict[str, Any]
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    media: dict[str, Any] = field(default_factory=dict)  # kind -> API object ("voice": {...}, "photo": [...])
    files: dict[str, FileRecord] = field(default_factory=dict)  # kind -> file
    extra: dict[str, Any] = field(default_factory=dict)  # other Message fields (reply_to_message, contact...)
    params: dict[str, Any] = field(default_factory=dict)  # request parameters that created it
    edit_date: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # previous versions, oldest first
    deleted: bool = False

    # ----------------------------------------------------------------- test conveniences
    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def version(self) -> int:
        """0 for the original, +1 per successful edit."""
        return len(self.history)

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline buttons as a flat list of ``(text, callback_data)`` (``None`` for url/other buttons)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]

    @property
    def keyboard(self) -> list[str]:
        """Texts of a reply keyboard (``ReplyKeyboardMarkup``), flat."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [b if isinstance(b, str) else b.get("text", "") for row in rows for b in row]

    def button(self, text_contains: str | None = None, *, data_startswith: str | None = None) -> str:
        """callback_data of the first inline button whose text contains ``text_contains`` (and/or whose
        data starts with ``data_startswith``). Raises LookupError listing the buttons if none matches."""
        for text, data in self.buttons:
            if text_contains is not None and text_contains not in text:
                continue
            if data_startswith is not None and not (data or "").startswith(data_startswith):
                continue
            if data is None:
                continue
            return data
        raise LookupError(
            f"no inline button matching text_contains={text_contains!r} data_startswith={data_startswith!r} "
            f"on message {self.message_id} ({self.text or self.caption!r}); buttons: {self.buttons}"
        )

    def _bytes(self, kind: str) -> bytes | None:
        rec = self.files.get(kind)
        return rec.data if rec else None

    @property
    def voice(self) -> bytes | None:
        return self._bytes("voice")

    @property
    def audio(self) -> bytes | None:
        return self._bytes("audio")

    @property
    def document(self) -> bytes | None:
        return self._bytes("document")

    @property
    def photo(self) -> bytes | None:
        return self._bytes("photo")

    @property
    def video(self) -> bytes | None:
        return self._bytes("video")

    @property
    def video_note(self) -> bytes | None:
        return self._bytes("video_note")

    @property
    def location(self) -> tuple[float, float] | None:
        """(latitude, longitude) of a location message (sent by the bot with sendLocation, or by a user)."""
        loc = self.extra.get("location")
        return (float(loc["latitude"]), float(loc["longitude"])) if loc else None

    @property
    def file(self) -> FileRecord | None:
        """The attached file record of whatever kind (None for plain text)."""
        return next(iter(self.files.values()), None)

    @property
    def file_name(self) -> str | None:
        rec = self.file
        return rec.file_name if rec else None

    @property
    def content(self) -> str:
        """text or caption, whichever the message has ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    # ----------------------------------------------------------------- wire format
    def to_dict(self) -> dict[str, Any]:
        """The Bot API ``Message`` object."""
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat.api(),
            "date": self.date,
        }
        if self.edit_date is not None:
            out["edit_date"] = self.edit_date
        out.update(copy.deepcopy(self.extra))
        if self.text is not None:
            out["text"] = self.text
            if self.entities:
                out["entities"] = copy.deepcopy(self.entities)
        out.update(copy.deepcopy(self.media))
        if self.caption is not None:
            out["caption"] = self.caption
            if self.caption_entities:
                out["caption_entities"] = copy.deepcopy(self.caption_entities)
        if self.reply_markup is not None and "inline_keyboard" in self.reply_markup:
            # Telegram only echoes inline keyboards back in Message objects.
            out["reply_markup"] = copy.deepcopy(self.reply_markup)
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "entities": copy.deepcopy(self.entities),
            "caption": self.caption,
            "caption_entities": copy.deepcopy(self.caption_entities),
            "parse_mode": self.parse_mode,
            "reply_markup": copy.deepcopy(self.reply_markup),
            "edit_date": self.edit_date,
        }

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else f"user:{self.sender.get('id')}"
        kinds = ",".join(self.files) or ("text" if self.text is not None else "other")
        return (
            f"<Message {self.chat.id}/{self.message_id} {who} {kinds} {self.content[:60]!r}"
            f"{' buttons=' + str([t for t, _ in self.buttons]) if self.buttons else ''}"
            f"{' v' + str(self.version) if self.version else ''}{' DELETED' if self.deleted else ''}>"
        )
