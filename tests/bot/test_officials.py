"""Officials: who gets which ping, escalation after a missed deadline, reminders, lists, reassign, and
buttons that must be refused (forged, garbled, stale)."""

from __future__ import annotations

from datetime import timedelta

from i18n import t
from tests.bot.conftest import Harness
from tests.bot.test_case_loop import GENERAL, URGENT, case_number


async def _report(h: Harness, worker, text: str) -> int:
    await worker.send_text(text)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    return case_number(receipt.content)


async def test_urgent_report_pings_owner_governance_centre_and_township(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    operator = await h.register("P003")
    township = await h.register("P100")
    other_township = await h.register("P200")

    await worker.send_text(URGENT)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    assert "很急" in receipt.content and "综治中心" in receipt.content

    owner_ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    assert f"acc:{case_id}" in [d for _, d in owner_ping.buttons]
    op_ping = await operator.wait_for_message(lambda m: "紧急案件" in m.content)
    assert f"#{case_id}" in op_ping.content
    assert f"acc:{case_id}" not in [d for _, d in op_ping.buttons]  # the centre watches; it does not own
    tc_ping = await township.wait_for_message(lambda m: "紧急案件" in m.content)
    assert f"#{case_id}" in tc_ping.content
    await h.flush()
    assert not [m for m in other_township.messages if f"#{case_id}" in m.content]

    # the governance centre sees every urgent case in the county
    await operator.send_command("cases")
    listing = await operator.wait_for_message(lambda m: "待办案件" in m.content)
    assert f"#{case_id}" in listing.content


async def test_general_report_pings_only_the_owner(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    operator = await h.register("P003")
    case_id = await _report(h, worker, GENERAL)
    await leader.wait_for_message(lambda m: "新案件" in m.content and f"#{case_id}" in m.content)
    await h.flush()
    assert not [m for m in operator.messages if f"#{case_id}" in m.content]


async def test_missed_deadline_escalates_with_reason(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    township = await h.register("P100")
    case_id = await _report(h, worker, GENERAL)
    await leader.wait_for_message(lambda m: "新案件" in m.content)

    h.clock.advance(timedelta(days=3))  # far past the acknowledgement deadline of a general case
    summary = await h.due()
    assert summary.escalations >= 1
    up = await township.wait_for_message(lambda m: f"#{case_id}" in m.content and "上报" in m.content)
    assert "超过受理期限" in up.content  # the ping says why the case came up
    assert f"acc:{case_id}" in [d for _, d in up.buttons]
    told = await worker.wait_for_message(lambda m: "现在由" in m.content)  # plain words, once
    assert f"#{case_id}" in told.content and "陈志强" in told.content
    assert h.cases.get_case(case_id, h.person_id("P100")).owner.id == h.person_id("P100")


async def test_reminder_with_acknowledge_button(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    case_id = await _report(h, worker, GENERAL)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    await leader.press(ping, f"acc:{case_id}")
    await worker.wait_for_message(lambda m: "受理" in m.content)
    h.clock.advance(timedelta(days=6, hours=1))  # general: one reminder a day before the 7-day deadline
    summary = await h.due()
    assert summary.reminders == 1, summary
    reminder = await leader.wait_for_message(lambda m: "催办" in m.content and f"#{case_id}" in m.content)
    assert f"ack:{case_id}" in [d for _, d in reminder.buttons]
    cid = await leader.press(reminder, f"ack:{case_id}")
    answer = await h.fake.wait_for_answer(cid)
    assert "已暂停催办" in (answer.get("text") or "") and "办结期限不变" in (answer.get("text") or "")
    timeline = h.cases.timeline(case_id, h.person_id("P110"))
    assert any(e.kind == "reminder_seen" and e.data.get("paused_until") for e in timeline)


async def test_forged_callback_from_outsider_and_garbage_data_are_refused(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    outsider = await h.register("P210")  # grid leader in another township
    case_id = await _report(h, worker, GENERAL)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)

    # the outsider replays the accept button of a case that is not theirs (on any message of theirs)
    await outsider.send_command("help")
    msg = await outsider.wait_for_message()
    cid = await outsider.press(msg, f"acc:{case_id}", strict=False)
    answer = await h.fake.wait_for_answer(cid)
    outsider_lang = h.people.find_by_telegram(outsider.id).ui_language  # P210 reads Tibetan
    assert answer["text"] == t(outsider_lang, "err.not_allowed")
    assert h.cases.get_case(case_id, h.person_id("P110")).state == "assigned"

    # the worker forges an official's action on their own case
    cid = await worker.press(worker.messages[-1], f"acc:{case_id}", strict=False)
    assert "不能" in (await h.fake.wait_for_answer(cid))["text"]

    for garbage in ("acc:1:2:3", "x" * 70, "drop table", "acc:-1", "rto:1:abc", "ui:0:fr", ""):
        cid = await leader.press(ping, garbage, strict=False)
        answer = await h.fake.wait_for_answer(cid)
        assert "失效" in answer["text"], garbage
    cid = await leader.press(ping, "acc:999999", strict=False)  # well-formed, but no such case
    assert "不能" in (await h.fake.wait_for_answer(cid))["text"]
    assert h.cases.get_case(case_id, h.person_id("P110")).state == "assigned"


async def test_stale_button_says_what_the_case_is_now(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    case_id = await _report(h, worker, GENERAL)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    await leader.press(ping, f"acc:{case_id}")
    await leader.wait_for_edit(ping)
    cid = await leader.press(ping, f"acc:{case_id}", strict=False)  # the old button, pressed again
    answer = await h.fake.wait_for_answer(cid)
    assert "处理中" in answer["text"]  # "this case has moved on: it is now being handled"


async def test_reassign_escalate_reject_and_lists(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    township = await h.register("P100")
    leader = await h.register("P110")
    case_id = await _report(h, worker, GENERAL)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)

    await leader.send_command("cases")
    listing = await leader.wait_for_message(lambda m: "待办案件" in m.content)
    assert f"#{case_id}" in listing.content
    await leader.send_command("case", str(case_id))
    card = await leader.wait_for_message(lambda m: "经过" in m.content)
    assert "上报" in card.content
    await leader.send_command("overdue")
    assert "没有超期" in (await leader.wait_for_message()).content

    await leader.press(ping, f"esc:{case_id}")
    await leader.wait_for_message(lambda m: "为什么" in m.content)
    await leader.send_text("需要乡里协调")
    await leader.wait_for_message(lambda m: "已上报给" in m.content)
    up = await township.wait_for_message(lambda m: f"#{case_id}" in m.content and "需要乡里协调" in m.content)

    await township.press(up, f"more:{case_id}")  # the card shows the main actions; 转派 is under 更多
    up = await township.wait_for_edit(up, lambda m: f"rsg:{case_id}" in [d for _, d in m.buttons])
    await township.press(up, f"rsg:{case_id}")
    people = await township.wait_for_message(lambda m: any(d.startswith("rto:") for _, d in m.buttons))
    target = h.person_id("P120")  # the other grid leader of the township
    await township.press(people, f"rto:{case_id}:{target}")
    await township.wait_for_edit(people, lambda m: "转给" in m.content)
    assert h.cases.get_case(case_id, target).owner.id == target

    second = await _report_after_window(h, worker, "邻居两家因为草场边界吵起来了")
    second_ping = await leader.wait_for_message(lambda m: f"#{second}" in m.content and "新案件" in m.content)
    await leader.press(second_ping, f"more:{second}")
    second_ping = await leader.wait_for_edit(second_ping, lambda m: f"rej:{second}" in [d for _, d in m.buttons])
    await leader.press(second_ping, f"rej:{second}")
    await leader.wait_for_message(lambda m: "不受理" in m.content)
    await leader.send_text("已经调解过了，不属于我们")
    await leader.wait_for_message(lambda m: "不予受理" in m.content)
    told = await worker.wait_for_message(lambda m: "未受理" in m.content)
    assert "调解过了" in told.content


async def _report_after_window(h: Harness, worker, text: str) -> int:
    h.clock.advance(timedelta(minutes=31))  # past the follow-up window: a new case, not details
    return await _report(h, worker, text)
