"""End to end through the fake Bot API: register → report → official accepts → resolves → reporter confirms.

Sample county (storage/sample): P1111 is a liaison worker in grid G010101 (village V0101, township T01);
P110 is the grid leader of V0101, P100 the commander of township T01, P003/P004 the governance centre.
"""

from __future__ import annotations

import re

from tests.bot.conftest import Harness

GENERAL = "加措家的低保材料还没批下来，想问问进度"
URGENT = "书记 二社的那个羊圈着火了 烟很大 快派人来"


def case_number(text: str) -> int:
    m = re.search(r"#(\d+)", text)
    assert m, f"no case number in {text!r}"
    return int(m.group(1))


async def test_full_loop_text_report_to_confirmed_closure(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")

    await worker.send_text(GENERAL)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    assert GENERAL in receipt.content  # what the system understood is echoed back
    assert "负责" in receipt.content
    assert any(d.startswith("add:") for _, d in receipt.buttons)
    assert any(d.startswith("cat:") for _, d in receipt.buttons)
    assert any(d.startswith("urg:") for _, d in receipt.buttons)

    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content and "新案件" in m.content)
    assert f"acc:{case_id}" in [d for _, d in ping.buttons]

    await leader.press(ping, f"acc:{case_id}")
    accepted = await worker.wait_for_message(lambda m: "受理" in m.content)
    assert f"#{case_id}" in accepted.content
    assert (await _state(h, case_id, "P110")) == "accepted"

    refreshed = await leader.wait_for_edit(ping)
    await leader.press(refreshed, f"res:{case_id}")
    await leader.wait_for_message(lambda m: "办结" in m.content and "说明" in m.content)
    await leader.send_text("已经帮他把材料交到乡里，下周批")
    await leader.wait_for_message(lambda m: "等上报人确认" in m.content)

    resolved = await worker.wait_for_message(lambda m: "已办结" in m.content)
    assert "下周批" in resolved.content
    assert {f"cfm:{case_id}", f"nfx:{case_id}"} <= {d for _, d in resolved.buttons}
    await worker.press(resolved, f"cfm:{case_id}")
    await worker.wait_for_edit(resolved, lambda m: "已关闭" in m.content)
    await leader.wait_for_message(lambda m: "已关闭" in m.content and f"#{case_id}" in m.content)
    assert (await _state(h, case_id, "P110")) == "closed"


async def test_not_fixed_reopens_to_the_owner(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(GENERAL)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    await leader.press(ping, f"res:{case_id}")
    await leader.wait_for_message(lambda m: "说明" in m.content)
    await leader.send_text("办好了")
    resolved = await worker.wait_for_message(lambda m: "已办结" in m.content)

    await worker.press(resolved, f"nfx:{case_id}")
    await worker.wait_for_message(lambda m: "哪里还没解决" in m.content)
    reopened = await leader.wait_for_message(lambda m: "重新打开" in m.content)
    assert f"#{case_id}" in reopened.content
    assert (await _state(h, case_id, "P110")) == "assigned"
    # the worker's optional explanation goes to the case as details
    await worker.send_text("材料还是没交上去")
    await worker.wait_for_message(lambda m: "已补充" in m.content)
    timeline = h.cases.timeline(case_id, h.person_id("P110"))
    assert any(e.kind == "details_added" and "没交上去" in (e.note or "") for e in timeline)


async def _state(h: Harness, case_id: int, viewer_code: str) -> str:
    return h.cases.get_case(case_id, h.person_id(viewer_code)).state
