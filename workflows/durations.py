"""Human durations ("30m", "24h", "7d", "1h30m") for deadlines and timers.

Lives in the domain (not in ``bot``) because both the config loader and the domain's
``Policies.from_config`` parse the same strings, and ``workflows`` must not import ``bot``.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+")

HINT = "a duration like 30m, 24h or 7d"


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """``"30m"`` → 30 minutes. Units: s, m, h, d, w; parts combine (``"1h30m"``). A bare number (int, float
    or numeric string) means seconds. Raises :class:`ValueError` naming the bad value; negative durations
    are rejected (a deadline in the past is never what the operator meant)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):  # bool is an int subclass; `true` in TOML is a mistake, not 1 second
        raise ValueError(f"{value!r} is not {HINT}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not {HINT}")
    else:
        raise ValueError(f"{value!r} is not {HINT}")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative; expected {HINT}")
    return timedelta(seconds=seconds)


def parse_duration_at(where: str, value: str | int | float | timedelta) -> timedelta:
    """:func:`parse_duration`, with the config key in the error (``ValueError("due: '6x' is not ...")``)."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def format_duration(delta: timedelta) -> str:
    """The inverse, for messages and exported config: ``timedelta(hours=24)`` → ``"1d"``, 90 min → ``"1h30m"``."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)
