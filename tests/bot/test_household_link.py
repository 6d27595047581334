"""A report linked to a household by one tap under the receipt, through the real bot on the fake Bot API.

P1111 (sample county) looks after 8 households, H111101 仁青 … H111108 旺姆; P1112 looks after H1112xx. A report
that names none of them gets the worker's 8 households as buttons; a tap links the case, the household archive
(the console's household page query) lists it, and a forged button for another worker's household is refused
and changes nothing.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from i18n import t
from storage.models import Case, CaseEvent, Household
from tests.bot.conftest import Harness
from tests.bot.test_case_loop import case_number
from workflows.console.wall import CaseWall, WallFilter

NO_NAME = "牛棚被雪压塌了一半，羊没地方住"  # names no household of P1111's


def _household_id(h: Harness, code: str) -> int:
    with h.services.db.session() as s:
        return s.scalars(select(Household.id).where(Household.code == code)).one()


def _case(h: Harness, case_id: int) -> Case:
    with h.services.db.session() as s:
        case = s.get(Case, case_id)
        s.expunge(case)
        return case


async def test_the_worker_taps_a_household_and_the_archive_lists_the_case(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await h.register("P110")
    await worker.send_text(NO_NAME)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    assert t("zh", "hh.which") in receipt.content
    households = [(text, data) for text, data in receipt.buttons if data.startswith("hh:")]
    assert [text for text, _ in households] == ["🏠 仁青", "🏠 加措", "🏠 曲珍", "🏠 达瓦", "🏠 拉姆", "🏠 扎巴",
                                                 "🏠 白玛", "🏠 旺姆"]  # the worker's own 8, in code order
    assert any(d.startswith("add:") for _, d in receipt.buttons)  # the receipt keeps its own buttons

    # a forged button: another worker's household (P1112's 多吉) is refused, nothing changes
    foreign = _household_id(h, "H111201")
    answer = await worker.press(receipt, f"hh:{case_id}:{foreign}", strict=False)
    refusal = await h.fake.wait_for_answer(answer)
    assert refusal.get("show_alert") and refusal.get("text") == t("zh", "err.not_allowed")
    assert (await asyncio.to_thread(_case, h, case_id)).household_id is None
    answer = await worker.press(receipt, f"hh:{case_id}:999999", strict=False)  # no such household at all
    assert (await h.fake.wait_for_answer(answer)).get("text") == t("zh", "err.not_allowed")

    qu = _household_id(h, "H111103")
    await worker.press(receipt, f"hh:{case_id}:{qu}")
    edited = await worker.wait_for_edit(receipt, lambda m: "曲珍" in m.content)
    assert t("zh", "hh.linked", case_id=case_id, head="曲珍") in edited.content
    assert not any(d.startswith("hh:") for _, d in edited.buttons)  # answered: the household row goes away
    assert any(d.startswith("add:") for _, d in edited.buttons)
    assert (await asyncio.to_thread(_case, h, case_id)).household_id == qu

    # the household archive (the console's household page) lists the case, for the village's grid leader
    wall = CaseWall(h.cases)
    page = await asyncio.to_thread(wall.page, h.person_id("P110"), WallFilter(household_id=qu, state="all"))
    assert [c.id for c in page.cards] == [case_id]
    with h.services.db.session() as s:  # the timeline says who linked it
        event = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                  CaseEvent.kind == "household_linked")).one()
        assert event.actor_id == h.person_id("P1111") and event.note == "曲珍"

    # the grid leader's card never shows household buttons (they are the worker's choice)
    assert h.cases.household_choices(case_id, h.person_id("P110")) == []
    assert h.cases.household_choices(case_id, h.person_id("P1111")) == []  # linked now: nothing to choose


async def test_a_report_naming_a_household_gets_no_buttons(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_text("仁青家的牦牛病了，不吃草")
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    assert not any(d.startswith("hh:") for _, d in receipt.buttons)
    assert t("zh", "hh.which") not in receipt.content
    assert (await asyncio.to_thread(_case, h, case_id)).household_id == _household_id(h, "H111101")


async def test_a_voice_note_naming_a_household_is_linked_by_its_transcript(bot_harness: Harness, transcriber) -> None:
    from tests.bot.conftest import fake_ogg

    h = bot_harness
    worker = await h.register("P1111")
    clip = fake_ogg("yak-sick")
    transcriber.texts[clip] = "达瓦家的牦牛病了 不吃草"
    await worker.send_voice(clip, duration=4)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=10)
    assert (await asyncio.to_thread(_case, h, case_id)).household_id == _household_id(h, "H111104")
    assert not any(d.startswith("hh:") for _, d in done.buttons)  # named: nothing to choose
