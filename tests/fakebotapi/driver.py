"""Fake users: how a test plays the liaison worker on the other side of the chat.

A :class:`FakeUser` owns a private chat with the bot. ``send_*`` enqueue updates exactly as Telegram would
deliver them; ``wait_for_message``/``wait_for_edit`` read the bot's replies like a chat window with a "read
up to here" marker, so a reply that arrives before the test starts waiting is never missed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .methods import media_object
from .models import Chat, Message

if TYPE_CHECKING:
    from .server import FakeTelegram

MessageRef = Message | dict[str, Any] | int
_chat_instance = itertools.count(7_000_000_000_000_000_001)


class FakeUser:
    """A Telegram user with a private chat to the bot (``chat_id == user_id``)."""

    def __init__(self, server: FakeTelegram, user_id: int, first_name: str, language_code: str | None, *,
                 last_name: str | None = None, username: str | None = None, has_started: bool = True) -> None:
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.chat = Chat(id=user_id, type="private", first_name=first_name, last_name=last_name,
                         username=username, started=has_started)
        self._seen_versions: dict[tuple[int, int], int] = {}
        self.last_update_id: int | None = None

    # ------------------------------------------------------------------ identity
    def api(self) -> dict[str, Any]:
        """The ``User`` object."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out

    @property
    def blocked(self) -> bool:
        return self.chat.blocked

    def block(self) -> None:
        """The user blocks the bot: every send/edit to this chat now fails with 403 Forbidden."""
        self.chat.blocked = True

    def unblock(self) -> None:
        self.chat.blocked = False

    # ------------------------------------------------------------------ user -> bot
    def _user_message(self, chat: Chat | None, reply_to: MessageRef | None = None, **fields: Any) -> Message:
        chat = chat or self.chat
        if chat is self.chat:
            self.chat.started = True  # the user wrote to the bot: it may now write back
        msg = Message(chat=chat, message_id=chat.allocate_message_id(), sender=self.api(), from_bot=False,
                      date=int(time.time()))
        for key in ("text", "entities", "caption", "caption_entities"):
            if key in fields and fields[key] is not None:
                setattr(msg, key, fields.pop(key))
            fields.pop(key, None)
        for key in ("voice", "audio", "document", "photo", "video", "video_note", "sticker", "animation"):
            if key in fields:
                msg.media[key] = fields.pop(key)
        msg.extra.update(fields)
        if reply_to is not None:
            original = self._resolve(reply_to, chat)
            reply = original.to_dict()
            reply.pop("reply_to_message", None)
            msg.extra["reply_to_message"] = reply
        chat.messages.append(msg)
        return msg

    def _deliver(self, msg: Message) -> dict[str, Any]:
        payload = msg.to_dict()
        self.last_update_id = self.server.enqueue("message", payload)
        return payload

    async def send_text(self, text: str, *, chat: Chat | None = None,
                        reply_to: MessageRef | None = None) -> dict[str, Any]:
        """The user types ``text``. Returns the Message dict (``update_id`` of the update in
        ``self.last_update_id``). ``chat`` defaults to the private chat; pass a group from ``add_group``."""
        return self._deliver(self._user_message(chat, reply_to, text=text))

    async def send_command(self, command: str, payload: str | None = None, *,
                           chat: Chat | None = None) -> dict[str, Any]:
        """``/start CODE`` style: a bot_command entity covering the command, then the payload."""
        command = command if command.startswith("/") else "/" + command
        text = command if not payload else f"{command} {payload}"
        entities = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
        return self._deliver(self._user_message(chat, text=text, entities=entities))

    def _file_message(self, kind: str, data: bytes, params: dict[str, Any], *, mime_type: str | None,
                      file_name: str | None, caption: str | None, chat: Chat | None,
                      media_group_id: str | None = None) -> dict[str, Any]:
        rec = self.server.register_file(data, kind, mime_type=mime_type, file_name=file_name)
        extra = {"media_group_id": media_group_id} if media_group_id else {}
        msg = self._user_message(chat, caption=caption, **{kind: media_object(kind, rec, params)}, **extra)
        msg.files[kind] = rec
        return self._deliver(msg)

    async def send_voice(self, data: bytes, duration: int = 5, *, mime_type: str = "audio/ogg",
                         caption: str | None = None, chat: Chat | None = None) -> dict[str, Any]:
        """A voice note: file retrievable by the bot via getFile + download."""
        return self._file_message("voice", data, {"duration": duration}, mime_type=mime_type, file_name=None,
                                  caption=caption, chat=chat)

    async def send_audio(self, data: bytes, duration: int = 5, *, mime_type: str = "audio/mpeg",
                         file_name: str = "audio.mp3", title: str | None = None, caption: str | None = None,
                         chat: Chat | None = None) -> dict[str, Any]:
        return self._file_message("audio", data, {"duration": duration, "title": title}, mime_type=mime_type,
                                  file_name=file_name, caption=caption, chat=chat)

    async def send_video_note(self, data: bytes, duration: int = 5, *, length: int = 240,
                              chat: Chat | None = None) -> dict[str, Any]:
        return self._file_message("video_note", data, {"duration": duration, "length": length},
                                  mime_type="video/mp4", file_name=None, caption=None, chat=chat)

    async def send_document(self, data: bytes, file_name: str = "report.pdf", *,
                            mime_type: str = "application/pdf", caption: str | None = None,
                            chat: Chat | None = None) -> dict[str, Any]:
        return self._file_message("document", data, {}, mime_type=mime_type, file_name=file_name,
                                  caption=caption, chat=chat)

    async def send_photo(self, data: bytes, *, caption: str | None = None, chat: Chat | None = None,
                         media_group_id: str | None = None) -> dict[str, Any]:
        return self._file_message("photo", data, {}, mime_type="image/jpeg", file_name=None, caption=caption,
                                  chat=chat, media_group_id=media_group_id)

    async def send_album(self, photos: list[bytes], *, caption: str | None = None,
                         chat: Chat | None = None) -> list[dict[str, Any]]:
        """An album as Telegram delivers it: one message per photo, all with the same ``media_group_id``, the
        caption on the first one, each its own update (queued together, so the bot may take them at once)."""
        group = f"album-{self.id}-{len(self.chat.messages)}"
        return [await self.send_photo(data, caption=caption if i == 0 else None, chat=chat, media_group_id=group)
                for i, data in enumerate(photos)]

    async def send_video(self, data: bytes, duration: int = 5, *, caption: str | None = None,
                         mime_type: str = "video/mp4", chat: Chat | None = None) -> dict[str, Any]:
        return self._file_message("video", data, {"duration": duration, "width": 320, "height": 240},
                                  mime_type=mime_type, file_name="video.mp4", caption=caption, chat=chat)

    async def send_sticker(self, emoji: str = "👍", *, chat: Chat | None = None) -> dict[str, Any]:
        return self._file_message("sticker", b"RIFF\x00\x00\x00\x00WEBP", {"emoji": emoji},
                                  mime_type="image/webp", file_name=None, caption=None, chat=chat)

    async def send_location(self, latitude: float, longitude: float, *,
                            chat: Chat | None = None) -> dict[str, Any]:
        return self._deliver(self._user_message(chat, location={"latitude": latitude, "longitude": longitude}))

    async def send_contact(self, phone_number: str, *, first_name: str | None = None,
                           chat: Chat | None = None) -> dict[str, Any]:
        """Shares a contact; by default the user's own (as a ``request_contact`` keyboard button does)."""
        contact = {"phone_number": phone_number, "first_name": first_name or self.first_name,
                   "user_id": self.id}
        return self._deliver(self._user_message(chat, contact=contact))

    async def edit_text(self, message: MessageRef, new_text: str) -> dict[str, Any]:
        """The user edits one of their messages: an ``edited_message`` update."""
        msg = self._resolve(message, self.chat)
        if msg.from_bot:
            raise ValueError("a user can only edit their own messages")
        msg.history.append(msg.snapshot())
        msg.text = new_text
        msg.entities = None
        msg.edit_date = int(time.time())
        payload = msg.to_dict()
        self.last_update_id = self.server.enqueue("edited_message", payload)
        return payload

    async def press(self, message: MessageRef, callback_data: str, *, strict: bool = True) -> str:
        """Tap an inline button: enqueues a ``callback_query`` update and returns its id (look up the
        bot's answer in ``server.callback_answers[id]`` or ``await server.wait_for_answer(id)``).

        With ``strict`` the button must currently exist on the message (catches tests pressing stale
        keyboards); ``strict=False`` sends any data, like an old client would."""
        msg = self._resolve(message, None)
        if strict and callback_data not in [d for _, d in msg.buttons]:
            raise AssertionError(
                f"message {msg.message_id} has no button with callback_data {callback_data!r}; "
                f"buttons: {msg.buttons}"
            )
        cid = str(next(self.server._callback_ids))
        query = {
            "id": cid,
            "from": self.api(),
            "message": msg.to_dict(),
            "chat_instance": str(next(_chat_instance)),
            "data": callback_data,
        }
        self.server.pending_callbacks[cid] = query
        self.last_update_id = self.server.enqueue("callback_query", query)
        return cid

    async def press_button(self, message: MessageRef, text_contains: str) -> str:
        """Press the first inline button whose label contains ``text_contains``."""
        msg = self._resolve(message, None)
        return await self.press(msg, msg.button(text_contains))

    # ------------------------------------------------------------------ bot -> user
    def _resolve(self, ref: MessageRef, chat: Chat | None) -> Message:
        if isinstance(ref, Message):
            return ref
        chat = chat or self.chat
        if isinstance(ref, dict):
            chat = self.server.chats.get(ref["chat"]["id"], chat)
            ref = int(ref["message_id"])
        found = chat.find(int(ref))
        if found is None:
            raise LookupError(f"no message {ref} in chat {chat.id}")
        return found

    @property
    def messages(self) -> list[Message]:
        """Every bot message in the private chat (not deleted), current text/markup after edits."""
        return [m for m in self.chat.messages if m.from_bot and not m.deleted]

    @property
    def last_message(self) -> Message | None:
        msgs = self.messages
        return msgs[-1] if msgs else None

    def mark_read(self) -> None:
        """Consider every bot message so far as seen by ``wait_for_message``."""
        self.chat.read_upto = len(self.chat.messages)

    async def wait_for_message(self, predicate: Callable[[Message], bool] | None = None,
                               timeout: float = 10.0) -> Message:
        """The next bot message to this chat not yet returned by this method (matching ``predicate``).

        Messages are consumed in order like a reader scrolling the chat: non-matching messages before the
        match are skipped for good (``user.messages`` still has them)."""
        return await self.server.wait_for(
            lambda: self.chat.next_bot_message(predicate), timeout,
            message=f"user {self.id}: no new bot message{' matching predicate' if predicate else ''} "
                    f"(chat so far: {self.messages[-5:]})",
        )

    async def wait_for_edit(self, message: MessageRef, predicate: Callable[[Message], bool] | None = None,
                            timeout: float = 10.0) -> Message:
        """Wait until ``message`` has an edit not yet returned by this method (and ``predicate`` holds
        for its current state). Returns the (live) message."""
        msg = self._resolve(message, None)
        key = (msg.chat_id, msg.message_id)

        def find() -> Message | None:
            if msg.version > self._seen_versions.get(key, 0) and (predicate is None or predicate(msg)):
                self._seen_versions[key] = msg.version
                return msg
            return None

        return await self.server.wait_for(find, timeout,
                                          message=f"message {msg.message_id} was not edited (now {msg!r})")

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.first_name!r}>"
