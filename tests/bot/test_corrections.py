"""What the system understood, corrected end to end through the fake Bot API: follow-ups are triaged, the
category/urgency buttons (incl. categories added in config), forged button data, strangers' presses, and the
paginated reassign list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select

from bot.app import build_application
from i18n import set_configured_labels, t
from runtime.wiring import build_services
from storage.models import Person, Role, TriageCorrection, Unit
from tests.bot.conftest import Harness, ScriptedTranscriber, make_config, start_app, stop_app
from tests.bot.test_case_loop import GENERAL, case_number
from workflows.ports import FakeClock
from workflows.triage import DEFAULT_CATEGORIES

FIRE = "羊圈着火了，烟很大，快派人来"


async def _report(worker, text: str) -> tuple[int, Any]:
    await worker.send_text(text)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    return case_number(receipt.content), receipt


def _corrections(h: Harness) -> int:
    with h.services.db.session() as s:
        return s.scalar(select(func.count()).select_from(TriageCorrection)) or 0


async def test_urgent_follow_up_alerts_governance_centre_and_township(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    operator = await h.register("P003")
    township = await h.register("P100")
    case_id, receipt = await _report(worker, GENERAL)
    assert "紧急" not in receipt.content
    await leader.wait_for_message(lambda m: "新案件" in m.content and f"#{case_id}" in m.content)

    await worker.send_text(FIRE)  # within the follow-up window: added to the case, and triaged
    answer = await worker.wait_for_message(lambda m: "已补充到案件" in m.content)
    assert f"#{case_id}" in answer.content and "紧急" in answer.content and "综治中心" in answer.content
    assert answer.button("新的事")  # the worker can still split it off
    for official in (operator, township):
        alert = await official.wait_for_message(lambda m: "紧急案件" in m.content and f"#{case_id}" in m.content)
        assert "羊圈着火了" in alert.content
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content and "紧急" in m.content)
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.urgency == "urgent" and view.owner.id == h.person_id("P110")
    assert view.ack_due_at == h.clock.now() + timedelta(minutes=30)


async def test_worker_corrects_category_and_urgency(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    health = await h.register("P010")  # department contact for "medical"
    operator = await h.register("P003")
    case_id, receipt = await _report(worker, GENERAL)
    await leader.wait_for_message(lambda m: "新案件" in m.content)

    await worker.press(receipt, f"cat:{case_id}")
    picker = await worker.wait_for_edit(receipt, lambda m: any(d.startswith("scat:") for _, d in m.buttons))
    assert [d.split(":")[2] for _, d in picker.buttons if d.startswith("scat:")] == list(DEFAULT_CATEGORIES)
    await worker.press(picker, f"scat:{case_id}:medical")
    fixed = await worker.wait_for_edit(receipt, lambda m: "已改好" in m.content)
    assert "看病" in fixed.content and "张卫东" in fixed.content  # the department now owns it (plain words)
    await health.wait_for_message(lambda m: f"#{case_id}" in m.content and "新案件" in m.content)
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content and "张卫东" in m.content)
    assert h.cases.get_case(case_id, h.person_id("P010")).owner.id == h.person_id("P010")

    await worker.press(fixed, f"urg:{case_id}")
    picker = await worker.wait_for_edit(fixed, lambda m: any(d.startswith("surg:") for _, d in m.buttons))
    await worker.press(picker, f"surg:{case_id}:urgent")
    await worker.wait_for_edit(fixed, lambda m: "很急" in m.content and "已改好" in m.content)
    alert = await operator.wait_for_message(lambda m: "紧急案件" in m.content and f"#{case_id}" in m.content)
    assert alert.content
    await health.wait_for_message(lambda m: f"#{case_id}" in m.content and "已改为" in m.content)
    assert _corrections(h) == 2


async def test_forged_choices_and_strangers_are_refused_politely(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await h.register("P110")
    case_id, receipt = await _report(worker, GENERAL)
    before = h.cases.get_case(case_id, h.person_id("P1111"))

    for forged in (f"scat:{case_id}:zzz_forged", f"surg:{case_id}:extreme"):
        cid = await worker.press(receipt, forged, strict=False)
        assert (await h.fake.wait_for_answer(cid))["text"] == t("zh", "err.unknown_choice"), forged
    after = h.cases.get_case(case_id, h.person_id("P1111"))
    assert (after.category, after.urgency) == (before.category, before.urgency)
    assert _corrections(h) == 0

    stranger = h.fake.add_user(77_001, "陌生人")
    await stranger.send_text("你好")
    hello = await stranger.wait_for_message()
    for data in (f"acc:{case_id}", f"scat:{case_id}:medical", f"surg:{case_id}:urgent"):
        cid = await stranger.press(hello, data, strict=False)
        answer = await h.fake.wait_for_answer(cid)
        assert answer["text"] == t("zh", "reg.unregistered")[:190] and answer.get("show_alert")
    now = h.cases.get_case(case_id, h.person_id("P1111"))
    assert (now.state, now.category, now.urgency) == (before.state, before.category, before.urgency)
    assert _corrections(h) == 0


@pytest_asyncio.fixture
async def wildlife_harness(fake_telegram, sample_org, database) -> AsyncIterator[Harness]:
    """A county that added a category in [triage] with its own labels and department."""
    clock = FakeClock()
    base = make_config(fake_telegram, database)
    config = replace(
        base,
        bot=replace(base.bot, category_labels={"wildlife": {"zh": "野生动物肇事", "en": "Wildlife"}}),
        triage={"categories": {"wildlife": {"zh": ["雪豹下山"]}}},
        routing={"department_for_category": {"wildlife": "agriculture"}, "reporter_open_case_window": "30m"},
    )
    transcriber = ScriptedTranscriber()
    services = build_services(config, clock=clock, db=database)
    app = build_application(config, services, clock=clock, transcribers={"zh": transcriber, "bo": transcriber})
    await start_app(app)
    harness = Harness(fake_telegram, app, services, clock, sample_org, transcriber, config)
    try:
        yield harness
    finally:
        await stop_app(harness.app)
        set_configured_labels("category", {})  # the labels are process-wide: back to the catalogues


async def test_category_added_in_config_is_offered_and_routed(wildlife_harness: Harness) -> None:
    h = wildlife_harness
    worker = await h.register("P1111")
    await h.register("P110")
    agriculture = await h.register("P015")
    case_id, receipt = await _report(worker, GENERAL)
    await worker.press(receipt, f"cat:{case_id}")
    picker = await worker.wait_for_edit(receipt, lambda m: any(d.startswith("scat:") for _, d in m.buttons))
    assert ("野生动物肇事", f"scat:{case_id}:wildlife") in picker.buttons
    await worker.press(picker, f"scat:{case_id}:wildlife")
    fixed = await worker.wait_for_edit(receipt, lambda m: "已改好" in m.content)
    assert "野生动物肇事" in fixed.content
    await agriculture.wait_for_message(lambda m: f"#{case_id}" in m.content and "新案件" in m.content)
    assert h.cases.get_case(case_id, h.person_id("P015")).category == "wildlife"


async def test_county_commander_pages_through_every_official(bot_harness: Harness) -> None:
    h = bot_harness
    with h.services.db.session() as s:  # a big county: more officials than fit on one screen
        village = s.scalars(select(Unit).where(Unit.code == "V0101")).one()
        for i in range(20):
            s.add(Person(code=f"X{i:02d}", name=f"干部{i:02d}", role=Role.grid_leader, unit_id=village.id, active=True))
    worker = await h.register("P1111")
    await h.register("P110")
    commander = await h.register("P002")
    case_id, _ = await _report(worker, GENERAL)
    everyone = {p.id for p in h.cases.jurisdiction_people(h.person_id("P002"))} - {h.person_id("P110")}
    assert len(everyone) > 20

    await commander.send_command("case", str(case_id))
    card = await commander.wait_for_message(lambda m: f"rsg:{case_id}" in [d for _, d in m.buttons])
    await commander.press(card, f"rsg:{case_id}")
    page = await commander.wait_for_message(lambda m: any(d.startswith("rto:") for _, d in m.buttons))
    assert "1/" in page.content
    seen: set[int] = set()
    pages = 0
    while True:
        pages += 1
        targets = [int(d.split(":")[2]) for _, d in page.buttons if d.startswith("rto:")]
        assert 0 < len(targets) <= 8
        seen.update(targets)
        forward = [d for _, d in page.buttons if d.startswith("rpg:") and int(d.split(":")[2]) == pages]
        if not forward:
            break
        await commander.press(page, forward[0])
        page = await commander.wait_for_edit(page, lambda m, n=pages + 1: f"{n}/" in m.content)
    assert seen == everyone and pages >= 3
    back = [d for _, d in page.buttons if d.startswith("rpg:")]
    assert back and int(back[0].split(":")[2]) == pages - 2  # ◀ goes one page back

    target = targets[-1]  # someone only reachable on the last page
    await commander.press(page, f"rto:{case_id}:{target}")
    await commander.wait_for_edit(page, lambda m: "转给" in m.content)
    assert h.cases.get_case(case_id, target).owner.id == target
