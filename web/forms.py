"""Reading form fields: bounded sizes, clear 400s, never a crash on malformed input."""

from __future__ import annotations

from typing import Any

from web.auth import HTTPProblem

MAX_TEXT = 4000  # characters in one text field (a report, a note, a reason)


def text(form: Any, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise HTTPProblem(400, "web.err.bad_field", field=name)
    value = (value or "").strip()
    if len(value) > limit:
        raise HTTPProblem(400, "web.err.too_long", field=name, limit=limit)
    if required and not value:
        raise HTTPProblem(400, "web.err.required", field=name)
    return value or None


def integer(form: Any, name: str, *, required: bool = False) -> int | None:
    raw = form.get(name)
    if raw in (None, ""):
        if required:
            raise HTTPProblem(400, "web.err.required", field=name)
        return None
    if not isinstance(raw, str) or not raw.strip().isdigit() or len(raw.strip()) > 12:
        raise HTTPProblem(400, "web.err.bad_field", field=name)
    return int(raw.strip())


def flag(form: Any, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")
