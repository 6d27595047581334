"""What officials and operators rely on beyond the case loop: the /ledger export, pending prompts surviving a
restart, webhook mode (real HTTP into the bot's webhook server), the per-language command menu, and the
arguments ``lianhu run`` hands to PTB."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from telegram.ext import Application

import bot.app as bot_app
from bot.app import build_application
from i18n import t
from runtime.config import config_from_dict
from runtime.ledger import COLUMNS, DEFAULT_TIMEZONE, headers, zone
from runtime.wiring import build_services
from storage.db import Database
from tests.bot.conftest import Harness, ScriptedTranscriber, make_config, start_app, stop_app
from tests.bot.test_case_loop import GENERAL, case_number
from tests.fakebotapi.server import FakeTelegram
from workflows.ports import FakeClock

# ---------------------------------------------------------------------------------------------- /ledger


def _file(h: Harness, code: str, text: str) -> int:
    return h.cases.file_report(h.person_id(code), text=text).id


async def test_ledger_is_a_csv_of_the_officials_area_only(bot_harness: Harness) -> None:
    h = bot_harness
    leader = await h.register("P110")  # grid leader of village V0101 (grids G010101, G010102)
    worker = await h.register("P1111")
    # cases filed by the domain directly: this test is about the export, not about reporting
    mine_open = await asyncio.to_thread(_file, h, "P1111", GENERAL)
    mine_rejected = await asyncio.to_thread(_file, h, "P1121", "二组的路灯坏了好几天了")
    await asyncio.to_thread(h.cases.reject, mine_rejected, h.person_id("P110"), "路灯归县里管")
    neighbour = await asyncio.to_thread(_file, h, "P1211", GENERAL)  # village V0102: not P110's
    other_township = await asyncio.to_thread(_file, h, "P2111", GENERAL)
    await h.flush()

    await leader.send_command("ledger")
    book = await leader.wait_for_message(lambda m: m.document is not None)  # the workbook first, with the caption
    sent = await leader.wait_for_message(lambda m: m.document is not None and m.message_id != book.message_id)
    local_day = h.clock.now().replace(tzinfo=UTC).astimezone(zone(DEFAULT_TIMEZONE)).date()
    assert book.file_name == f"ledger-V0101-{local_day:%Y-%m-%d}.xlsx"
    assert "2" in book.caption and "多卡村" in book.caption
    ws = load_workbook(io.BytesIO(book.document)).active
    grid = [[c.value for c in r] for r in ws.iter_rows()]
    assert grid[0] == headers("zh") and ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:W{len(grid)}"
    assert sorted(r[0] for r in grid[1:]) == sorted([mine_open, mine_rejected])

    data = sent.document
    assert data is not None and data.startswith(b"\xef\xbb\xbf")  # BOM: Excel/WPS read it as UTF-8
    assert sent.file_name == f"ledger-V0101-{local_day:%Y-%m-%d}.csv"
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table[0] == headers("zh")  # the same columns as `lianhu ledger`, in Chinese
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in table[1:]]
    by_id = {int(r["case_id"]): r for r in rows}
    assert set(by_id) == {mine_open, mine_rejected}
    assert not {neighbour, other_township} & set(by_id)
    assert by_id[mine_open]["reporter_code"] == "P1111" and by_id[mine_open]["text"] == GENERAL
    assert by_id[mine_rejected]["state"] == t("zh", "state.rejected")
    assert by_id[mine_rejected]["close_reason"] == "路灯归县里管"
    assert by_id[mine_open]["created_at"].endswith("+08:00")  # Beijing time, like the CLI

    await leader.send_command("ledger", "open")
    await leader.wait_for_message(lambda m: m.document is not None and m.file_name.endswith(".xlsx")
                                  and m.message_id > sent.message_id)
    open_only = await leader.wait_for_message(lambda m: m.document is not None and m.file_name.endswith(".csv")
                                              and m.message_id > sent.message_id)
    open_rows = list(csv.reader(io.StringIO(open_only.document.decode("utf-8-sig"), newline="")))
    assert [int(r[0]) for r in open_rows[1:]] == [mine_open]

    await leader.send_command("ledger", "everything")
    assert (await leader.wait_for_message()).content == t("zh", "ledger.usage")

    await worker.send_command("ledger")
    refusal = await worker.wait_for_message(lambda m: "/my" in m.content)
    assert refusal.content == t("zh", "ledger.officials_only") and refusal.document is None


async def test_ledger_with_nothing_to_export_says_so(bot_harness: Harness) -> None:
    h = bot_harness
    leader = await h.register("P210", language_code="bo")  # a Tibetan-speaking grid leader, no cases yet
    await leader.send_command("ledger")
    assert (await leader.wait_for_message()).content == t("bo", "ledger.empty")
    assert not h.fake.calls_to("sendDocument")


# ---------------------------------------------------------------------------------------------- restart


async def test_pending_resolve_prompt_survives_a_restart(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(GENERAL)
    case_id = case_number((await worker.wait_for_message(lambda m: "已记下" in m.content)).content)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    await leader.press(ping, f"res:{case_id}")
    await leader.wait_for_message(lambda m: "说明" in m.content)  # "type the resolution note"

    await h.restart()  # e.g. a deploy between question and answer: the question is in the database
    assert h.app.persistence is None
    await leader.send_text("已经帮他把材料交到乡里")
    await leader.wait_for_message(lambda m: m.content == t("zh", "done.resolve", case_id=case_id))
    view = await asyncio.to_thread(h.cases.get_case, case_id, h.person_id("P110"))
    assert view.state == "resolved" and view.resolution_note == "已经帮他把材料交到乡里"


async def test_a_question_asked_by_one_bot_process_is_answered_on_another(bot_harness: Harness) -> None:
    """Two applications on one database (two replicas): "resolve" pressed on the first, the note typed to the
    second. The second must know the question; the first must not answer it again."""
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(GENERAL)
    case_id = case_number((await worker.wait_for_message(lambda m: "已记下" in m.content)).content)
    ping = await leader.wait_for_message(lambda m: "新案件" in m.content)
    await leader.press(ping, f"res:{case_id}")
    await leader.wait_for_message(lambda m: "说明" in m.content)

    first = h.app
    await first.updater.stop()  # the first replica stops taking updates (it still runs)
    second = h.build()
    await start_app(second)
    try:
        await leader.send_text("草场纠纷已调解")
        await leader.wait_for_message(lambda m: m.content == t("zh", "done.resolve", case_id=case_id))
        view = await asyncio.to_thread(h.cases.get_case, case_id, h.person_id("P110"))
        assert view.state == "resolved" and view.resolution_note == "草场纠纷已调解"
        # the question is gone for every process: a further message is no longer taken as the note
        assert await asyncio.to_thread(second.bot_data["lianhu"].conversations.pending, f"tg:{leader.id}") is None
    finally:
        await stop_app(second)
        await first.updater.start_polling(poll_interval=0, timeout=1)


# ---------------------------------------------------------------------------------------------- webhook


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_end_to_end_and_forged_updates_refused(
    fake_telegram: FakeTelegram, sample_org: Any, database: Database, transcriber: ScriptedTranscriber
) -> None:
    fake = fake_telegram
    clock = FakeClock()
    config = make_config(fake, database)
    services = build_services(config, clock=clock, db=database)
    app = build_application(config, services, clock=clock, transcribers={"zh": transcriber})
    port, secret = _free_port(), "s3cret-Token_1"
    await app.initialize()
    await app.post_init(app)  # type: ignore[misc]
    await app.updater.start_webhook(  # type: ignore[union-attr]
        listen="127.0.0.1", port=port, url_path="lianhu", webhook_url="https://example.org/lianhu",
        secret_token=secret,
    )
    await app.start()
    try:
        assert fake.webhook["url"] == "https://example.org/lianhu" and fake.webhook["secret_token"] == secret
        code = await asyncio.to_thread(services.people_service.create_invite, "P1111")
        await asyncio.to_thread(services.people_service.redeem_invite, code, 7101, 7101)
        worker = fake.add_user(7101, "扎西")
        url = f"http://127.0.0.1:{port}/lianhu"

        async def post(text: str, headers: dict[str, str]) -> httpx.Response:
            await worker.send_text(text)  # builds the Update as Telegram would (not served: webhook is set)
            update = fake.updates[worker.last_update_id]
            async with httpx.AsyncClient() as client:
                return await client.post(url, json=update, headers=headers)

        forged = await post("假的：有人冒充联户员", {"X-Telegram-Bot-Api-Secret-Token": "wrong"})
        assert forged.status_code == 403
        assert (await post("假的：没有密钥", {})).status_code == 403

        ok = await post(GENERAL, {"X-Telegram-Bot-Api-Secret-Token": secret})
        assert ok.status_code == 200
        receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
        rows = await asyncio.to_thread(services.case_service.ledger)
        assert [r["case_id"] for r in rows] == [case_number(receipt.content)]  # the forged ones never became cases
        assert not fake.calls_to("getUpdates")  # webhook mode: nobody polls
    finally:
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)  # type: ignore[misc]


def _webhook_config(tmp_path: Path, secret: str | None) -> Any:
    env = {"LIANHU_BOT_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    if secret:
        env["HOOK_SECRET"] = secret
    return config_from_dict({
        "bot": {"mode": "webhook", "webhook_url": "https://lianhu.example.gov.cn/telegram/hook",
                "webhook_listen": "127.0.0.1", "webhook_port": 9443, "webhook_secret_env": "HOOK_SECRET"},
        "database": {"data_dir": str(tmp_path / "data")},
    }, env)


def test_run_in_webhook_mode_passes_the_configured_arguments(
    tmp_path: Path, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Application, dict[str, Any]]] = []
    monkeypatch.setattr(Application, "run_webhook", lambda self, **kw: calls.append((self, kw)))
    monkeypatch.setattr(Application, "run_polling", lambda self, **kw: pytest.fail("polling in webhook mode"))
    monkeypatch.setattr("runtime.wiring.build_services",
                        lambda config: build_services(config, clock=FakeClock(), db=sqlite_database))
    monkeypatch.setattr("transcription.factory.build_transcribers", lambda cfg: {})

    assert bot_app.run(_webhook_config(tmp_path, "abc-123")) == 0
    [(app, kwargs)] = calls
    assert kwargs == {
        "listen": "127.0.0.1", "port": 9443,
        "url_path": "telegram/hook",  # the path of webhook_url: what the reverse proxy forwards
        "webhook_url": "https://lianhu.example.gov.cn/telegram/hook",
        "secret_token": "abc-123",  # from the env variable named by webhook_secret_env
        "allowed_updates": kwargs["allowed_updates"],
    }
    assert "callback_query" in kwargs["allowed_updates"]
    assert app.persistence is None  # nothing kept in the process or a local file: replicas share the database


def test_run_refuses_webhook_mode_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Application, "run_webhook", lambda self, **kw: pytest.fail("started without a secret"))
    assert bot_app.run(_webhook_config(tmp_path, None)) == 2
    assert "HOOK_SECRET" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- menu


async def test_command_menu_in_each_language(bot_harness: Harness) -> None:
    bot = bot_harness.app.bot
    menus = {
        "zh": await bot.get_my_commands(),  # the default for every client language
        "bo": await bot.get_my_commands(language_code="bo"),
        "en": await bot.get_my_commands(language_code="en"),
    }
    for lang, commands in menus.items():
        assert [c.command for c in commands] == list(bot_app.MENU_COMMANDS)
        assert {c.command: c.description for c in commands}["ledger"] == t(lang, "cmd.ledger")
    assert menus["zh"][0].description == "我上报的事情" and menus["en"][0].description == "Cases I reported"
    assert any("\u0f00" <= ch <= "\u0fff" for ch in menus["bo"][0].description)  # Tibetan script

