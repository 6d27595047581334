"""Follow-ups are triaged (urgency only goes up), and triage corrections accept only what the classifier knows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.models import TriageCorrection
from workflows.cases import CaseService
from workflows.errors import ValidationError
from workflows.triage import default_classifier


def _corrections(world) -> int:
    with world.db.session() as s:
        return s.scalar(select(func.count()).select_from(TriageCorrection)) or 0


def test_urgent_follow_up_raises_the_case_and_alerts(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    assert case.urgency == "general" and not world.recipients("urgent_alert")
    world.clock.advance(minutes=5)
    view = world.cases.add_details(case.id, world.id("P1111"), "羊圈着火了")
    assert (view.urgency, view.category, view.owner.id) == ("urgent", "other", world.id("P110"))
    assert "羊圈着火了" in view.text  # the alert card shows why
    assert view.ack_due_at == world.clock.now() + timedelta(minutes=30)  # the urgent policy, from now
    assert world.recipients("urgent_alert", case.id) == world.ids("P003", "P004", "P100")
    assert world.recipients("triage_corrected", case.id) == world.ids("P110")
    assert world.recipients("details_added", case.id) == world.ids("P110")
    assert _corrections(world) == 0  # the machine's re-triage is not a human correction (training data)


def test_calm_follow_up_never_lowers_urgency_and_official_details_do_not_retriage(world):
    case = world.cases.file_report(world.id("P1111"), text="着火了")
    assert case.urgency == "urgent"
    alerts = len(world.notes("urgent_alert"))
    view = world.cases.add_details(case.id, world.id("P1111"), "现在好一点了")
    assert view.urgency == "urgent" and len(world.notes("urgent_alert")) == alerts
    calm = world.cases.file_report(world.id("P1112"), text="路灯坏了")
    world.cases.add_details(calm.id, world.id("P110"), "我明天去看，附近没有着火")  # the owner's note
    assert world.cases.get_case(calm.id, world.id("P110")).urgency == "general"


def test_classifier_failure_on_a_follow_up_still_stores_it(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    view = world.cases.add_details(case.id, world.id("P1111"), "系统崩溃了吗")
    assert view.urgency == "general"
    assert world.recipients("details_added", case.id) == world.ids("P110")


def test_forged_category_or_urgency_is_refused_and_not_recorded(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    with pytest.raises(ValidationError) as err:
        world.cases.correct_triage(case.id, world.id("P1111"), category="zzz_forged")
    assert err.value.code == "unknown_category"
    with pytest.raises(ValidationError) as err:
        world.cases.correct_triage(case.id, world.id("P1111"), urgency="extreme")
    assert err.value.code == "unknown_urgency"
    assert _corrections(world) == 0
    world.cases.correct_triage(case.id, world.id("P1111"), category="water")  # this classifier knows "water"
    assert _corrections(world) == 1


def test_categories_added_in_config_can_be_chosen(world):
    classifier = default_classifier({"categories": {"wildlife": {"zh": ["雪豹"]}}, "learned": False})
    service = CaseService(world.db, world.clock, classifier, None,
                          {"department_for_category": {"wildlife": "forestry"}})
    assert "wildlife" in service.categories and "other" in service.categories
    case = service.file_report(world.id("P1111"), text="路灯坏了")
    view = service.correct_triage(case.id, world.id("P1111"), category="wildlife")
    assert view.category == "wildlife"
    with pytest.raises(ValidationError):
        service.correct_triage(case.id, world.id("P1111"), category="yeti")
