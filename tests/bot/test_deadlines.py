"""Deadlines officials type for a task, read in Beijing time (UTC+8) and returned as naive UTC."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.deadlines import choice_deadline, choices, parse_deadline

NOW = datetime(2026, 1, 5, 8, 0)  # 16:00 in Beijing


@pytest.mark.parametrize(("text", "local"), [
    ("18:00", "2026-01-05 18:00"),
    ("18：30", "2026-01-05 18:30"),
    ("今晚10点", "2026-01-05 22:00"),
    ("晚上8点", "2026-01-05 20:00"),
    ("明天 12:00", "2026-01-06 12:00"),
    ("明天下午3点", "2026-01-06 15:00"),
    ("后天9点", "2026-01-07 09:00"),
    ("1月8日", "2026-01-08 18:00"),
    ("1月8日 9:30", "2026-01-08 09:30"),
    ("2026-02-01 10:00", "2026-02-01 10:00"),
    ("07:00", "2026-01-05 07:00"),  # already past: returned as it is, the domain refuses it
])
def test_clock_times_and_dates(text: str, local: str) -> None:
    got = parse_deadline(text, NOW)
    assert got is not None and (got + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") == local


@pytest.mark.parametrize(("text", "delta"), [("3天", timedelta(days=3)), ("6小时", timedelta(hours=6)),
                                             ("2天内", timedelta(days=2)), ("12h", timedelta(hours=12))])
def test_relative_deadlines(text: str, delta: timedelta) -> None:
    assert parse_deadline(text, NOW) == NOW + delta


@pytest.mark.parametrize("text", ["", "不知道", "25:00", "2月30日", "0天", "尽快", "18:61"])
def test_anything_else_is_not_a_deadline(text: str) -> None:
    assert parse_deadline(text, NOW) is None


def test_buttons_leave_out_times_already_past_today() -> None:
    late = datetime(2026, 1, 5, 12, 0)  # 20:00 in Beijing: "today 18:00" is gone, "tonight 22:00" remains
    codes = [code for code, _ in choices(late, timedelta(hours=6))]
    assert codes == ["tpl", "t22", "m12", "d3", "d7"]
    assert choice_deadline("tpl", late, timedelta(hours=6)) == late + timedelta(hours=6)
    assert choice_deadline("m12", late) == datetime(2026, 1, 6, 4, 0)
    assert choice_deadline("zz", late) is None
