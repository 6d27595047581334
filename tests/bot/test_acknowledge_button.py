"""Through the fake Bot API: 「🔕 暂停催办」 on a reminder does what it says (issue 10, finding 3). The reminder
is one short line pointing to the card; the button pauses that owner's reminders, says until when and that the
deadline still holds, and the message shows it; 「受理」 and the pause button no longer look alike."""

from __future__ import annotations

from datetime import timedelta

from tests.bot.conftest import Harness


async def test_pause_button_on_an_overdue_reminder_silences_it_and_says_so(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    for code in ("P110", "P100"):
        await h.register(code)
    top = await h.register("P002")
    await worker.send_text("羊圈着火了 快来人")
    await worker.wait_for_message(lambda m: "已记下" in m.content, timeout=10)
    await h.flush()
    case_id = h.cases.list_cases(h.person_id("P1111"), scope="reported")[0].id
    for _ in range(2):  # nobody accepts: township commander, then the county commander
        h.clock.advance(timedelta(minutes=31))
        await h.due()
    top.mark_read()
    h.clock.advance(timedelta(minutes=31))  # overdue at the top: a reminder
    await h.due()
    reminder = await top.wait_for_message(lambda m: m.content.startswith("⏰"), timeout=10)
    assert reminder.content.count("\n") == 0 and f"#{case_id}" in reminder.content  # one line
    labels = str(reminder.reply_markup)
    assert "🔕 暂停催办" in labels and "🙋 受理" in labels and "📄 看案件" in labels

    await top.press(reminder, f"ack:{case_id}")
    answer = await h.fake.wait_for(lambda: next((a for a in h.fake.callback_answers.values()
                                                  if "暂停催办" in str(a.get("text"))), None), timeout=5)
    assert "再提醒" in answer["text"]
    edited = await top.wait_for_edit(reminder, lambda m: "已暂停催办" in m.content, timeout=5)
    assert "🔕 暂停催办" not in str(edited.reply_markup)  # the press visibly did something

    top.mark_read()
    reminders = len([m for m in top.messages if m.content.startswith("⏰")])
    h.clock.advance(timedelta(minutes=31))  # a reminder would be due: paused for an hour
    await h.due()
    assert len([m for m in top.messages if m.content.startswith("⏰")]) == reminders
    h.clock.advance(timedelta(minutes=30))
    await h.due()
    await top.wait_for_message(lambda m: m.content.startswith("⏰"), timeout=10)
