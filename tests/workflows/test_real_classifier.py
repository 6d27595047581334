"""The case engine with the shipped rules classifier (workflows.triage.default_classifier) instead of the
test stand-in: the wiring the bot uses."""

from __future__ import annotations

from workflows.cases import CaseService
from workflows.triage import default_classifier

from .conftest import ROUTING


def test_real_classifier_routes_an_emergency_and_a_medical_report(world):
    service = CaseService(world.db, world.clock, default_classifier(), None, ROUTING)
    fire = service.file_report(world.id("P1111"), text="家里着火了，快来人")
    assert (fire.urgency, fire.category, fire.owner.id) == ("urgent", "safety", world.id("P110"))
    assert fire.cues and fire.confidence > 0.5
    assert world.recipients("urgent_alert", case_id=fire.id) == world.ids("P003", "P004", "P100")
    # A high fever for three days may be urgent or priority (the model and the rules weigh it); either way it
    # is medical, goes to the health desk, and is never "general".
    sick = service.file_report(world.id("P1112"), text="阿妈生病了，发高烧三天了")
    assert sick.urgency in ("urgent", "priority")
    assert (sick.category, sick.owner.id) == ("medical", world.id("P010"))
    pills = service.file_report(world.id("P1112"), text="阿妈的降压药吃完了 想问村医什么时候来")
    assert (pills.urgency, pills.category, pills.owner.id) == ("general", "medical", world.id("P010"))


def test_real_classifier_does_not_alert_on_a_negated_fire(world):
    service = CaseService(world.db, world.clock, default_classifier(), None, ROUTING)
    view = service.file_report(world.id("P1111"), text="没有着火，已经扑灭了")
    assert view.urgency != "urgent"
    assert world.notes("urgent_alert") == []
