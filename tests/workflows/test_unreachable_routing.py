"""Routing passes over officials a notice cannot reach (issue 10, finding 2), in the domain, on both databases:
who is skipped and why, the fallback when nobody is reachable, the admins told once per person, and an urgent
alert to a township commander who never registered reported like an owner."""

from __future__ import annotations

from sqlalchemy import update

from storage.models import Person
from tests.workflows.conftest import ROUTING
from workflows.cases import CaseService


def _registered(world, *codes: str) -> None:
    with world.db.session() as s:
        for i, code in enumerate(codes):
            s.execute(
                update(Person)
                .where(Person.id == world.id(code))
                .values(telegram_user_id=7000 + i, telegram_chat_id=7000 + i)
            )


def _service(world) -> CaseService:
    return CaseService(world.db, world.clock, world.classifier, None, {**ROUTING, "skip_unreachable": True})


def test_unregistered_grid_leader_is_skipped_and_admins_told_once(world) -> None:
    _registered(world, "P1111", "P100", "P001", "P003")
    cases = _service(world)
    first = cases.file_report(world.id("P1111"), text="路灯坏了")
    assert first.owner.id == world.id("P100")
    skipped = [e for e in cases.timeline(first.id, world.id("P001")) if e.kind == "skipped_unreachable"]
    assert [(x["name"], x["why"]) for x in skipped[0].data["skipped"]] == [("王建国", "not_registered")]
    cases.file_report(world.id("P1111"), text="另一盏路灯也坏了")
    notices = world.notes("official_unreachable")
    assert {n.recipient_id for n in notices} == world.ids(
        "P001", "P003", "P004"
    )  # admins + the county centre
    assert len(notices) == 3  # once per person, not per case


def test_nobody_reachable_keeps_the_first_holder_and_says_so(world) -> None:
    cases = _service(world)
    case = cases.file_report(world.id("P1111"), text="路灯坏了")
    assert case.owner.id == world.id("P110")
    kinds = [e.kind for e in cases.timeline(case.id, world.id("P001"))]
    assert "unreachable_stays" in kinds
    assert world.notes("official_unreachable")[0].payload["fallback"] is True


def test_an_urgent_alert_that_cannot_arrive_is_reported(world) -> None:
    _registered(world, "P1111", "P110", "P001", "P003", "P004")  # township commander P100 never registered
    cases = _service(world)
    cases.file_report(world.id("P1111"), text="羊圈着火了")
    about = {n.payload["person"]["name"] for n in world.notes("official_unreachable")}
    assert about == {"陈志强"}
