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
        "docs/state-chart.md is stale: run `python -m workflows.lifecycle` (or check with --check)"
    )


def test_state_chart_command_writes_where_told_and_checks(tmp_path, capsys):
    out = tmp_path / "chart.md"
    assert lifecycle.main(["--out", str(out), "--check"]) == 1  # missing counts as out of date
    assert not out.exists()
    assert lifecycle.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == lifecycle.state_chart_markdown()
    assert lifecycle.main(["--out", str(out), "--check"]) == 0
    out.write_text("stale", encoding="utf-8")
    assert lifecycle.main(["--out", str(out), "--check"]) == 1
    assert out.read_text(encoding="utf-8") == "stale"  # --check never writes
    assert lifecycle.main(["--check"]) == 0  # docs/state-chart.md itself
    with pytest.raises(SystemExit) as exc:
        lifecycle.main(["--help"])
    assert exc.value.code == 0 and "--check" in capsys.readouterr().out
