"""Deadline policy from config and the wake-up arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workflows.policy import DEFAULT_POLICIES, DeadlinePolicy, Policies, fresh_deadlines, next_wakeup

T0 = datetime(2026, 1, 5, 8, 0)


def test_defaults_match_the_liaison_rules():
    p = Policies.from_config(None)
    assert p.for_urgency("urgent") == DeadlinePolicy(
        timedelta(minutes=30), timedelta(hours=24), remind_every=timedelta(minutes=30), ack_pause=timedelta(hours=1)
    )
    assert p.for_urgency("priority").remind_every == timedelta(hours=4)
    general = p.for_urgency("general")
    assert (general.ack_within, general.resolve_within) == (timedelta(hours=24), timedelta(days=7))
    assert general.remind_every is None and general.remind_before_resolve == timedelta(days=1)
    assert general.autoclose_after == timedelta(days=3)


def test_from_config_parses_strings_and_keeps_unset_defaults():
    p = Policies.from_config({"urgent": {"ack_within": "15m", "resolve_within": "12h"},
                              "general": {"remind_before_resolve": "off", "autoclose_after": 86400}})
    assert p.for_urgency("urgent").ack_within == timedelta(minutes=15)
    assert p.for_urgency("urgent").remind_every == timedelta(minutes=30)
    assert p.for_urgency("general").remind_before_resolve is None
    assert p.for_urgency("general").autoclose_after == timedelta(days=1)
    assert p.for_urgency("priority") == DEFAULT_POLICIES["priority"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"urgent": {"ack_within": "soon"}}, "urgent.ack_within"),
        ({"urgent": {"ack_withn": "1h"}}, "unknown key"),
        ({"critical": {}}, "unknown urgency"),
        ({"general": {"ack_within": "0s"}}, "longer than zero"),
    ],
)
def test_bad_config_names_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        Policies.from_config(config)


def test_json_round_trip():
    p = DEFAULT_POLICIES["general"]
    assert DeadlinePolicy.from_json(p.to_json()) == p
    assert p.to_json()["remind_every"] is None


def test_fresh_deadlines_wake_at_the_earliest_of_reminder_and_deadline():
    urgent = fresh_deadlines(DEFAULT_POLICIES["urgent"], T0)
    assert urgent.next_reminder_at == T0 + timedelta(minutes=30) == urgent.ack_due_at
    general = fresh_deadlines(DEFAULT_POLICIES["general"], T0)
    assert general.next_reminder_at == T0 + timedelta(hours=24)


def test_wakeup_after_accept_and_when_overdue():
    p = DEFAULT_POLICIES["general"]
    resolve_due = T0 + timedelta(days=7)
    assert next_wakeup(p, T0, accepted=True, ack_due=None, resolve_due=resolve_due) == T0 + timedelta(days=6)
    later = T0 + timedelta(days=6)
    assert next_wakeup(p, later, accepted=True, ack_due=None, resolve_due=resolve_due) == resolve_due
    overdue = T0 + timedelta(days=8)
    assert next_wakeup(p, overdue, accepted=True, ack_due=None, resolve_due=resolve_due) == overdue + timedelta(days=1)
    urgent = DEFAULT_POLICIES["urgent"]
    assert next_wakeup(urgent, overdue, accepted=False, ack_due=T0, resolve_due=T0) == overdue + timedelta(minutes=30)
