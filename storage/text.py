"""Any text a user can send, storable on both databases.

Why: a Telegram message may carry characters no database column takes. PostgreSQL refuses a NUL (U+0000) in
a text column (``psycopg.DataError`` — in the field run that lost the report before anything was stored) and
neither database can encode a lone UTF-16 surrogate (``\\ud800`` is valid JSON, so Telegram passes it on).
"Store first" must hold for whatever bytes arrive, so:

- :func:`storable` gives the text a column can hold (NUL removed, lone surrogates → U+FFFD) and says whether
  it had to change anything;
- :func:`original_record` keeps the exact original losslessly (UTF-8 with surrogates passed through, base64)
  for the report's audit event, so nothing the worker sent is lost;
- :func:`install` registers a ``before_flush`` net on every session: any string column of a new or changed row
  is made storable the same way, so a path that forgot to clean (a resolution note, a reason, a household
  name) cannot lose a write either.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import Session

_BAD = re.compile("[\x00\ud800-\udfff]")


def storable(text: str | None) -> tuple[str | None, bool]:
    """(text a database column can hold, whether anything had to change)."""
    if text is None or not _BAD.search(text):
        return text, False
    return _BAD.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text), True


def original_record(text: str) -> dict[str, Any]:
    """The exact original, lossless: ``{"encoding": "utf-8+surrogatepass", "base64": ...}``."""
    raw = text.encode("utf-8", "surrogatepass")
    return {"encoding": "utf-8+surrogatepass", "base64": base64.b64encode(raw).decode("ascii")}


def restore_original(record: dict[str, Any]) -> str:
    """The text :func:`original_record` kept, character for character."""
    return base64.b64decode(record["base64"]).decode("utf-8", "surrogatepass")


def _clean_json(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            nv, c = _clean_json(v)
            out[k] = nv
            changed |= c
        return (out, True) if changed else (value, False)
    if isinstance(value, list):
        items = [_clean_json(v) for v in value]
        if any(c for _, c in items):
            return [v for v, _ in items], True
    return value, False


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        mapper = getattr(obj, "__mapper__", None)
        if mapper is None:
            continue
        for column in mapper.columns:
            key = mapper.get_property_by_column(column).key
            value = obj.__dict__.get(key)
            if value is None:
                continue
            if isinstance(column.type, String) and isinstance(value, str):
                clean, changed = storable(value)
            elif isinstance(value, dict | list) and column.type.__class__.__name__ == "JSON":
                clean, changed = _clean_json(value)
            else:
                continue
            if changed:
                setattr(obj, key, clean)


_installed = False


def install() -> None:
    """Register the net once for every :class:`~sqlalchemy.orm.Session` (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _before_flush)
        _installed = True
