"""Deadlines an official types or taps for a task, read in China Standard Time (UTC+8), returned as naive UTC.

Why a parser of our own (not dateutil): officials type short colloquial times — ``18:00``, ``明天 12:00``,
``今晚10点``, ``3天``, ``6小时``, ``1月8日``, ``2026-01-08 18:00`` — and a general parser guesses wrong on
Chinese words or silently picks the past. This one knows exactly these shapes, answers None for anything else
(the bot asks again), and never moves a time into the future on its own: a time that has passed is returned as
it is and the domain refuses it with "the deadline is in the past".
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from workflows.durations import format_duration

LOCAL = timedelta(hours=8)
_DAY_WORDS = {"今天": 0, "今日": 0, "今晚": 0, "明天": 1, "明日": 1, "明晚": 1, "后天": 2}
_HM = r"(\d{1,2})(?:[:：点时](\d{1,2})?分?)?"
_RELATIVE = re.compile(r"^(\d{1,3})\s*(天|日|d|小时|个小时|h|钟头)(?:内|以内|之内)?$", re.I)
_CLOCK = re.compile(rf"^(今天|今日|今晚|明天|明日|明晚|后天)?\s*(?:上午|早上|中午|下午|晚上)?\s*{_HM}$")
_DATE = re.compile(rf"^(?:(\d{{4}})[-/.年])?(\d{{1,2}})[-/.月](\d{{1,2}})日?(?:\s*{_HM})?$")
DEFAULT_HOUR = 18  # a day without a time means "by the end of the working day"


def _to_utc(local: datetime) -> datetime:
    return local - LOCAL


def _hour(raw_hour: str, raw_minute: str | None, text: str) -> tuple[int, int] | None:
    hour, minute = int(raw_hour), int(raw_minute or 0)
    if ("下午" in text or "晚" in text) and hour < 12:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return hour, minute


def parse_deadline(text: str, now: datetime) -> datetime | None:
    """``text`` as a deadline (naive UTC), or None when it is not one of the shapes above."""
    raw = (text or "").strip().replace("　", " ")
    if not raw:
        return None
    local_now = now + LOCAL
    m = _RELATIVE.match(raw)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        if n == 0:
            return None
        return now + (timedelta(days=n) if unit in ("天", "日", "d") else timedelta(hours=n))
    m = _CLOCK.match(raw)
    if m:
        hm = _hour(m.group(2), m.group(3), raw)
        if hm is None:
            return None
        day = local_now.date() + timedelta(days=_DAY_WORDS.get(m.group(1) or "", 0))
        return _to_utc(datetime.combine(day, time(*hm)))
    m = _DATE.match(raw)
    if m:
        year = int(m.group(1)) if m.group(1) else local_now.year
        try:
            day = date(year, int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        hm = _hour(m.group(4), m.group(5), raw) if m.group(4) else (DEFAULT_HOUR, 0)
        if hm is None:
            return None
        return _to_utc(datetime.combine(day, time(*hm)))
    return None


def choice_deadline(code: str, now: datetime, template_due: timedelta | None = None) -> datetime | None:
    """The deadline behind a button (``tkd`` codes): today 18:00, tonight 22:00, tomorrow 12:00, 3 or 7 days, the
    template's own duration."""
    today = (now + LOCAL).date()
    if code == "t18":
        return _to_utc(datetime.combine(today, time(18)))
    if code == "t22":
        return _to_utc(datetime.combine(today, time(22)))
    if code == "m12":
        return _to_utc(datetime.combine(today + timedelta(days=1), time(12)))
    if code == "d3":
        return now + timedelta(days=3)
    if code == "d7":
        return now + timedelta(days=7)
    if code == "tpl" and template_due is not None:
        return now + template_due
    return None


def choices(now: datetime, template_due: timedelta | None) -> list[tuple[str, str | tuple[str, dict[str, str]]]]:
    """The buttons to offer now (a time already past today is left out), as ``(code, (i18n key, params))``."""
    out: list[tuple[str, str | tuple[str, dict[str, str]]]] = []
    if template_due is not None:
        out.append(("tpl", ("task.due_template", {"due": format_duration(template_due)})))
    for code, key, params in (("t18", "task.due_today", {"time": "18:00"}),
                              ("t22", "task.due_today", {"time": "22:00"}),
                              ("m12", "task.due_tomorrow", {"time": "12:00"}),
                              ("d3", "task.due_days", {"days": "3"}), ("d7", "task.due_days", {"days": "7"})):
        due = choice_deadline(code, now)
        if due is not None and due > now + timedelta(minutes=30):
            out.append((code, (key, params)))
    return out
