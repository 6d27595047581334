"""In a real browser: headless Chromium from Debian's packages (``chromium``), driven by PyPI's ``playwright``
through ``executable_path`` (no browser download). The whole loop the issue asks for:

an official registers with the bot, sends ``/web`` and gets a one-time link (fake Bot API) → opens it and
signs in → sees the worker's report on the wall → opens the case → accepts it → the worker's Telegram chat
receives "accepted" exactly as if the official had pressed the button in Telegram; the statistics page draws
its charts; the pages in Tibetan load the Tibetan font the console serves.

Screenshots of the main pages are written to ``test-artifacts/screenshots/`` (or ``$LIANHU_ARTIFACTS``).
Skipped, with the reason shown, where no Chromium or playwright is installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from i18n import label
from runtime.config import WebConfig
from tests.bot.conftest import bot_harness, transcriber  # noqa: F401  (fixtures)
from tests.web.conftest import free_port, serve
from web.app import create_app
from web.console import Console

CHROMIUM = next((p for p in (os.environ.get("LIANHU_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).is_file()), None)
try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: apt-get install chromium fonts-noto-cjk "
                                                 "fonts-noto-core (.ci/run does)"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed (pip install playwright)"),
]
ARTIFACTS = Path(os.environ.get("LIANHU_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")


def shot_path(name: str) -> str:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{name}.png")


@pytest.fixture
def database(sqlite_database):  # one database is enough for the browser; the HTTP tests cover PostgreSQL
    return sqlite_database


async def test_official_signs_in_from_the_bot_accepts_on_the_wall_and_the_reporter_hears(bot_harness):  # noqa: F811
    h = bot_harness
    port = free_port()
    web = WebConfig(port=port)
    bc = h.app.bot_data["lianhu"]
    bc.config = dataclasses.replace(bc.config, web=web)  # the bot's links point at this console
    console = Console(h.services, web=web, kick=h.app.bot_data["background"].kick, telegram_on=True)
    server, task = await serve(create_app(console), port)
    try:
        worker = await h.register("P1111", "扎西")
        official = await h.register("P110", "王建国")
        await worker.send_text("二社的羊圈着火了 快来人")
        receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
        case_id = int(re.search(r"#(\d+)", receipt.content).group(1))
        await h.flush()
        official.mark_read()
        await official.send_command("web")
        msg = await official.wait_for_message(lambda m: "/signin/" in m.content)
        link = re.search(r"(http://\S+/signin/\S+)", msg.content).group(1)
        assert link.startswith(f"http://127.0.0.1:{port}/signin/")
        worker.mark_read()

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=["--no-sandbox", "--disable-gpu"])
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            await page.goto(link)
            await page.click("#signin")
            await page.wait_for_url(re.compile(r".*/wall$"))
            card = page.locator(f'[data-case="{case_id}"]')
            await card.wait_for()
            assert "羊圈着火" in await card.inner_text()
            await page.screenshot(path=shot_path("wall-zh"), full_page=True)

            await card.click()
            await page.wait_for_url(re.compile(rf".*/cases/{case_id}$"))
            await page.screenshot(path=shot_path("case-zh"), full_page=True)
            await page.click("#do-accept")
            await page.wait_for_selector("#done")
            assert (await page.inner_text("#state")).strip() == label("zh", "state", "accepted")
            await page.screenshot(path=shot_path("case-accepted-zh"), full_page=True)

            notice = await worker.wait_for_message(lambda m: f"#{case_id}" in m.content and "受理" in m.content,
                                                   timeout=15)
            assert "王建国" in notice.content

            await page.goto(f"http://127.0.0.1:{port}/stats")
            for chart in ("#chart-units", "#chart-weeks-urgency", "#chart-weeks-category"):
                await page.wait_for_function(f"document.querySelector('{chart}').complete && "
                                             f"document.querySelector('{chart}').naturalWidth > 300")
            await page.screenshot(path=shot_path("stats-zh"), full_page=True)

            await page.goto(f"http://127.0.0.1:{port}/wall?lang=bo")
            await page.evaluate("document.fonts.ready")
            families = await page.evaluate(
                "[...document.fonts].filter(f => f.family.includes('Lianhu Tibetan')).map(f => f.status)")
            assert families == ["loaded"], families  # the console's own Tibetan font, not the internet's
            await page.screenshot(path=shot_path("wall-bo"), full_page=True)
            await page.goto(f"http://127.0.0.1:{port}/stats?lang=bo")
            await page.wait_for_function("document.querySelector('#chart-units').naturalWidth > 300")
            await page.screenshot(path=shot_path("stats-bo"), full_page=True)

            phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            await phone.context.add_cookies(await page.context.cookies())
            await phone.goto(f"http://127.0.0.1:{port}/wall?lang=zh")
            await phone.screenshot(path=shot_path("wall-phone"), full_page=True)
            await browser.close()
    finally:
        server.should_exit = True
        await task
