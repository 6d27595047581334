"""Deadlines with a FakeClock: reminders, escalation up the chain, reminding at the top, auto-close, reopen,
fire-once under crashes and downtime, and policies frozen onto running cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from storage.models import Case, CaseEvent
from workflows.policy import Policies
from workflows.scheduler import DueWork


def due(world, service=None) -> DueWork:
    return DueWork(world.db, world.clock, service or world.cases)


def kinds(world, case_id: int) -> list[str]:
    with world.db.session() as s:
        return list(s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def test_general_case_escalates_up_the_chain_then_keeps_reminding_at_the_top(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    assert work.run_once().total == 0
    world.clock.advance(hours=23, minutes=59)
    assert work.run_once().total == 0

    world.clock.advance(minutes=1)  # ack deadline: grid leader did nothing
    assert work.run_once().escalations == 1
    view = world.cases.get_case(case.id, world.id("P1111"))
    assert view.owner.id == world.id("P100") and view.escalation_level == 1 and view.state == "assigned"
    assert view.ack_due_at == world.clock.now() + timedelta(hours=24)  # fresh deadlines from now
    esc = world.notes("case_escalated")
    assert {n.recipient_id for n in esc} == world.ids("P1111", "P110", "P100")
    assert esc[0].payload["reason"] == "ack_overdue" and esc[0].payload["to_owner"]["name"] == "陈志强"
    assert work.run_once().total == 0  # fired once

    world.clock.advance(hours=24)
    assert work.run_once().escalations == 1
    top = world.cases.get_case(case.id, world.id("P002"))
    assert top.owner.id == world.id("P002") and top.escalation_level == 2
    assert "escalate" not in top.allowed_actions  # nobody above the county commander

    world.clock.advance(hours=24)  # missed at the top: remind, overdue, daily for general
    summary = work.run_once()
    assert (summary.escalations, summary.overdue_reminders) == (0, 1)
    reminder = world.notes("reminder")[-1]
    assert reminder.recipient_id == world.id("P002")
    assert reminder.payload["overdue"] is True and reminder.payload["stage"] == "ack"
    assert world.cases.get_case(case.id, world.id("P002")).overdue
    assert work.run_once().total == 0
    world.clock.advance(hours=23)
    assert work.run_once().total == 0
    world.clock.advance(hours=1)
    assert work.run_once().overdue_reminders == 1
    assert len(world.notes("reminder")) == 2


def test_urgent_case_escalates_after_30_minutes_and_reminds_every_30_at_the_top(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="着火了 救命")
    world.clock.advance(minutes=30)
    assert work.run_once().escalations == 1
    world.clock.advance(minutes=30)
    assert work.run_once().escalations == 1
    assert world.cases.get_case(case.id, world.id("P002")).owner.id == world.id("P002")
    for _ in range(3):
        world.clock.advance(minutes=30)
        assert work.run_once().overdue_reminders == 1
    assert len(world.notes("reminder", recipient="P002")) == 3


def test_reminders_repeat_until_accepted_and_downtime_coalesces_them(world):
    policies = Policies.from_config({"urgent": {"ack_within": "2h", "remind_every": "30m"}})
    service = world.service(policies)
    work = due(world, service)
    case = service.file_report(world.id("P1111"), text="着火了")
    world.clock.advance(minutes=30)
    assert work.run_once().reminders == 1
    world.clock.advance(minutes=70)  # "down" for two reminder slots
    assert work.run_once().reminders == 1  # one, not two
    assert work.run_once().total == 0
    with world.db.session() as s:
        assert s.get(Case, case.id).next_reminder_at == world.clock.now() + timedelta(minutes=20)  # = ack deadline
    service.accept(case.id, world.id("P110"))
    world.clock.advance(minutes=20)
    assert work.run_once().total == 0  # accepted: no ack reminders, no ack escalation
    reminders = world.notes("reminder")
    assert [n.payload["stage"] for n in reminders] == ["ack", "ack"]
    assert all(n.payload["overdue"] is False for n in reminders)


def test_accepted_general_case_gets_one_reminder_before_the_resolve_deadline_then_escalates(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.cases.accept(case.id, world.id("P110"))
    world.clock.advance(days=5, hours=23)
    assert work.run_once().total == 0
    world.clock.advance(hours=1)  # one day before the resolve deadline
    assert work.run_once().reminders == 1
    assert world.notes("reminder")[0].payload["stage"] == "resolve"
    world.clock.advance(hours=12)
    assert work.run_once().total == 0
    world.clock.advance(hours=12)
    assert work.run_once().escalations == 1
    assert world.notes("case_escalated")[0].payload["reason"] == "resolve_overdue"
    view = world.cases.get_case(case.id, world.id("P100"))
    assert view.state == "assigned" and view.owner.id == world.id("P100")


def test_resolved_case_closes_itself_after_the_quiet_period(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.cases.resolve(case.id, world.id("P110"), "修好了")
    world.clock.advance(days=2, hours=23)
    assert work.run_once().total == 0
    world.clock.advance(hours=1)
    assert work.run_once().auto_closed == 1
    view = world.cases.get_case(case.id, world.id("P1111"))
    assert view.state == "closed" and view.close_reason == "auto"
    assert world.recipients("case_closed") == world.ids("P1111", "P110")
    assert all(n.payload["auto"] for n in world.notes("case_closed"))
    assert work.run_once().total == 0


def test_reopen_goes_back_to_the_same_owner_with_fresh_deadlines(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.cases.resolve(case.id, world.id("P110"), "修好了")
    world.clock.advance(days=1)
    view = world.cases.reopen(case.id, world.id("P1111"), "还是不亮")
    assert view.state == "assigned" and view.owner.id == world.id("P110")
    assert view.ack_due_at == world.clock.now() + timedelta(hours=24) and view.resolution_note is None
    note = world.notes("case_reopened")[0]
    assert note.recipient_id == world.id("P110") and note.payload["reason"] == "还是不亮"
    world.clock.advance(days=3)
    summary = work.run_once()
    assert summary.auto_closed == 0  # the old auto-close is gone ...
    assert summary.escalations == 1  # ... and the fresh ack deadline counts again
    assert world.cases.get_case(case.id, world.id("P1111")).state == "assigned"
    # a closed case can be reopened too
    world.cases.resolve(case.id, world.id("P100"), "真的修好了")
    world.cases.confirm(case.id, world.id("P1111"))
    assert world.cases.reopen(case.id, world.id("P1111"), "又坏了").state == "assigned"


def test_crash_before_commit_rolls_back_and_the_next_run_fires_exactly_once(world):
    policies = Policies.from_config({"urgent": {"ack_within": "2h", "remind_every": "30m"}})
    service = world.service(policies)
    work = due(world, service)
    case = service.file_report(world.id("P1111"), text="着火了")
    world.clock.advance(minutes=30)
    crashed = {"done": False}

    def crash(session: Session) -> None:
        if not crashed["done"] and any(getattr(o, "kind", None) == "reminder" for o in session.new):
            session.flush()  # the reminder is enqueued and written ...
            crashed["done"] = True
            raise RuntimeError("power cut")  # ... and the process dies before COMMIT

    event.listen(Session, "before_commit", crash)
    try:
        summary = work.run_once()
    finally:
        event.remove(Session, "before_commit", crash)
    assert crashed["done"] and summary.reminders == 0 and len(summary.errors) == 1
    assert world.notes("reminder") == []
    assert "reminder" not in kinds(world, case.id)
    # "restart": a fresh DueWork fires it once, and only once
    again = due(world, service)
    assert again.run_once().reminders == 1
    assert again.run_once().total == 0
    assert len(world.notes("reminder")) == 1
    assert kinds(world, case.id).count("reminder") == 1


def test_downtime_escalates_once_per_run_with_deadlines_from_now(world):
    work = due(world)
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    world.clock.advance(days=5)  # the server was down for days
    assert work.run_once().escalations == 1
    assert work.run_once().total == 0
    view = world.cases.get_case(case.id, world.id("P1111"))
    assert view.escalation_level == 1 and view.ack_due_at == world.clock.now() + timedelta(hours=24)


def test_running_cases_keep_the_policy_they_were_assigned_with(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")  # default: ack 24h
    strict = world.service(Policies.from_config({"general": {"ack_within": "1h", "resolve_within": "2h"}}))
    work = due(world, strict)
    world.clock.advance(hours=2)
    assert work.run_once().total == 0  # still the 24h it was promised
    fresh = strict.file_report(world.id("P1112"), text="路灯又坏了")
    assert fresh.ack_due_at == world.clock.now() + timedelta(hours=1)
    world.clock.advance(hours=22)
    assert work.run_once().escalations == 2  # both: the old at 24h, the new one at 1h
    escalated = strict.get_case(case.id, world.id("P1111"))
    assert escalated.ack_due_at == world.clock.now() + timedelta(hours=24)  # re-deadlined from its own copy


@pytest.mark.parametrize("state_change", ["reject", "duplicate"])
def test_closed_off_cases_never_wake_up(world, state_change):
    work = due(world)
    first = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    case = world.cases.file_report(world.id("P1112"), text="路灯坏了")
    if state_change == "reject":
        world.cases.reject(case.id, world.id("P110"), "不属于联户范围")
    else:
        world.cases.mark_duplicate(case.id, world.id("P110"), first.id, "同一盏灯")
    world.clock.advance(days=30)
    assert work.run_once().escalations == 1  # only the first case
