"""Through the fake Bot API: the words and the smaller findings of the field run (issue 10).

- a worker reads a herder's words (「很急」, 「看病」), the deadline and everyone an urgent case reached;
- a worker hears "now handled by X, because ..." once, not once per escalation step;
- an official's card shows the most used buttons and "⋯ 更多" for the rest;
- an old owner's stale card after an escalation says who has the case, not 不能处理;
- /invite for someone already registered says so;
- a recording Telegram answers 404 for is not reported as a bad token, and its card does not say both
  "recognition failed" and "waiting for recognition".
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import CaseEvent
from tests.bot.conftest import Harness, ScriptedTranscriber, fake_ogg

FIRE = "二社的羊圈着火了 快来人"


async def test_receipt_in_plain_words_with_deadline_and_who_was_told(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await h.register("P110")
    await worker.send_text(FIRE)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content, timeout=10)
    assert "很急" in receipt.content and "紧急" not in receipt.content
    assert "⏱" in receipt.content and "前办好" in receipt.content
    assert "县综治中心" in receipt.content and "陈志强" in receipt.content  # the township commander too
    assert "不是这类事" in str(receipt.reply_markup) and "改紧急程度" not in str(receipt.reply_markup)


async def test_the_worker_hears_about_escalation_once(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    for code in ("P110", "P100", "P002"):
        await h.register(code)
    await worker.send_text(FIRE)
    await worker.wait_for_message(lambda m: "已记下" in m.content, timeout=10)
    for _ in range(2):  # grid leader → township commander → county commander
        h.clock.advance(timedelta(minutes=31))
        await h.due()
    moved = [m for m in worker.messages if "办，因为" in m.content]
    assert len(moved) == 1 and "陈志强" in moved[0].content and "因为" in moved[0].content


async def test_official_card_has_main_buttons_and_more(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text("草场围栏被人剪断了")
    card = await leader.wait_for_message(lambda m: "围栏" in m.content, timeout=10)
    labels = [text for text, _ in card.buttons]
    assert "🙋 受理" in labels and "🏁 办结" in labels and "⋯ 更多" in labels
    assert not any("转派" in x or "重复" in x for x in labels)
    case_id = h.cases.list_cases(h.person_id("P110"), scope="mine")[0].id
    await leader.press(card, f"more:{case_id}")
    full = await leader.wait_for_edit(card, lambda m: any("转派" in x for x, _ in m.buttons), timeout=5)
    assert any("📎 重复案件" in x for x, _ in full.buttons)


async def test_an_old_owners_stale_card_says_who_has_the_case(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await h.register("P100")
    await worker.send_text(FIRE)
    card = await leader.wait_for_message(lambda m: "着火" in m.content, timeout=10)
    case_id = h.cases.list_cases(h.person_id("P110"), scope="mine")[0].id
    h.clock.advance(timedelta(minutes=31))
    await h.due()  # escalated to 陈志强
    callback = await leader.press(card, f"acc:{case_id}", strict=False)
    answer = await h.fake.wait_for_answer(callback)
    assert "已经交给 陈志强" in answer["text"] and "不能处理" not in answer["text"]


async def test_invite_for_someone_already_registered(bot_harness: Harness) -> None:
    h = bot_harness
    admin = await h.register("P001")
    await h.register("P110")
    admin.mark_read()
    await admin.send_command("invite", "P110")
    answer = await admin.wait_for_message(timeout=10)
    assert "已经登记过了" in answer.content and "/start" not in answer.content


async def test_a_recording_gone_from_telegram_reads_as_such(bot_harness: Harness,
                                                           transcriber: ScriptedTranscriber) -> None:
    h = bot_harness
    h.pipeline.retry_delays = (0.05, 0.05)
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("getFile", 404, times=20)
    await worker.send_voice(fake_ogg("gone"), duration=5)
    card = await leader.wait_for_message(lambda m: "#" in m.content and "需要" in m.content, timeout=15)
    assert "等待识别" not in card.content
    with h.services.db.session() as s:
        notes = [n for n in s.scalars(select(CaseEvent.note).where(CaseEvent.kind == "transcription_failed")) if n]
    assert notes and all("InvalidToken" not in n for n in notes)
    assert any("file_not_found" in n for n in notes)
