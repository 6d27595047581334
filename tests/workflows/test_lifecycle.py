"""The shared state machine: every allowed and every forbidden transition, and the generated chart."""

from __future__ import annotations

import pytest

from workflows import lifecycle
from workflows.errors import InvalidTransition

ALLOWED = {
    ("reported", "assign"): "assigned",
    ("assigned", "accept"): "accepted",
    ("assigned", "resolve"): "resolved",
    ("accepted", "resolve"): "resolved",
    ("resolved", "confirm"): "closed",
    ("resolved", "auto_close"): "closed",
    ("resolved", "reopen"): "assigned",
    ("closed", "reopen"): "assigned",
    ("assigned", "escalate"): "assigned",
    ("accepted", "escalate"): "assigned",
    ("assigned", "reassign"): "assigned",
    ("accepted", "reassign"): "assigned",
    ("reported", "reject"): "rejected",
    ("assigned", "reject"): "rejected",
    ("accepted", "reject"): "rejected",
    ("reported", "mark_duplicate"): "duplicate",
    ("assigned", "mark_duplicate"): "duplicate",
    ("accepted", "mark_duplicate"): "duplicate",
}
FORBIDDEN = [
    (state, trigger)
    for state in lifecycle.STATES
    for trigger in lifecycle.TRIGGERS
    if (state, trigger) not in ALLOWED
]


@pytest.mark.parametrize(("state", "trigger"), sorted(ALLOWED))
def test_allowed_transition(state, trigger):
    assert lifecycle.next_state(state, trigger) == ALLOWED[(state, trigger)]
    assert trigger in lifecycle.triggers_from(state)


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN)
def test_forbidden_transition(state, trigger):
    with pytest.raises(InvalidTransition) as err:
        lifecycle.next_state(state, trigger)
    assert err.value.code == "invalid_transition"
    assert err.value.params == {"state": state, "action": trigger}
    assert state in str(err.value) and trigger in str(err.value)


def test_unknown_trigger_is_an_invalid_transition():
    with pytest.raises(InvalidTransition):
        lifecycle.next_state("assigned", "teleport")


def test_terminal_states_only_allow_reopening_a_closed_case():
    assert lifecycle.triggers_from("rejected") == []
    assert lifecycle.triggers_from("duplicate") == []
    assert lifecycle.triggers_from("closed") == ["reopen"]


def test_one_machine_shared_and_model_less():
    assert lifecycle.MACHINE.models == []
    assert set(lifecycle.MACHINE.states) == set(lifecycle.STATES)


def test_mermaid_chart_names_every_transition():
    chart = lifecycle.mermaid()
    assert chart.startswith("---\ntitle: ")
    assert "stateDiagram-v2" in chart
    assert "resolved --> closed: confirm | auto_close" in chart
    assert "closed --> assigned: reopen" in chart


def test_docs_state_chart_is_up_to_date():
    assert lifecycle.STATE_CHART_PATH.read_text(encoding="utf-8") == lifecycle.state_chart_markdown(), (
        "docs/state-chart.md is stale: run `python -m workflows.lifecycle`"
    )
