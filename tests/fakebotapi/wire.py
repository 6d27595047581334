"""Bot API wire format: decoding request parameters and encoding replies.

Telegram accepts the same parameters as a GET query string, an urlencoded form, a multipart form or a JSON
body. python-telegram-bot sends everything as form fields whose values are JSON-dumped when they are not plain
strings (``chat_id=42``, ``reply_markup={"inline_keyboard": ...}``, ``disable_notification=true``), and files
as extra multipart parts. We keep that decoding in one place so the method implementations see native Python
values no matter how a client chose to encode them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Fields that carry a JSON document when sent as a form field.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "menu_button",
    }
)

#: Fields that are integers on the wire (chat_id may also be "@username", handled by the methods).
INT_FIELDS = frozenset(
    {
        "offset",
        "limit",
        "message_id",
        "message_thread_id",
        "duration",
        "width",
        "height",
        "length",
        "cache_time",
        "max_connections",
        "user_id",
    }
)

#: Numeric fields a client may send with a fraction (PTB turns timedelta timeouts into floats).
FLOAT_FIELDS = frozenset({"timeout", "latitude", "longitude"})

#: Fields that are booleans on the wire.
BOOL_FIELDS = frozenset(
    {
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "show_alert",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "has_spoiler",
        "supports_streaming",
        "revoke",
    }
)


class ApiError(Exception):
    """A Bot API error reply: raised by a method implementation, turned into ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


#: Standard descriptions for injected HTTP faults, as Telegram words them.
STATUS_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


@dataclass
class Upload:
    """One multipart file part."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Params:
    """Decoded request parameters plus uploaded multipart parts (by part name)."""

    values: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.values or name in self.uploads

    def loggable(self) -> dict[str, Any]:
        """Parameters for ``server.calls``: values plus, for uploads, a short description instead of bytes."""
        out = dict(self.values)
        for name, up in self.uploads.items():
            out.setdefault(name, f"<upload {up.filename!r} {len(up.data)} bytes>")
        return out


def _coerce(name: str, value: Any) -> Any:
    """Turn one form-encoded string into the native value Telegram would see."""
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise bad_request(f"can't parse {name} JSON object") from exc
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError as exc:
            raise bad_request(f"invalid {name} specified") from exc
    if name in FLOAT_FIELDS:
        try:
            return float(value)
        except ValueError as exc:
            raise bad_request(f"invalid {name} specified") from exc
    if name in BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    if name in ("chat_id", "from_chat_id"):
        try:
            return int(value)
        except ValueError:
            return value  # "@channelusername"
    return value


def decode(
    query: dict[str, list[bytes]],
    body_args: dict[str, list[bytes]],
    files: dict[str, list[Any]],
    content_type: str,
    body: bytes,
) -> Params:
    """Build :class:`Params` from what tornado parsed (query, form/multipart body, files) or a JSON body."""
    raw: dict[str, Any] = {}
    for source in (query, body_args):
        for name, vals in source.items():
            if vals:
                raw[name] = vals[-1].decode("utf-8", "replace")
    if content_type.split(";")[0].strip().lower() == "application/json" and body:
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise bad_request("can't parse JSON request body") from exc
        if not isinstance(doc, dict):
            raise bad_request("JSON request body must be an object")
        raw.update(doc)
    params = Params(values={name: _coerce(name, v) for name, v in raw.items()})
    for name, parts in files.items():
        if parts:
            part = parts[-1]
            params.uploads[name] = Upload(
                filename=part.get("filename") or name,
                content_type=part.get("content_type") or "application/octet-stream",
                data=bytes(part.get("body") or b""),
            )
    return params
