"""Permissions inside the service, views for lists, and actions that need a reason."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from storage.models import Case, TriageCorrection
from workflows.errors import ConcurrentUpdate, InvalidTransition, NotPermitted, ValidationError


def test_outsider_can_neither_see_nor_act(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    for outsider in ("P1211", "P120", "P200", "P210", "P010"):
        with pytest.raises(NotPermitted):
            world.cases.get_case(case.id, world.id(outsider))
        with pytest.raises(NotPermitted) as err:
            world.cases.accept(case.id, world.id(outsider))
        assert err.value.code == "not_permitted" and err.value.params["action"] == "accept"
    assert not world.cases.can_act(case.id, world.id("P1211"))


def test_reporter_may_confirm_reopen_add_and_correct_but_not_handle(world):
    reporter = world.id("P1111")
    case = world.cases.file_report(reporter, text="路灯坏了")
    for action in ("accept", "escalate", "reject"):
        with pytest.raises(NotPermitted):
            if action == "reject":
                world.cases.reject(case.id, reporter, "算了")
            else:
                getattr(world.cases, action)(case.id, reporter)
    with pytest.raises(InvalidTransition) as err:
        world.cases.confirm(case.id, reporter)  # allowed to the reporter, but not before it is resolved
    assert err.value.params == {"case_id": case.id, "state": "assigned", "action": "confirm"}
    with pytest.raises(NotPermitted):
        world.cases.confirm(case.id, world.id("P110"))  # only the reporter confirms


def test_supervisor_may_take_over_and_other_officials_only_watch(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    township = world.cases.get_case(case.id, world.id("P100"))
    assert {"accept", "resolve", "escalate", "reassign"} <= set(township.allowed_actions)
    county = world.cases.get_case(case.id, world.id("P002"))
    assert {"accept", "resolve", "reassign", "reject"} <= set(county.allowed_actions)
    accepted = world.cases.accept(case.id, world.id("P100"))
    assert accepted.owner.id == world.id("P100")
    took_over = [n for n in world.notes("case_accepted") if n.recipient_id == world.id("P110")]
    assert took_over and took_over[0].payload["took_over"] is True
    # the former owner, now below the owner, still sees the case but may not act on it
    assert world.cases.get_case(case.id, world.id("P110")).allowed_actions == ()
    with pytest.raises(NotPermitted):
        world.cases.resolve(case.id, world.id("P110"), "好了")


def test_governance_operator_sees_and_escalates_urgent_cases_only(world):
    general = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    urgent = world.cases.file_report(world.id("P1111"), text="着火了")
    op = world.id("P003")
    with pytest.raises(NotPermitted):
        world.cases.get_case(general.id, op)
    assert world.cases.get_case(urgent.id, op).allowed_actions == ("escalate",)
    with pytest.raises(NotPermitted):
        world.cases.accept(urgent.id, op)
    view = world.cases.escalate(urgent.id, op, "电话联系不上网格长")
    assert view.owner.id == world.id("P100") and view.escalation_level == 1
    esc = world.notes("case_escalated")
    assert {n.recipient_id for n in esc} == world.ids("P1111", "P110", "P100")
    assert esc[0].payload["reason"] == "manual" and esc[0].payload["note"] == "电话联系不上网格长"
    assert [c.id for c in world.cases.list_cases(op, scope="jurisdiction")] == [urgent.id]


def test_escalating_at_the_top_is_refused_clearly(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.cases.escalate(case.id, world.id("P110"))
    world.cases.escalate(case.id, world.id("P100"))
    with pytest.raises(InvalidTransition) as err:
        world.cases.escalate(case.id, world.id("P002"))
    assert err.value.code == "no_higher_level"


def test_reassign_only_within_jurisdiction(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    with pytest.raises(NotPermitted) as err:
        world.cases.reassign(case.id, world.id("P100"), world.id("P210"))  # another township
    assert err.value.code == "target_not_in_jurisdiction"
    with pytest.raises(NotPermitted):
        world.cases.reassign(case.id, world.id("P100"), world.id("P1112"))  # not an official
    targets = {p.code for p in world.cases.jurisdiction_people(world.id("P100"))}
    assert targets == {"P110", "P120"}
    view = world.cases.reassign(case.id, world.id("P100"), world.id("P120"))
    assert view.owner.id == world.id("P120") and view.state == "assigned"
    assert world.recipients("case_assigned") == world.ids("P110", "P120")
    assert world.recipients("case_reassigned") == world.ids("P110", "P1111")
    with pytest.raises(ValidationError):
        world.cases.reassign(case.id, world.id("P100"), world.id("P120"))


def test_reject_and_duplicate_need_and_record_a_reason(world):
    first = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    second = world.cases.file_report(world.id("P1112"), text="路灯坏了")
    third = world.cases.file_report(world.id("P1121"), text="想要买彩票")
    with pytest.raises(ValidationError) as err:
        world.cases.reject(third.id, world.id("P110"), "")
    assert err.value.code == "reason_required"
    rejected = world.cases.reject(third.id, world.id("P110"), "不属于联户事项")
    assert rejected.state == "rejected" and rejected.close_reason == "不属于联户事项"
    dup = world.cases.mark_duplicate(second.id, world.id("P110"), first.id, "同一盏路灯")
    assert dup.state == "duplicate" and dup.duplicate_of_id == first.id
    notes = world.notes("case_rejected")
    assert [(n.recipient_id, n.payload["reason"], n.payload["duplicate_of"]) for n in notes] == [
        (world.id("P1121"), "不属于联户事项", None),
        (world.id("P1112"), "同一盏路灯", first.id),
    ]
    with pytest.raises(InvalidTransition):
        world.cases.accept(third.id, world.id("P110"))


def test_correct_triage_by_the_reporter_reroutes_to_the_department(world):
    case = world.cases.file_report(world.id("P1111"), text="家里有人不舒服")
    assert (case.category, case.owner.id) == ("other", world.id("P110"))
    view = world.cases.correct_triage(case.id, world.id("P1111"), category="medical", urgency="priority")
    assert (view.category, view.urgency, view.owner.id) == ("medical", "priority", world.id("P010"))
    assert view.ack_due_at == world.clock.now() + timedelta(hours=4)  # re-deadlined with the new policy
    with world.db.session() as s:
        corr = s.scalars(select(TriageCorrection)).one()
        assert (corr.old_category, corr.new_category, corr.old_urgency, corr.new_urgency) == (
            "other", "medical", "general", "priority")
        assert s.get(Case, case.id).policy["ack_within"] == 4 * 3600
    assert world.recipients("case_assigned") == world.ids("P110", "P010")
    assert world.recipients("case_reassigned") == world.ids("P110")


def test_correct_triage_to_urgent_restarts_the_clock_and_alerts(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.clock.advance(hours=2)
    view = world.cases.correct_triage(case.id, world.id("P110"), urgency="urgent")
    assert view.owner.id == world.id("P110") and view.urgency == "urgent"
    assert view.ack_due_at == world.clock.now() + timedelta(minutes=30)
    assert world.recipients("urgent_alert") == world.ids("P003", "P004", "P100")
    with pytest.raises(ValidationError):
        world.cases.correct_triage(case.id, world.id("P110"), urgency="very")


def test_list_cases_scopes_order_and_pagination(world):
    general = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.clock.advance(minutes=1)
    urgent = world.cases.file_report(world.id("P1112"), text="着火了")
    other_township = world.cases.file_report(world.id("P2111"), text="路灯坏了")
    mine = world.cases.list_cases(world.id("P110"))
    assert [c.id for c in mine] == [urgent.id, general.id]  # most urgent first
    assert mine[0].allowed_actions[0] == "accept"
    assert world.cases.count_cases(world.id("P110")) == 2
    assert [c.id for c in world.cases.list_cases(world.id("P110"), limit=1, offset=1)] == [general.id]
    county = world.cases.list_cases(world.id("P002"), scope="jurisdiction")
    assert {c.id for c in county} == {general.id, urgent.id, other_township.id}
    assert [c.id for c in world.cases.list_cases(world.id("P1111"), scope="reported")] == [general.id]
    assert world.cases.list_cases(world.id("P110"), overdue_only=True) == []
    world.clock.advance(timedelta(hours=1))
    assert [c.id for c in world.cases.list_cases(world.id("P110"), overdue_only=True)] == [urgent.id]
    world.cases.resolve(urgent.id, world.id("P110"), "已处理")
    world.cases.confirm(urgent.id, world.id("P1112"))
    assert world.cases.count_cases(world.id("P110")) == 1
    assert world.cases.count_cases(world.id("P110"), open_only=False) == 2
    with pytest.raises(ValidationError):
        world.cases.list_cases(world.id("P110"), scope="everything")


def test_ledger_rows(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.cases.resolve(case.id, world.id("P110"), "修好了")
    rows = world.cases.ledger()
    assert len(rows) == 1
    row = rows[0]
    assert row["case_id"] == case.id and row["state"] == "resolved" and row["owner"] == "王建国"
    assert row["unit"] == "尕玛示范县 / 扎西乡 / 多卡村 / 多卡村第一网格"
    assert row["resolved_on_time"] is True
    assert world.cases.ledger(world.id("P200")) == []


def test_two_officials_accepting_at_once_one_wins(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    barrier = threading.Barrier(2)
    local = threading.local()

    def both_loaded(target, context):  # each thread's first load of the case waits for the other's
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait(timeout=10)

    results: dict[str, object] = {}

    def accept(code: str) -> None:
        try:
            results[code] = world.cases.accept(case.id, world.id(code))
        except Exception as exc:
            results[code] = exc

    event.listen(Case, "load", both_loaded)
    try:
        threads = [threading.Thread(target=accept, args=(code,)) for code in ("P110", "P100")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        event.remove(Case, "load", both_loaded)
    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes == ["CaseView", "ConcurrentUpdate"], results
    loser = next(r for r in results.values() if isinstance(r, ConcurrentUpdate))
    assert loser.params == {"case_id": case.id, "state": "accepted"}
    assert "someone else already acted" in str(loser)
    assert len(world.notes("case_accepted", recipient="P1111")) == 1
    timeline = world.cases.timeline(case.id, world.id("P002"))
    assert [e.kind for e in timeline].count("accepted") == 1
