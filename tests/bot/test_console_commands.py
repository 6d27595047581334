"""/web and /stats in the bot, against the fake Bot API: an official gets a one-time console link (no link
preview) and a PNG chart of their area with one line of summary; a liaison worker is told politely that both
are for officials."""

from __future__ import annotations

import re

from workflows.console.signin import SignInService


async def test_official_gets_a_link_and_a_chart(bot_harness):
    h = bot_harness
    worker = await h.register("P1111", "扎西")
    official = await h.register("P110", "王建国")
    await worker.send_text("二社的羊圈着火了 快来人")
    await worker.wait_for_message(lambda m: "已记下" in m.content)
    official.mark_read()
    await official.send_command("web")
    msg = await official.wait_for_message(lambda m: "/signin/" in m.content)
    token = re.search(r"/signin/(\S+)", msg.content).group(1)
    sent = [c for c in h.fake.calls_to("sendMessage") if "/signin/" in str(c.params.get("text"))]
    assert "is_disabled" in str(sent[-1].params.get("link_preview_options"))
    person = SignInService(h.services.db, h.clock).check_link(token)
    assert person.code == "P110"
    await official.send_command("stats")
    photo = await official.wait_for_message(lambda m: "photo" in m.files)
    assert photo.files["photo"].data.startswith(b"\x89PNG") and "未办结 1 件" in (photo.caption or "")


async def test_workers_are_told_the_console_is_for_officials(bot_harness):
    h = bot_harness
    worker = await h.register("P1111", "扎西")
    for command in ("web", "stats"):
        await worker.send_command(command)
        reply = await worker.wait_for_message()
        assert "只供干部使用" in reply.content and "/signin/" not in reply.content
