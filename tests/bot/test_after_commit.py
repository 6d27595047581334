"""Through the fake Bot API: no "sorry, something went wrong" after a write that committed (issue 10, finding 5).

In the field run the connection dropped after the bot's answer had gone out: the worker read 已补充到案件 #10
and then 抱歉，出了点问题，请稍后再试 — an invitation to report the same thing twice.
"""

from __future__ import annotations

import asyncio

from tests.bot.conftest import Harness

GENERIC = "出了点问题"


async def test_a_follow_up_whose_answer_was_sent_before_the_connection_dropped_gets_no_error(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_text("草场围栏被人剪断了")
    await worker.wait_for_message(lambda m: "#" in m.content, timeout=10)  # the receipt
    await h.flush()
    worker.mark_read()

    h.fake.fail_next("sendMessage", 502, after_serving=True)  # the answer arrives, the bot sees a failure
    await worker.send_text("剪了大概二十米")
    await worker.wait_for_message(lambda m: "已补充到案件" in m.content, timeout=10)
    await asyncio.sleep(0.5)  # the error handler has run by now
    await h.flush()
    assert not [m for m in worker.messages if GENERIC in m.content]
    case = h.cases.list_cases(h.person_id("P1111"), scope="reported")[0]
    assert "二十米" in " ".join(e.note or "" for e in h.cases.timeline(case.id, h.person_id("P1111")))


async def test_a_committed_button_press_whose_redraw_failed_says_done_not_try_again(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text("草场围栏被人剪断了")
    card = await leader.wait_for_message(lambda m: "围栏" in m.content, timeout=10)
    case_id = h.cases.list_cases(h.person_id("P110"), scope="mine")[0].id

    h.fake.fail_next("editMessageText", 502)
    h.fake.fail_next("editMessageReplyMarkup", 502)
    h.fake.fail_next("answerCallbackQuery", 502)  # the toast is lost too: the error handler must say it
    await leader.press(card, f"acc:{case_id}", strict=False)
    await h.fake.wait_for(
        lambda: h.cases.get_case(case_id, h.person_id("P110")).state == "accepted" or None, timeout=5
    )
    await asyncio.sleep(0.5)
    answers = [str(a.get("text") or "") for a in h.fake.callback_answers.values()]
    assert not any(GENERIC in a for a in answers)
    assert any("已经办好了" in a for a in answers)
    assert not [m for m in leader.messages if GENERIC in m.content]
