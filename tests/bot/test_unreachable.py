"""Through the fake Bot API: nobody waits on an official who cannot be reached (issue 10, finding 2).

In the field run an urgent case sat with a grid leader who never registered until the 30-minute accept
deadline, and a sick child's case with an unregistered health contact for 4 hours; nobody was told. Now
routing and escalation pass over such people at once, the timeline says why, and the admins and the county
centre hear once per person (not once per case). A case already waiting on someone who then blocks the bot
moves at the next scheduler tick.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.models import Notification, Person
from tests.bot.conftest import Harness

FIRE = "{n}号羊圈着火了 烟很大 快来人"


def _unreachable_notices(h: Harness, recipient: str) -> list[Notification]:
    with h.services.db.session() as s:
        rows = s.scalars(
            select(Notification).where(
                Notification.kind == "official_unreachable",
                Notification.recipient_id == h.person_id(recipient),
            )
        )
        return [n for n in rows if n.payload["person"]["name"] == "王建国"]


async def test_a_case_skips_an_unregistered_grid_leader_and_the_admin_is_told_once(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    commander = await h.register("P100")  # 陈志强, township commander; grid leader P110 never registered
    admin = await h.register("P001")
    operator = await h.register("P003")

    await worker.send_text(FIRE.format(n=1))
    card = await commander.wait_for_message(lambda m: "着火" in m.content, timeout=10)
    first = h.cases.list_cases(h.person_id("P100"), scope="mine")[0]
    assert first.owner is not None and first.owner.id == h.person_id("P100")  # at once, not after 30 minutes
    assert "受理" in str(card.reply_markup)

    timeline = h.cases.timeline(first.id, h.person_id("P001"))
    skipped = [e for e in timeline if e.kind == "skipped_unreachable"]
    assert skipped and skipped[0].data["skipped"][0]["name"] == "王建国"
    assert skipped[0].data["skipped"][0]["why"] == "not_registered"

    notice = await admin.wait_for_message(
        lambda m: "王建国" in m.content and "收不到通知" in m.content, timeout=10
    )
    assert (
        "还没有在机器人上登记" in notice.content and "陈志强" in notice.content and "P110" in notice.content
    )
    await operator.wait_for_message(lambda m: "王建国" in m.content and "收不到通知" in m.content, timeout=10)

    # the card an official opens says why on the timeline
    await commander.send_command("case", str(first.id))
    opened = await commander.wait_for_message(
        lambda m: "经过" in m.content and "跳过" in m.content, timeout=10
    )
    assert "王建国（还没有在机器人上登记）" in opened.content

    # a second case that skips the same person: no second notice
    await worker.send_text(FIRE.format(n=2))
    await commander.wait_for_message(lambda m: "2号羊圈" in m.content, timeout=10)
    await h.flush()
    assert len(_unreachable_notices(h, "P001")) == 1
    assert not [m for m in admin.messages if "王建国" in m.content and "收不到通知" in m.content][1:]


async def test_a_medical_case_skips_an_unregistered_health_contact(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")  # the health contact P010 never registered
    await h.register("P001")
    await worker.send_text("孩子发高烧两天了 一直咳嗽 病得很厉害")
    await leader.wait_for_message(lambda m: "发高烧" in m.content, timeout=10)
    case = h.cases.list_cases(h.person_id("P110"), scope="mine")[0]
    assert case.owner is not None and case.owner.id == h.person_id("P110")


async def test_a_case_waiting_on_someone_who_blocks_the_bot_moves_at_the_next_tick(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    commander = await h.register("P100")
    admin = await h.register("P001")
    await worker.send_text(FIRE.format(n=3))
    await leader.wait_for_message(lambda m: "着火" in m.content, timeout=10)
    case_id = h.cases.list_cases(h.person_id("P110"), scope="mine")[0].id

    leader.block()
    # the next notice to him (a details line from the worker) finds out he blocked the bot
    h.cases.add_details(case_id, h.person_id("P1111"), text="火越来越大了")
    await h.flush()
    with h.services.db.session() as s:
        assert s.get(Person, h.person_id("P110")).unreachable_reason == "blocked"

    await h.due()  # one tick, well before the 30-minute accept deadline
    view = h.cases.get_case(case_id, h.person_id("P001"))
    assert view.owner is not None and view.owner.id == h.person_id("P100")
    assert view.state == "assigned"
    await commander.wait_for_message(
        lambda m: f"#{case_id}" in m.content and "收不到通知" in m.content, timeout=10
    )
    await admin.wait_for_message(lambda m: "王建国" in m.content and "屏蔽了机器人" in m.content, timeout=10)

    # he writes to the bot again: reachable again, routing uses him for the next case
    leader.unblock()
    await leader.send_command("help")
    await leader.wait_for_message(timeout=10)
    await asyncio.sleep(0)
    with h.services.db.session() as s:
        assert s.get(Person, h.person_id("P110")).unreachable_since is None
    second = h.cases.file_report(h.person_id("P1111"), text=FIRE.format(n=4))
    assert second.owner is not None and second.owner.id == h.person_id("P110")
