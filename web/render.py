"""Templates and the small helpers they use: texts in the viewer's language, labels, local times.

Jinja2 autoescapes every value (reports are free text typed by anyone), templates live in ``web/templates``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from i18n import LANGUAGE_NAMES, UI_LANGUAGES, event_text, label, t

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def local(value: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A naive-UTC database time shown in the county's time zone."""
    if value is None:
        return "—"
    return value.replace(tzinfo=UTC).astimezone(tz).strftime(fmt)


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def build_environment(timezone: str) -> Environment:
    tz = ZoneInfo(timezone)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(t=t, label=label, event_text=event_text, LANGUAGES=UI_LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES)
    env.filters["local"] = lambda v, fmt="%Y-%m-%d %H:%M": local(v, tz, fmt)
    env.filters["hours"] = hours
    env.filters["percent"] = percent
    return env


def context(request: Any, **values: Any) -> dict[str, Any]:
    """Values every page gets: the request, the session (None when signed out), the language, the CSRF token."""
    session = getattr(request.state, "session", None)
    return {"request": request, "session": session, "lang": request.state.lang,
            "csrf": session.csrf_token if session is not None else "", **values}
