"""In a real browser (Debian's Chromium driven by playwright, as ``test_browser.py``): a township commander
signs in with the link from ``/web``, sends a snowstorm check to two villages from the console's form, and
the liaison workers get their household sheets in Telegram (fake Bot API); the progress page and the
household archive with its visits beside its cases render. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from runtime.config import WebConfig
from tests.bot.conftest import bot_harness, transcriber  # noqa: F401  (fixtures)
from tests.web.conftest import free_port, serve
from tests.web.test_browser import (  # noqa: F401  (the skip marks, and one database is enough here)
    CHROMIUM,
    async_playwright,
    database,
    pytestmark,
    shot_path,
)
from web.app import create_app
from web.console import Console


async def test_a_commander_sends_a_task_from_the_console_and_workers_get_it_in_telegram(bot_harness):  # noqa: F811
    h = bot_harness
    port = free_port()
    web = WebConfig(port=port)
    bc = h.app.bot_data["lianhu"]
    bc.config = dataclasses.replace(bc.config, web=web)
    console = Console(h.services, web=web, kick=h.app.bot_data["background"].kick, telegram_on=True)
    server, task = await serve(create_app(console), port)
    try:
        commander = await h.register("P100", "陈志强")
        worker = await h.register("P1211", "索南")
        reporter = await h.register("P1111", "扎西")
        await reporter.send_text("仁青家的老阿爸昨晚去世了，家里人很难过")  # a visit for H111101's cadre
        await reporter.wait_for_message(lambda m: "已记下" in m.content)
        await commander.send_command("web")
        msg = await commander.wait_for_message(lambda m: "/signin/" in m.content)
        link = re.search(r"(http://\S+/signin/\S+)", msg.content).group(1)
        due = (h.clock.now() + timedelta(hours=8 + 6)).strftime("%Y-%m-%dT%H:%M")  # Beijing time, in 6 h

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            await page.goto(link)
            await page.click("#signin")
            await page.wait_for_url(re.compile(r".*/wall$"))
            await page.click('nav a[href="/tasks"]')
            await page.wait_for_selector("#task-form")
            await page.select_option("#template", "disaster_check")
            await page.check(f'input[name="unit"][value="{_unit(h, "V0101")}"]')
            await page.check(f'input[name="unit"][value="{_unit(h, "V0102")}"]')
            await page.fill("#due", due)
            await page.screenshot(path=shot_path("task-form-zh"), full_page=True)
            await page.click("#task-submit")
            await page.wait_for_selector("#done")
            assert "多卡村" in await page.inner_text("#by-unit") and "拉日村" in await page.inner_text(
                "#by-unit"
            )
            await page.screenshot(path=shot_path("task-progress-zh"), full_page=True)

            sheet = await worker.wait_for_message(lambda m: "任务 #" in m.content and m.buttons, timeout=15)
            assert "大雪" in sheet.content  # the template's words, with one line per household

            await page.goto(f"http://127.0.0.1:{port}/households/{_household(h, 'H111101')}")
            visits = await page.inner_text("#visits")
            assert "老人去世" in visits and "待走访" in visits
            await page.screenshot(path=shot_path("household-visits-zh"), full_page=True)
            await browser.close()
    finally:
        server.should_exit = True
        await task


def _unit(h, code: str) -> int:
    from sqlalchemy import select

    from storage.models import Unit

    with h.services.db.session() as s:
        return s.scalar(select(Unit.id).where(Unit.code == code))


def _household(h, code: str) -> int:
    from sqlalchemy import select

    from storage.models import Household

    with h.services.db.session() as s:
        return s.scalar(select(Household.id).where(Household.code == code))
