"""「收到」 on a reminder counts (issue 10, finding 3), like an acknowledgement in Grafana OnCall or PagerDuty:
the owner's reminders pause for the policy's ``ack_pause``, then resume; the accept deadline still holds, so a
case that nobody accepts still escalates. Before, the toast said 已知道催办 and nothing changed."""

from __future__ import annotations

from datetime import timedelta

from workflows.policy import Policies
from workflows.scheduler import DueWork

POLICY = Policies.from_config({"urgent": {"ack_within": "30m", "remind_every": "10m", "ack_pause": "25m"}})


def test_acknowledging_pauses_reminders_but_the_accept_deadline_still_escalates(world) -> None:
    service = world.service(POLICY)
    work = DueWork(world.db, world.clock, service)
    case = service.file_report(world.id("P1111"), text="羊圈着火了 快来人")
    world.clock.advance(minutes=10)
    assert work.run_once().reminders == 1

    view = service.acknowledge_reminder(case.id, world.id("P110"))
    seen = [e for e in service.timeline(case.id, world.id("P110")) if e.kind == "reminder_seen"][-1]
    assert seen.data["paused_until"] == (world.clock.now() + timedelta(minutes=25)).isoformat()
    assert view.state == "assigned"

    world.clock.advance(minutes=10)  # a reminder was due here: paused
    assert work.run_once().total == 0
    world.clock.advance(minutes=10)  # 30 minutes (before the pause ends): the accept deadline holds
    assert work.run_once().escalations == 1
    assert service.get_case(case.id, world.id("P110")).owner.id == world.id("P100")
    assert len(world.notes("reminder", recipient="P110")) == 1


def test_reminders_resume_after_the_pause_at_the_top(world) -> None:
    """Overdue at the county commander (nobody above): reminders every 10 minutes; acknowledging silences
    them for 25, then they come back."""
    service = world.service(POLICY)
    work = DueWork(world.db, world.clock, service)
    case = service.file_report(world.id("P1111"), text="羊圈着火了 快来人")
    for _ in range(9):  # reminders, two escalations, then overdue at the top (accept deadline at 90 minutes)
        world.clock.advance(minutes=10)
        work.run_once()
    top = service.get_case(case.id, world.id("P002"))
    assert top.owner.id == world.id("P002") and top.overdue
    before = len(world.notes("reminder", recipient="P002"))
    service.acknowledge_reminder(case.id, world.id("P002"))
    world.clock.advance(minutes=10)
    work.run_once()
    world.clock.advance(minutes=10)
    work.run_once()
    assert len(world.notes("reminder", recipient="P002")) == before
    world.clock.advance(minutes=5)
    assert work.run_once().overdue_reminders == 1
    world.clock.advance(minutes=10)
    assert work.run_once().overdue_reminders == 1  # back to every 10 minutes
