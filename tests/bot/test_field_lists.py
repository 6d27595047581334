"""Through the fake Bot API: an official's /cases and /overdue are the same desk (workflows.scopes).

Issue 10, finding 4: after his cases escalated, a grid leader's /cases said 没有待办的案件 while /overdue listed
three overdue urgent cases in his village.
"""

from __future__ import annotations

import re
from datetime import timedelta

from tests.bot.conftest import Harness

FIRE = "{n}号羊圈着火了 烟很大 快来人"


async def test_escalated_cases_stay_on_the_grid_leaders_cases_and_overdue_agrees(bot_harness: Harness) -> None:
    h = bot_harness
    leader = await h.register("P110")
    await h.register("P100")
    await h.register("P002")  # escalation passes over officials who cannot be reached (test_unreachable.py)
    ids = []
    for n in range(3):
        ids.append(h.cases.file_report(h.person_id("P1111"), text=FIRE.format(n=n)).id)
        h.clock.advance(timedelta(minutes=1))
    for _ in range(3):  # nobody accepts: township commander, county commander, then overdue at the top
        h.clock.advance(timedelta(minutes=31))
        await h.due()
    assert {h.cases.get_case(i, h.person_id("P110")).owner.id for i in ids} == {h.person_id("P002")}
    leader.mark_read()

    await leader.send_command("cases")
    listing = await leader.wait_for_message(lambda m: "待办案件" in m.content)
    assert {int(x) for x in re.findall(r"#(\d+)", listing.content)} >= set(ids)
    assert "仍在关注 3 件" in listing.content and "超期 3 件" in listing.content
    assert "才让多杰负责" in listing.content  # who has them now

    await leader.send_command("overdue")
    overdue = await leader.wait_for_message(lambda m: "超期案件" in m.content)
    assert {int(x) for x in re.findall(r"#(\d+)", overdue.content)} >= set(ids)
    # tapping one opens it (a watcher may see the case)
    await leader.press(listing, f"view:{ids[0]}")
    card = await leader.wait_for_message(lambda m: f"案件 #{ids[0]}" in m.content and "经过" in m.content)
    assert "才让多杰" in card.content
