"""Bot API method implementations of the fake server, with Telegram's validation and error texts.

Each method is ``async def impl(server, params, ctx) -> result`` registered under its canonical name;
lookup is case-insensitive like Telegram's. Only behaviour a bot can observe is modelled.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .formatting import parse_formatted, utf16_len
from .models import FileRecord, Message
from .wire import ApiError, Params, bad_request

if TYPE_CHECKING:
    from .server import FakeTelegram, RequestContext

Impl = Callable[["FakeTelegram", Params, "RequestContext"], Awaitable[Any]]
METHODS: dict[str, tuple[str, Impl]] = {}

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the "
                "same as a current content and reply markup of the message")


def method(name: str) -> Callable[[Impl], Impl]:
    def register(fn: Impl) -> Impl:
        METHODS[name.lower()] = (name, fn)
        return fn
    return register


def now() -> int:
    return int(time.time())


# ====================================================================== bot, updates, webhook
@method("getMe")
async def get_me(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    return dict(server.bot_user)


@method("getUpdates")
async def get_updates(server: FakeTelegram, p: Params, ctx: RequestContext) -> list[dict[str, Any]]:
    if server.webhook.get("url"):
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
    offset = p.get("offset")
    limit = min(max(int(p.get("limit") or 100), 1), 100)
    timeout = max(float(p.get("timeout") or 0), 0.0)
    if "allowed_updates" in p:
        server.allowed_updates = list(p.get("allowed_updates") or []) or None
    if offset:
        server.confirm(int(offset))
    # A newer getUpdates terminates an older one still waiting, as on Telegram (409 for the old one).
    server._poll_generation += 1
    generation = server._poll_generation
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        batch = server.take_updates(limit)
        if batch or server._closing or ctx.closed:
            return batch
        if server._poll_generation != generation:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                "make sure that only one bot instance is running")
        left = deadline - loop.time()
        if left <= 0:
            return []
        await server.wait_changed(left)


@method("setWebhook")
async def set_webhook(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    url = p.get("url") or ""
    if url and not url.startswith("https://"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    server.webhook = {k: v for k, v in p.values.items() if k != "certificate"}
    if p.get("drop_pending_updates"):
        server.drop_pending()
    return True


@method("deleteWebhook")
async def delete_webhook(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    server.webhook = {}
    if p.get("drop_pending_updates"):
        server.drop_pending()
    return True


@method("getWebhookInfo")
async def get_webhook_info(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    info: dict[str, Any] = {
        "url": server.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": server.pending_update_count,
    }
    if server.webhook.get("max_connections"):
        info["max_connections"] = server.webhook["max_connections"]
    if server.webhook.get("allowed_updates"):
        info["allowed_updates"] = server.webhook["allowed_updates"]
    return info


@method("close")
async def close(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    return True


@method("logOut")
async def log_out(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    return True


# ====================================================================== commands and harmless setters
def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.get("language_code") or ""


@method("setMyCommands")
async def set_my_commands(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    commands = p.get("commands")
    if not isinstance(commands, list):
        raise bad_request("parameter \"commands\" is required")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    for cmd in commands:
        name = str(cmd.get("command", "")).lstrip("/")
        if not (1 <= len(name) <= 32) or not all(c.islower() or c.isdigit() or c == "_" for c in name) \
                or not name.isascii():
            raise bad_request("BOT_COMMAND_INVALID")
        if not (1 <= len(str(cmd.get("description", ""))) <= 256):
            raise bad_request("command description is empty" if not cmd.get("description")
                              else "BOT_COMMAND_DESCRIPTION_INVALID")
    server.commands[_commands_key(p)] = [
        {"command": str(c["command"]).lstrip("/"), "description": c["description"]} for c in commands
    ]
    return True


@method("getMyCommands")
async def get_my_commands(server: FakeTelegram, p: Params, ctx: RequestContext) -> list[dict[str, str]]:
    return list(server.commands.get(_commands_key(p), []))


@method("deleteMyCommands")
async def delete_my_commands(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    server.commands.pop(_commands_key(p), None)
    return True


def _recorder(name: str) -> Impl:
    async def record(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
        server.recorded.setdefault(name, []).append(dict(p.values))
        return True
    return record


for _name in ("setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton",
              "setMyDefaultAdministratorRights"):
    method(_name)(_recorder(_name))


@method("getChat")
async def get_chat(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    chat = server.chats.get(p.get("chat_id")) if isinstance(p.get("chat_id"), int) else None
    if chat is None:
        chat = server.resolve_chat(p.get("chat_id"))
    info = chat.api()
    info.update({"accent_color_id": 0, "max_reaction_count": 11,
                 "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                         "unique_gifts": False, "premium_subscription": False}})
    return info


# ====================================================================== sending
def _validate_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("can't parse inline keyboard button: Text must be non-empty")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not (1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA):
                        raise bad_request("BUTTON_DATA_INVALID")
                elif not any(k in button for k in ("url", "login_url", "switch_inline_query", "web_app",
                                                   "switch_inline_query_current_chat", "callback_game",
                                                   "pay", "copy_text", "switch_inline_query_chosen_chat")):
                    raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the "
                                      "inline keyboard")
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _reply_to(server: FakeTelegram, chat: Any, p: Params) -> dict[str, Any] | None:
    params = p.get("reply_parameters") or {}
    target = params.get("message_id") if params else p.get("reply_to_message_id")
    if target is None:
        return None
    original = chat.find(int(target))
    if original is None:
        if params.get("allow_sending_without_reply") or p.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    out = original.to_dict()
    out.pop("reply_to_message", None)
    return out


def _new_bot_message(server: FakeTelegram, chat: Any, p: Params) -> Message:
    msg = Message(chat=chat, message_id=0, sender=dict(server.bot_user), from_bot=True, date=now(),
                  params=p.loggable())
    reply = _reply_to(server, chat, p)
    if reply is not None:
        msg.extra["reply_to_message"] = reply
    msg.reply_markup = _validate_markup(p.get("reply_markup"))
    return msg


def _store(server: FakeTelegram, msg: Message) -> dict[str, Any]:
    msg.message_id = msg.chat.allocate_message_id()
    msg.chat.messages.append(msg)
    server._notify()
    return msg.to_dict()


def _text_and_entities(p: Params, field: str, entities_field: str) -> tuple[str, list[dict[str, Any]] | None]:
    raw = p.get(field)
    if not isinstance(raw, str):
        raw = "" if raw is None else str(raw)
    mode = p.get("parse_mode")
    if mode:
        return parse_formatted(raw, mode)
    entities = p.get(entities_field)
    return raw, (entities or None)


@method("sendMessage")
async def send_message(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    chat = server.resolve_chat(p.get("chat_id"))
    text, entities = _text_and_entities(p, "text", "entities")
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    msg = _new_bot_message(server, chat, p)
    msg.text, msg.entities, msg.parse_mode = text, entities, p.get("parse_mode")
    if p.get("link_preview_options"):
        msg.extra["link_preview_options"] = p.get("link_preview_options")
    return _store(server, msg)


_DEFAULT_MIME = {"voice": "audio/ogg", "audio": "audio/mpeg", "video": "video/mp4", "video_note": "video/mp4",
                 "animation": "video/mp4", "document": "application/octet-stream"}


def _input_file(server: FakeTelegram, p: Params, kind: str) -> FileRecord:
    """Resolve a file parameter: multipart upload, attach://name, known file_id or HTTP URL."""
    upload = p.uploads.get(kind)
    value = p.get(kind)
    if upload is None and isinstance(value, str) and value.startswith("attach://"):
        upload = p.uploads.get(value[len("attach://"):])
        if upload is None:
            raise bad_request(f"file \"{value}\" not found in the request")
    if upload is not None:
        mime = upload.content_type
        if not mime or mime == "application/octet-stream":
            mime = _DEFAULT_MIME.get(kind, mime)
        return server.register_file(upload.data, kind, mime_type=mime, file_name=upload.filename)
    if not value:
        raise bad_request(f"there is no {kind} in the request")
    if not isinstance(value, str):
        raise bad_request("wrong file identifier/HTTP URL specified")
    if value in server.files:
        return server.files[value]
    if value.startswith(("http://", "https://")):
        rec = server.register_file(None, kind, mime_type=_DEFAULT_MIME.get(kind))
        rec.url = value
        return rec
    raise bad_request("wrong file identifier/HTTP URL specified")


def media_object(kind: str, rec: FileRecord, p: Params | dict[str, Any]) -> Any:
    """The API object for a file of ``kind`` (what a Message carries under that key)."""
    get = p.get
    base: dict[str, Any] = {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id,
                            "file_size": rec.file_size}
    if kind == "photo":
        width, height = _image_size(rec.data or b"")
        return [dict(base, width=get("width") or width, height=get("height") or height)]
    if kind in ("voice", "audio", "video", "video_note", "animation"):
        base["duration"] = int(get("duration") or 0)
    if kind in ("video", "animation"):
        base.update(width=int(get("width") or 0), height=int(get("height") or 0))
    if kind == "video_note":
        base["length"] = int(get("length") or 240)
        return base
    if kind == "sticker":
        base.update(type="regular", width=512, height=512, is_animated=False, is_video=False)
        if get("emoji"):
            base["emoji"] = get("emoji")
        return base
    if kind == "audio":
        for key in ("title", "performer"):
            if get(key):
                base[key] = get(key)
    if kind in ("document", "audio", "video", "animation") and rec.file_name:
        base["file_name"] = rec.file_name
    if rec.mime_type:
        base["mime_type"] = rec.mime_type
    return base


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of a PNG (others: 0x0) - enough for tests that send tiny generated charts."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _media_sender(kind: str) -> Impl:
    async def send(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
        chat = server.resolve_chat(p.get("chat_id"))
        rec = _input_file(server, p, kind)
        caption, caption_entities = _text_and_entities(p, "caption", "caption_entities")
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        msg = _new_bot_message(server, chat, p)
        msg.files[kind] = rec
        msg.media[kind] = media_object(kind, rec, p)
        if caption and kind not in ("video_note", "sticker"):
            msg.caption, msg.caption_entities, msg.parse_mode = caption, caption_entities, p.get("parse_mode")
        return _store(server, msg)
    return send


for _kind, _name in (("document", "sendDocument"), ("photo", "sendPhoto"), ("voice", "sendVoice"),
                     ("audio", "sendAudio"), ("video", "sendVideo"), ("video_note", "sendVideoNote"),
                     ("animation", "sendAnimation"), ("sticker", "sendSticker")):
    method(_name)(_media_sender(_kind))


@method("sendLocation")
async def send_location(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    """A point on the map (Telegram shows it with "open in maps"); like the real server, out-of-range
    coordinates are refused."""
    chat = server.resolve_chat(p.get("chat_id"))
    try:
        lat, lon = float(p.get("latitude")), float(p.get("longitude"))
    except (TypeError, ValueError):
        raise bad_request("wrong latitude/longitude specified") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_request("wrong latitude/longitude specified")
    msg = _new_bot_message(server, chat, p)
    msg.extra["location"] = {"latitude": lat, "longitude": lon}
    return _store(server, msg)


def _source_message(server: FakeTelegram, p: Params, what: str) -> Message:
    source_chat = server.chats.get(p.get("from_chat_id")) if isinstance(p.get("from_chat_id"), int) else None
    if source_chat is None:
        raise bad_request("chat not found")
    original = source_chat.find(int(p.get("message_id") or 0))
    if original is None:
        raise bad_request(f"message to {what} not found")
    return original


def _clone_content(original: Message, msg: Message) -> None:
    msg.text, msg.entities = original.text, copy.deepcopy(original.entities)
    msg.caption, msg.caption_entities = original.caption, copy.deepcopy(original.caption_entities)
    msg.media, msg.files = copy.deepcopy(original.media), dict(original.files)
    for key in ("location", "contact"):
        if key in original.extra:
            msg.extra[key] = copy.deepcopy(original.extra[key])


@method("forwardMessage")
async def forward_message(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    """Forward a message (e.g. a herder's voice note to the responsible official), with its origin."""
    original = _source_message(server, p, "forward")
    chat = server.resolve_chat(p.get("chat_id"))
    msg = Message(chat=chat, message_id=0, sender=dict(server.bot_user), from_bot=True, date=now(),
                  params=p.loggable())
    _clone_content(original, msg)
    msg.extra["forward_origin"] = {"type": "user", "sender_user": copy.deepcopy(original.sender),
                                   "date": original.date}
    return _store(server, msg)


@method("copyMessage")
async def copy_message(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    """Copy a message without a link to the original; returns only the new MessageId."""
    original = _source_message(server, p, "copy")
    chat = server.resolve_chat(p.get("chat_id"))
    msg = _new_bot_message(server, chat, p)
    _clone_content(original, msg)
    if "caption" in p and msg.files:
        msg.caption, msg.caption_entities = _text_and_entities(p, "caption", "caption_entities")
        msg.caption = msg.caption or None
    _store(server, msg)
    return {"message_id": msg.message_id}


@method("sendChatAction")
async def send_chat_action(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    chat = server.resolve_chat(p.get("chat_id"))
    action = p.get("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.actions.append(action)
    return True


# ====================================================================== editing and deleting
def _target(server: FakeTelegram, p: Params, missing: str) -> Message:
    if p.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")  # inline mode is not modelled
    chat = server.resolve_chat(p.get("chat_id"))
    mid = p.get("message_id")
    if mid is None:
        raise bad_request("message identifier is not specified")
    msg = chat.find(int(mid))
    if msg is None:
        raise bad_request(missing)
    return msg


def _apply_edit(server: FakeTelegram, msg: Message, **changes: Any) -> dict[str, Any]:
    current = {k: getattr(msg, k) for k in changes}
    if current == changes:
        raise bad_request(NOT_MODIFIED)
    msg.history.append(msg.snapshot())
    for key, value in changes.items():
        setattr(msg, key, value)
    msg.edit_date = now()
    server._notify()
    return msg.to_dict()


@method("editMessageText")
async def edit_message_text(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    msg = _target(server, p, "message to edit not found")
    if not msg.from_bot:
        raise bad_request("message can't be edited")
    if msg.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities = _text_and_entities(p, "text", "entities")
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    # Like Telegram: an edit without reply_markup removes the inline keyboard.
    markup = _validate_markup(p.get("reply_markup"), inline_only=True)
    return _apply_edit(server, msg, text=text, entities=entities, reply_markup=markup)


@method("editMessageCaption")
async def edit_message_caption(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    msg = _target(server, p, "message to edit not found")
    if not msg.from_bot:
        raise bad_request("message can't be edited")
    if not msg.files:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = _text_and_entities(p, "caption", "caption_entities")
    if utf16_len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    markup = _validate_markup(p.get("reply_markup"), inline_only=True)
    return _apply_edit(server, msg, caption=caption or None, caption_entities=entities, reply_markup=markup)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    msg = _target(server, p, "message to edit not found")
    if not msg.from_bot:
        raise bad_request("message can't be edited")
    markup = _validate_markup(p.get("reply_markup"), inline_only=True)
    return _apply_edit(server, msg, reply_markup=markup)


@method("deleteMessage")
async def delete_message(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    msg = _target(server, p, "message to delete not found")
    msg.deleted = True
    server._notify()
    return True


# ====================================================================== callbacks and files
@method("answerCallbackQuery")
async def answer_callback_query(server: FakeTelegram, p: Params, ctx: RequestContext) -> bool:
    cid = str(p.get("callback_query_id") or "")
    if cid not in server.pending_callbacks:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = p.get("text")
    if text is not None and len(str(text)) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    server.pending_callbacks.pop(cid)
    server.callback_answers[cid] = dict(p.values)
    server._notify()
    return True


@method("getFile")
async def get_file(server: FakeTelegram, p: Params, ctx: RequestContext) -> dict[str, Any]:
    rec = server.files.get(str(p.get("file_id") or ""))
    if rec is None:
        raise bad_request("invalid file_id")
    if rec.file_size > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return rec.api_file()
