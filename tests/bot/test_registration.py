"""Onboarding and polite refusals: invite codes (good, bad, used), unregistered users, empty text, stickers."""

from __future__ import annotations

import asyncio

from tests.bot.conftest import Harness


async def test_good_code_binds_and_bad_code_is_refused(bot_harness: Harness) -> None:
    h = bot_harness
    user = h.fake.add_user(7001, "Dawa", "zh")
    await user.send_command("start", "NOPE2345")
    bad = await user.wait_for_message()
    assert "不能用" in bad.content
    assert h.people.find_by_telegram(7001) is None

    code = await asyncio.to_thread(h.people.create_invite, "P1112")
    await user.send_command("start", code.lower())  # codes are forgiving about case
    ok = await user.wait_for_message()
    assert "登记成功" in ok.content
    bound = h.people.find_by_telegram(7001)
    assert bound is not None and bound.code == "P1112"

    other = h.fake.add_user(7002, "Someone", "zh")  # the same code again, from another account
    await other.send_command("start", code)
    used = await other.wait_for_message()
    assert "不能用" in used.content
    assert h.people.find_by_telegram(7002) is None


async def test_unregistered_user_is_told_how_to_get_a_code_and_nothing_else_works(bot_harness: Harness) -> None:
    h = bot_harness
    stranger = h.fake.add_user(7003, "Stranger", "zh")
    await stranger.send_text("我家房子漏雨了")
    msg = await stranger.wait_for_message()
    assert "/start" in msg.content and "网格长" in msg.content
    await stranger.send_command("my")
    assert "/start" in (await stranger.wait_for_message()).content
    await stranger.send_command("start")
    assert "邀请码" in (await stranger.wait_for_message()).content
    assert h.cases.ledger() == []  # nothing was filed


async def test_english_speaking_stranger_gets_english(bot_harness: Harness) -> None:
    stranger = bot_harness.fake.add_user(7004, "Visitor", "en")
    await stranger.send_text("hello")
    assert "invite code" in (await stranger.wait_for_message()).content


async def test_empty_text_and_sticker_get_a_polite_hint(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_text("   ")
    assert "说说是什么事" in (await worker.wait_for_message()).content
    await worker.send_sticker()
    assert "打一句话" in (await worker.wait_for_message()).content  # a hint, not a case
    assert h.cases.ledger() == []
    # a location is a report's place now (tests/bot/test_media.py): stored, and the bot asks what happened
    await worker.send_location(35.0, 100.0)
    assert "发生了什么事" in (await worker.wait_for_message()).content


async def test_official_creates_invite_for_someone_in_their_area_only(bot_harness: Harness) -> None:
    h = bot_harness
    leader = await h.register("P110")  # grid leader of village V0101
    await leader.send_command("invite", "P1111")
    msg = await leader.wait_for_message()
    assert "/start" in msg.content and "t.me/lianhu_test_bot?start=" in msg.content
    code = msg.content.split("/start ")[1].split()[0]
    worker = h.fake.add_user(7005, "New", "zh")
    await worker.send_command("start", code)
    assert "登记成功" in (await worker.wait_for_message()).content

    await leader.send_command("invite", "P2111")  # a worker in another township
    assert "不能" in (await leader.wait_for_message()).content
    await leader.send_command("invite", "NOBODY")
    assert "NOBODY" in (await leader.wait_for_message()).content


async def test_language_switch_to_tibetan(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_command("lang")
    menu = await worker.wait_for_message()
    await worker.press(menu, "ui:0:bo")
    speech_menu = await worker.wait_for_message(lambda m: any(d.startswith("sp:") for _, d in m.buttons))
    assert "སྐད" in speech_menu.content
    await worker.press(speech_menu, "sp:0:bo")
    await worker.wait_for_edit(speech_menu, lambda m: "བོད་སྐད" in m.content)
    person = h.people.find_by_telegram(worker.id)
    assert (person.ui_language, person.speech_language) == ("bo", "bo")
    await worker.send_text("ཁྱིམ་ཚང་འདིའི་ཁང་པ་ལ་ཆར་ཆུ་འཛག་གི་འདུག")
    receipt = await worker.wait_for_message(lambda m: "ཐོ་བཀོད་ཟིན" in m.content)
    assert "གནད་དོན་ཨང་" in receipt.content


async def test_start_code_in_a_group_does_not_bind(bot_harness: Harness) -> None:
    """/start CODE typed in a group must not bind the group's chat id to the person (their case cards and
    /ledger would then go to everyone in the group); the code stays usable in the private chat."""
    h = bot_harness
    user = h.fake.add_user(7010, "Dolma", "zh")
    group = h.fake.add_group(-100777, "village group")
    code = await asyncio.to_thread(h.people.create_invite, "P1112")
    await user.send_command("start", code, chat=group)
    await h.fake.wait_delivered(user.last_update_id)
    await user.send_command("ledger", chat=group)
    await h.fake.wait_delivered(user.last_update_id)
    await h.settle()
    assert h.people.find_by_telegram(7010) is None
    assert not [c for c in h.fake.calls if str(c.params.get("chat_id")) == "-100777"]  # nothing posted there

    await user.send_command("start", code)  # the same code still works where it belongs
    assert "登记成功" in (await user.wait_for_message()).content
    bound = h.people.find_by_telegram(7010)
    assert bound is not None and bound.telegram_chat_id == 7010
