"""Tasks and the six must-visits end to end: the real bot application over the real HTTP layer against the
fake Bot API, the real triage classifier, a fake clock, on SQLite and PostgreSQL (issue 12's "done when").

A township commander sends a snowstorm check to three villages from Telegram; workers answer per household
(one reports a collapsed tent: an urgent case routed to the grid leader with the governance centre alerted);
non-answerers are reminded; the commander sees completion and exports it. A report about an elder's death
creates a visit for the household's cadre, who is reminded and marks it done.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.callbacks import pack
from i18n import t
from storage.models import Case, Household, Person, Visit, VisitAttachment
from tests.workflows.downward import add_third_village

pytestmark = pytest.mark.asyncio


def _id(h, code: str) -> int:
    with h.services.db.session() as s:
        for model in (Person, Household):
            found = s.scalar(select(model.id).where(model.code == code))
            if found is not None:
                return found
    from storage.models import Unit

    with h.services.db.session() as s:
        return s.scalar(select(Unit.id).where(Unit.code == code))


async def test_snowstorm_check_down_three_villages_and_answers_back_up(bot_harness) -> None:
    h = bot_harness
    add_third_village(h.services.db, h.org)
    commander = await h.register("P100")
    workers = {code: await h.register(code) for code in ("P1111", "P1211", "P1311", "P1312")}
    grid_leader = await h.register("P120")
    centre = await h.register("P003")

    # the commander drafts the task in Telegram: template, three villages, a deadline, send
    await commander.send_command("task")
    menu = await commander.wait_for_message(lambda m: "发什么任务" in m.content)
    await commander.press_button(menu, "灾害排查")
    picker = await commander.wait_for_edit(menu, lambda m: "发给谁" in m.content)
    for village in ("多卡村", "拉日村", "桑科村"):
        await commander.press_button(picker, village)
        picker = await commander.wait_for_edit(picker, lambda m, v=village: any(
            v in label and "☑️" in label for label, _ in m.buttons))
    await commander.press_button(picker, "确定")
    due = await commander.wait_for_edit(picker, lambda m: "什么时候之前完成" in m.content)
    await commander.press_button(due, "今天 22:00")
    preview = await commander.wait_for_edit(due, lambda m: "任务预览" in m.content)
    assert "多卡村、拉日村、桑科村" in preview.content and "（10 / 57）" in preview.content
    await commander.press_button(preview, "发送")
    sent = await commander.wait_for_edit(preview, lambda m: "已发送任务" in m.content)
    assert "10 名联户员" in sent.content and "57 户" in sent.content
    task_id = int(sent.content.split("#")[1].split("：")[0])
    await h.flush()

    # each worker gets their households with one-tap answers, in their language
    sheet = await workers["P1111"].wait_for_message(lambda m: f"任务 #{task_id}" in m.content)
    assert "仁青（H111101）" in sheet.content and len(sheet.buttons) == 3 * 8  # P1111 looks after 8 households
    tibetan = await workers["P1312"].wait_for_message(lambda m: f"#{task_id}" in m.content)
    assert "ཁ་བ་" in tibetan.content
    hh = _id(h, "H111101")
    cid = await workers["P1111"].press(sheet, pack("ta", task_id, f"{hh}.d"))
    assert (await h.fake.wait_for_answer(cid))["text"] == "已记下"
    sheet = await workers["P1111"].wait_for_edit(sheet, lambda m: "✅ 仁青" in m.content)
    cid = await workers["P1111"].press(sheet, pack("ta", task_id, f"{hh}.d"))  # a double tap counts once
    assert (await h.fake.wait_for_answer(cid))["text"] == "已经记过了"
    await workers["P1111"].press(sheet, pack("ta", task_id, f"{_id(h, 'H111102')}.u"))
    await workers["P1111"].wait_for_edit(sheet, lambda m: "🚫 加措" in m.content)

    # a collapsed tent: ⚠️, then one line -> an urgent case for the grid leader, the centre alerted at once
    sheet2 = await workers["P1211"].wait_for_message(lambda m: f"任务 #{task_id}" in m.content)
    await workers["P1211"].press(sheet2, pack("ta", task_id, f"{_id(h, 'H121101')}.p"))
    await workers["P1211"].wait_for_message(lambda m: "有什么问题" in m.content)
    await workers["P1211"].send_text("帐篷被大雪压塌了，一家人没地方住，老人冻着了")
    filed = await workers["P1211"].wait_for_message(lambda m: "已报为案件" in m.content)
    case_id = int(filed.content.split("#")[1].split("，")[0])
    await h.flush()
    card = await grid_leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert "紧急" in card.content
    alert = await centre.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert "帐篷" in alert.content
    with h.services.db.session() as s:
        case = s.get(Case, case_id)
        assert (case.urgency.value, case.task_id, case.household_id) == ("urgent", task_id, _id(h, "H121101"))
        assert case.owner_id == _id(h, "P120")

    # a forged household id and a worker the task never reached are refused, nothing changes
    cid = await workers["P1111"].press(sheet, pack("ta", task_id, f"{_id(h, 'H121102')}.d"), strict=False)
    assert "不在您这个任务的名单里" in (await h.fake.wait_for_answer(cid))["text"]
    outsider = await h.register("P2111")
    cid = await outsider.press(sheet, pack("ta", task_id, f"{hh}.d"), strict=False)
    assert (await h.fake.wait_for_answer(cid))["text"] == t("bo", "err.not_a_recipient")  # P2111 reads Tibetan

    # non-answerers are reminded (the sheet again, only to those with open lines)
    h.clock.advance(hours=2, minutes=1)
    await h.due()
    reminder = await workers["P1311"].wait_for_message(lambda m: "提醒" in m.content and f"#{task_id}" in m.content)
    assert "还有 3 户没回复" in reminder.content and reminder.buttons

    # the commander sees completion by village and grid, and exports it
    await commander.send_command("task", str(task_id))
    progress = await commander.wait_for_message(lambda m: f"任务 #{task_id}（进行中）" in m.content)
    assert "已回复 3/57 户" in progress.content and "多卡村：2/26" in progress.content
    assert f"案件 #{case_id}" in progress.content and "还没回复" in progress.content
    await commander.press_button(progress, "导出表格")
    call = await h.fake.wait_for_call("sendDocument")
    export = next(m for m in commander.messages if m.document is not None)
    assert call.status == 200 and export.file_name.startswith(f"task-{task_id}-")
    assert export.file_name.endswith(".xlsx")  # opens in Excel/WPS as it is
    book = load_workbook(io.BytesIO(export.document)).active
    header, *rows = [[c.value for c in r] for r in book.iter_rows()]
    assert len(rows) == 57 and {"户主", "回复", "案件编号"} <= set(header)
    answer = header.index("回复")
    assert {r[answer] for r in rows} == {"已完成", "联系不上", "有问题", "未回复"}
    await commander.send_command("task", f"{task_id} csv")  # the same rows as CSV when asked
    await h.fake.wait_for(lambda: sum(m.document is not None for m in commander.messages) == 2)
    as_csv = [m for m in commander.messages if m.document is not None][-1]
    rows = list(csv.DictReader(io.StringIO(as_csv.document.decode("utf-8-sig"))))
    assert as_csv.file_name.endswith(".csv") and len(rows) == 57 and rows[0]["户主"]

    # at the deadline the commander gets the summary; answers after closing are refused
    h.clock.advance(hours=4)
    await h.due()
    summary = await commander.wait_for_message(lambda m: "到截止时间了" in m.content)
    assert "已回复 3/57 户" in summary.content
    await commander.press_button(summary, "结束任务")
    await commander.wait_for_edit(summary, lambda m: "已结束" in m.content)
    cid = await workers["P1111"].press(sheet, pack("ta", task_id, f"{_id(h, 'H111103')}.d"), strict=False)
    assert "这个任务已结束，不再接收回复" in (
        await h.fake.wait_for_answer(cid))["text"]


async def test_bad_task_input_gets_a_clear_reply(bot_harness) -> None:
    h = bot_harness
    commander = await h.register("P200")
    worker = await h.register("P1111")
    await worker.send_command("task")  # a worker has no task to send: their open tasks instead
    assert "现在没有要您回复的任务" in (await worker.wait_for_message()).content
    await commander.send_command("task", "今晚大风，检查各户帐篷")
    picker = await commander.wait_for_message(lambda m: "发给谁" in m.content)
    # a unit outside the commander's township, by forged button data: refused, nothing ticked
    cid = await commander.press(picker, pack("tku", int(picker.buttons[0][1].split(":")[1]), _id(h, "V0101")),
                                strict=False)
    assert "不在您的管辖范围内" in (await h.fake.wait_for_answer(cid))["text"]
    await commander.press_button(picker, "确定")
    due = await commander.wait_for_edit(picker, lambda m: "什么时候之前完成" in m.content)
    await commander.send_text("07:00")  # already past today
    assert "已经过了" in (await commander.wait_for_message(lambda m: "过了" in m.content)).content
    await commander.send_text("不知道")
    assert "看不懂" in (await commander.wait_for_message()).content
    await commander.send_text("明天 12:00")
    preview = await commander.wait_for_message(lambda m: "任务预览" in m.content)
    assert "德吉乡" in preview.content or "曲隆村" in preview.content
    del due
    await commander.send_command("task")
    menu = await commander.wait_for_message(lambda m: "发什么任务" in m.content)
    await commander.press_button(menu, "自己写")
    await commander.wait_for_edit(menu, lambda m: "任务内容" in m.content)
    await commander.send_voice(b"OggS-not-really", duration=2)  # a spoken task is fine too
    picker = await commander.wait_for_message(lambda m: "发给谁" in m.content)
    assert picker.buttons


async def test_an_elders_death_report_creates_a_visit_reminded_and_done(bot_harness) -> None:
    """The real triage classifier flags the life event (issue 8's detector); nothing here is scripted."""
    h = bot_harness
    worker = await h.register("P1111")
    cadre = await h.register("P110")
    await worker.send_text("仁青家的老阿爸昨晚去世了，家里人很难过")
    await worker.wait_for_message(lambda m: "已记下" in m.content)
    with h.services.db.session() as s:
        visits = s.scalars(select(Visit)).all()
    assert len(visits) == 1 and visits[0].kind == "death" and visits[0].owner_id == _id(h, "P110")
    await h.flush()
    card = await cadre.wait_for_message(lambda m: "需要您走访" in m.content)
    assert "老人去世" in card.content and card.buttons
    h.clock.advance(hours=12, minutes=1)
    await h.due()
    reminder = await cadre.wait_for_message(lambda m: "提醒" in m.content and "走访" in m.content)
    await cadre.press_button(reminder, "已走访")
    await cadre.wait_for_message(lambda m: "走访情况" in m.content)
    await cadre.send_text("上门慰问了家属，帮忙联系了寺院")
    await cadre.wait_for_message(lambda m: "已记下走访" in m.content)
    await h.flush()
    told = await worker.wait_for_message(lambda m: "已走访" in m.content)
    assert "上门慰问" in told.content
    with h.services.db.session() as s:
        visit = s.get(Visit, visits[0].id)
        assert visit.state == "done" and visit.done_by_id == _id(h, "P110")
    h.clock.advance(days=2)
    summary = await h.due()
    assert "visit_escalated" not in summary.other  # done: nothing more is due

    # the cadre's ledger (台账) has the visit on its second sheet, in words
    await cadre.send_command("ledger")
    book = await cadre.wait_for_message(lambda m: m.document is not None and m.file_name.endswith(".xlsx"))
    sheet = load_workbook(io.BytesIO(book.document))["走访台账"]
    header, row = [[c.value for c in r] for r in sheet.iter_rows()]
    assert row[header.index("走访事由")] == "老人去世" and row[header.index("状态")] == "已走访"
    assert row[header.index("责任干部")] == "王建国" and "上门慰问" in row[header.index("走访情况")]


async def test_visits_list_and_hand_on(bot_harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    cadre = await h.register("P110")
    commander = await h.register("P100")
    await worker.send_text("旺姆家的老人昨天去世了")
    await worker.wait_for_message(lambda m: "已记下" in m.content)
    await h.flush()
    await cadre.send_command("visits")
    listing = await cadre.wait_for_message(lambda m: "待走访" in m.content)
    assert "老人去世" in listing.content
    await cadre.press_button(listing, "老人去世")
    card = await cadre.wait_for_message(lambda m: "🏠 走访" in m.content)
    await cadre.press_button(card, "转交")
    people = await cadre.wait_for_message(lambda m: "转交给谁" in m.content)
    await cadre.press_button(people, "陈志强")
    await cadre.wait_for_edit(people, lambda m: "已转交给 陈志强" in m.content)
    await h.flush()
    handed = await commander.wait_for_message(lambda m: "转交给" in m.content)
    assert handed.buttons  # the new owner gets the card with its buttons
    h.clock.advance(timedelta(days=2))
    assert (await h.due()).other.get("visit_escalated") == 1


async def test_a_problem_told_by_voice_is_transcribed_and_routed(bot_harness) -> None:
    from tests.bot.conftest import fake_ogg

    h = bot_harness
    commander = await h.register("P110")
    worker = await h.register("P1121")
    view = await asyncio.to_thread(h.services.task_service.create_and_send, h.person_id("P110"),
                                   template="disaster_check", due_at=h.clock.now() + timedelta(hours=6))
    await h.flush()
    sheet = await worker.wait_for_message(lambda m: f"任务 #{view.id}" in m.content)
    clip = fake_ogg("tent")
    h.transcriber.texts[clip] = "牛棚顶上的雪太厚，快压塌了"
    await worker.press(sheet, pack("ta", view.id, f"{_id(h, 'H112101')}.p"))
    await worker.wait_for_message(lambda m: "有什么问题" in m.content)
    await worker.send_voice(clip, duration=4)
    filed = await worker.wait_for_message(lambda m: "已报为案件" in m.content)
    case_id = int(filed.content.split("#")[1].split("，")[0])
    await h.fake.wait_for(lambda: h.cases.get_case(case_id, h.person_id("P1121")).state == "assigned",
                          timeout=30)  # the transcription pipeline on a loaded 2-core machine
    case = await asyncio.to_thread(h.cases.get_case, case_id, h.person_id("P1121"))
    assert case.text == "牛棚顶上的雪太厚，快压塌了" and case.household_id == _id(h, "H112101")
    assert case.urgency in ("urgent", "priority") and case.owner.id == h.person_id("P110")  # never below the floor
    await h.flush()
    assert await commander.wait_for_message(lambda m: f"#{case_id}" in m.content)


def attachments(h, visit_id: int) -> list[tuple[str, bytes]]:
    with h.services.db.session() as s:
        rows = s.scalars(select(VisitAttachment).where(VisitAttachment.visit_id == visit_id)
                         .order_by(VisitAttachment.id))
        return [(a.kind, a.content) for a in rows]


async def _a_death_visit_card(h):
    """A report of an elder's death; the cadre's visit card (the real classifier flags the life event)."""
    worker = await h.register("P1111")
    cadre = await h.register("P110")
    await worker.send_text("仁青家的老阿爸昨晚去世了，家里人很难过")
    await worker.wait_for_message(lambda m: "已记下" in m.content)
    await h.flush()
    card = await cadre.wait_for_message(lambda m: "需要您走访" in m.content)
    return worker, cadre, card


async def test_a_visit_is_recorded_with_a_photo_and_its_caption(bot_harness) -> None:
    h = bot_harness
    worker, cadre, card = await _a_death_visit_card(h)
    await cadre.press_button(card, "已走访")
    await cadre.wait_for_message(lambda m: "走访情况" in m.content)
    await cadre.send_photo(b"\xff\xd8\xff\xe0 a jpeg of the visit", caption="送去了慰问金和酥油")
    await cadre.wait_for_message(lambda m: "已记下走访" in m.content)
    with h.services.db.session() as s:
        visit = s.scalars(select(Visit)).one()
        assert visit.state == "done" and visit.note == "送去了慰问金和酥油"
    assert attachments(h, visit.id) == [("photo", b"\xff\xd8\xff\xe0 a jpeg of the visit")]
    await h.flush()
    assert "慰问金" in (await worker.wait_for_message(lambda m: "已走访" in m.content)).content
    done_button = next(data for label, data in card.buttons if "已走访" in label)
    answer = await h.fake.wait_for_answer(await cadre.press(card, done_button, strict=False))
    assert answer["text"] == f"走访 #{visit.id} 已走访了。"  # the old card, once the visit is done: no change


async def test_a_visit_is_recorded_with_a_voice_note(bot_harness) -> None:
    from tests.bot.conftest import fake_ogg

    h = bot_harness
    _, cadre, card = await _a_death_visit_card(h)
    await cadre.press_button(card, "已走访")
    await cadre.wait_for_message(lambda m: "走访情况" in m.content)
    clip = fake_ogg("visit")
    h.transcriber.texts[clip] = "去家里看过了，帮着办了后事"
    await cadre.send_voice(clip, duration=6)
    await cadre.wait_for_message(lambda m: "已记下走访" in m.content)
    with h.services.db.session() as s:
        visit = s.scalars(select(Visit)).one()
        assert visit.state == "done" and visit.note == "去家里看过了，帮着办了后事"
    assert attachments(h, visit.id) == [("voice", clip)]


async def test_a_spoken_task_reaches_the_workers_as_the_voice_note_then_their_sheet(bot_harness) -> None:
    from tests.bot.conftest import fake_ogg

    h = bot_harness
    leader = await h.register("P110")  # a grid leader: his village's two grids
    worker = await h.register("P1121")
    await leader.send_command("task")
    menu = await leader.wait_for_message(lambda m: "发什么任务" in m.content)
    await leader.press_button(menu, "自己写")
    await leader.wait_for_edit(menu, lambda m: "任务内容" in m.content)
    clip = fake_ogg("spoken-task")
    await leader.send_voice(clip, duration=7)
    picker = await leader.wait_for_message(lambda m: "发给谁" in m.content)
    await leader.press_button(picker, "第二网格")
    picker = await leader.wait_for_edit(picker, lambda m: any("☑️" in label for label, _ in m.buttons))
    await leader.press_button(picker, "确定")
    due = await leader.wait_for_edit(picker, lambda m: "什么时候之前完成" in m.content)
    await leader.press_button(due, "3天内")
    preview = await leader.wait_for_edit(due, lambda m: "任务预览" in m.content)
    await leader.press_button(preview, "发送")
    sent = await leader.wait_for_edit(preview, lambda m: "已发送任务" in m.content)
    assert "2 名联户员" in sent.content  # only the ticked grid's two workers
    await h.flush()
    voice = await worker.wait_for_message(lambda m: m.voice is not None)
    assert voice.voice == clip  # the issuer's own voice, as recorded
    sheet = await worker.wait_for_message(lambda m: "任务 #" in m.content and m.buttons)
    assert worker.messages.index(voice) < worker.messages.index(sheet)
    assert "🎙" in sheet.content


async def test_festival_visits_from_the_calendar_reach_the_cadre_and_are_recorded(bot_harness) -> None:
    from workflows.visits import VisitSettings

    h = bot_harness
    h.services.visit_service.settings = VisitSettings.from_config(  # this year's date, as the county writes it
        {"festivals": {"losar_2026": {"name": {"zh": "藏历新年", "bo": "ལོ་གསར།"}, "date": "2026-01-15"}}})
    cadre = await h.register("P110")
    await h.due()  # the scheduler's hourly job: ten days ahead, inside the 14-day lead
    card = await cadre.wait_for_message(lambda m: "达瓦" in m.content and "藏历新年" in m.content)  # 独居老人
    assert card.buttons
    await cadre.press_button(card, "已走访")
    await cadre.wait_for_message(lambda m: "走访情况" in m.content)
    await cadre.send_text("送了酥油和茶叶，老人身体还好")
    await cadre.wait_for_message(lambda m: "已记下走访" in m.content)
    with h.services.db.session() as s:
        visit = s.scalars(select(Visit).where(Visit.household_id == _id(h, "H111104"))).one()
        assert (visit.kind, visit.festival, visit.state) == ("festival", "losar_2026", "done")
        assert visit.owner_id == _id(h, "P110") and visit.due_at.isoformat() == "2026-01-14T16:00:00"
        again = len(s.scalars(select(Visit)).all())
    await h.due()  # the next run creates nothing twice
    with h.services.db.session() as s:
        assert len(s.scalars(select(Visit)).all()) == again
