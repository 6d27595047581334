"""Tests of the fake Bot API itself, driven by real python-telegram-bot objects (not the product bot)."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakebotapi import FakeTelegram, WaitTimeout

# PTB 22.x warns when reading int durations (they become timedelta later); not the harness's concern.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

OGG = b"OggS\x00\x02" + bytes(range(200))


def _seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest_asyncio.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake_telegram.token, base_url=fake_telegram.base_url,
                   base_file_url=fake_telegram.base_file_url) as b:
        yield b


def _keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


# ====================================================================== plain Bot
async def test_get_me(bot: Bot, fake_telegram: FakeTelegram) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "lianhu_test_bot"
    assert fake_telegram.calls[-1].method == "getMe" and fake_telegram.calls[-1].status == 200


async def test_send_message_round_trip_with_inline_keyboard(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(1001, "卓玛")
    sent = await bot.send_message(1001, "新问题：草场纠纷", reply_markup=_keyboard(("受理", "acc:1"), ("转办", "fwd:1")))
    assert sent.message_id == 1 and sent.chat.id == 1001 and sent.from_user.id == 123456
    assert isinstance(sent.date, dtm.datetime)
    assert sent.reply_markup.inline_keyboard[1][0].callback_data == "fwd:1"
    msg = await user.wait_for_message()
    assert msg.text == "新问题：草场纠纷"
    assert msg.buttons == [("受理", "acc:1"), ("转办", "fwd:1")]
    assert msg.button(text_contains="转") == "fwd:1"
    second = await bot.send_message(1001, "第二条")
    assert second.message_id == 2  # ids are per chat and count up
    assert user.last_message is not None and user.last_message.text == "第二条"


async def test_unknown_token_and_method(fake_telegram: FakeTelegram) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{fake_telegram.base_url}999:WRONG/getMe")
        assert r.status_code == 401 and r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        r = await client.post(f"{fake_telegram.base_url}{fake_telegram.token}/noSuchMethod")
        assert r.status_code == 404 and r.json()["description"] == "Not Found: method not found"
        # Method names are case-insensitive; JSON bodies work too.
        fake_telegram.add_user(5, "A")
        r = await client.post(f"{fake_telegram.base_url}{fake_telegram.token}/SENDMESSAGE",
                              json={"chat_id": 5, "text": "hi", "reply_markup": {"inline_keyboard": [
                                  [{"text": "x", "callback_data": "y"}]]}})
        assert r.status_code == 200 and r.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "x"
    with pytest.raises(InvalidToken, match="(?i)rejected"):  # PTB checks the token with getMe on initialize
        async with Bot("999:WRONG", base_url=fake_telegram.base_url):
            pass
    async with httpx.AsyncClient() as client:  # GET with a query string is accepted too
        r = await client.get(f"{fake_telegram.base_url}{fake_telegram.token}/sendMessage",
                             params={"chat_id": "5", "text": "via GET"})
        assert r.json()["result"]["text"] == "via GET" and r.json()["result"]["chat"]["id"] == 5


async def test_send_errors(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_user(7, "A")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(8, "x")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(7, "  ")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(7, "藏" * 4097)
    await bot.send_message(7, "藏" * 4096)
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(7, "x", reply_markup=_keyboard(("b", "d" * 65)))
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("y", chat_id=7, message_id=99)


async def test_edit_and_not_modified(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    sent = await bot.send_message(7, "待处理", reply_markup=_keyboard(("办结", "done")))
    await bot.edit_message_text("已办结", chat_id=7, message_id=sent.message_id,
                                reply_markup=_keyboard(("办结", "done")))
    msg = await user.wait_for_edit(sent.message_id)
    assert msg.text == "已办结" and msg.version == 1 and msg.history[0]["text"] == "待处理"
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("已办结", chat_id=7, message_id=sent.message_id,
                                    reply_markup=_keyboard(("办结", "done")))
    # Like Telegram, an edit without reply_markup drops the keyboard; then only the markup changes.
    await bot.edit_message_text("已办结", chat_id=7, message_id=sent.message_id)
    assert user.messages[0].buttons == []
    await bot.edit_message_reply_markup(chat_id=7, message_id=sent.message_id, reply_markup=_keyboard(("再办", "again")))
    assert user.messages[0].buttons == [("再办", "again")]
    assert await bot.delete_message(7, sent.message_id)
    assert user.messages == []


async def test_blocked_user_is_forbidden(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(9, "A")
    user.block()
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(9, "x")
    user.unblock()
    assert (await bot.send_message(9, "x")).message_id == 1


async def test_retry_after_and_server_errors(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_user(7, "A")
    fake_telegram.fail_next("sendMessage", status=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(7, "x")
        assert _seconds(info.value.retry_after) == 3
    await bot.send_message(7, "x")
    assert [c.status for c in fake_telegram.calls_to("sendMessage")] == [429, 429, 200]
    fake_telegram.fail_next("sendmessage", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(7, "x")
    fake_telegram.fail_next("getMe", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()
    assert issubclass(NetworkError, TelegramError)


async def test_delay_longer_than_read_timeout_times_out(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_user(7, "A")
    fake_telegram.delay_next("sendMessage", 0.5)
    with pytest.raises(NetworkError):  # TimedOut is a NetworkError
        await bot.send_message(7, "slow", read_timeout=0.1)


async def test_voice_download_and_upload(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    sent = await user.send_voice(OGG, duration=4)
    voice = sent["voice"]
    assert voice["duration"] == 4 and voice["mime_type"] == "audio/ogg" and voice["file_size"] == len(OGG)
    tg_file = await bot.get_file(voice["file_id"])
    assert tg_file.file_path.startswith(fake_telegram.base_file_url)
    assert bytes(await tg_file.download_as_bytearray()) == OGG
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("nope")
    reply = await bot.send_voice(7, voice=b"OggS-reply", duration=2, caption="回复",
                                 reply_markup=_keyboard(("转写", "tx:1")))  # multipart + JSON form field
    assert reply.voice.duration == 2 and reply.caption == "回复"
    msg = await user.wait_for_message()
    assert msg.voice == b"OggS-reply" and msg.buttons == [("转写", "tx:1")]
    assert fake_telegram.calls_to("sendVoice")[0].params["voice"].startswith("<upload")
    # A file_id the server knows can be re-sent without uploading.
    doc = await bot.send_document(7, document=b"%PDF-1.4", filename="台账.pdf")
    again = await bot.send_document(7, document=doc.document.file_id)
    assert again.document.file_id == doc.document.file_id and user.messages[-1].document == b"%PDF-1.4"
    assert user.messages[-2].file_name == "台账.pdf"


async def test_commands_webhook_and_chat_action(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_user(7, "A")
    await bot.set_my_commands([("start", "开始"), ("report", "上报问题")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "report"]
    assert await bot.send_chat_action(7, "typing")
    assert fake_telegram.chats[7].actions == ["typing"]
    assert await bot.delete_webhook(drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0


# ====================================================================== a real Application, long polling
def _echo_app(server: FakeTelegram, seen: list[Update]) -> Application:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}",
                                                  reply_markup=_keyboard(("好", "ok:1")))

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        await update.effective_message.reply_text(f"start args={context.args}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        query = update.callback_query
        await query.answer("收到")
        await query.edit_message_text(f"pressed {query.data}")

    async def voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        data = await (await update.effective_message.voice.get_file()).download_as_bytearray()
        await update.effective_message.reply_text(f"voice {len(data)} bytes")

    app = server.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(MessageHandler(filters.VOICE, voice))
    app.add_handler(CallbackQueryHandler(button))
    return app


@pytest_asyncio.fixture
async def running_app(fake_telegram: FakeTelegram) -> AsyncIterator[tuple[Application, list[Update]]]:
    seen: list[Update] = []
    async with fake_telegram.polling(_echo_app(fake_telegram, seen)) as app:
        yield app, seen
    assert not app.running and not app.updater.running


async def test_polling_application_echo_command_and_button(running_app, fake_telegram: FakeTelegram) -> None:
    app, seen = running_app
    user = fake_telegram.add_user(42, "次仁")
    await user.send_text("牦牛走失")
    reply = await user.wait_for_message(timeout=3)
    assert reply.text == "echo: 牦牛走失"
    await user.send_command("/start", "INVITE-7")
    assert (await user.wait_for_message(timeout=3)).text == "start args=['INVITE-7']"
    cid = await user.press(reply, reply.button(text_contains="好"))
    answer = await fake_telegram.wait_for_answer(cid, timeout=3)
    assert answer["text"] == "收到"
    edited = await user.wait_for_edit(reply, timeout=3)
    assert edited.text == "pressed ok:1" and edited.buttons == []
    with pytest.raises(AssertionError, match="(?i)no button"):
        await user.press(reply, "ok:1")  # the keyboard is gone now
    await user.send_voice(OGG, duration=3)
    assert (await user.wait_for_message(timeout=3)).text == f"voice {len(OGG)} bytes"


async def test_redelivered_update_reaches_handler_twice(running_app, fake_telegram: FakeTelegram) -> None:
    app, seen = running_app
    user = fake_telegram.add_user(42, "次仁")
    await user.send_text("一次")
    await user.wait_for_message(timeout=3)
    fake_telegram.redeliver(user.last_update_id)
    await user.wait_for_message(timeout=3)
    assert [u.update_id for u in seen] == [user.last_update_id] * 2
    assert fake_telegram.delivery_count[user.last_update_id] == 2
    # later updates still flow after the bot re-confirmed an older offset
    await user.send_text("二次")
    assert (await user.wait_for_message(timeout=3)).text == "echo: 二次"


async def test_answer_unknown_callback_query(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("12345")


async def test_wait_timeout_is_an_assertion_with_context(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(1, "A")
    with pytest.raises(WaitTimeout, match="(?i)no new bot message"):
        await user.wait_for_message(timeout=0.1)


async def test_long_poll_returns_when_update_arrives(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(1, "A")
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    await user.send_text("hi")
    updates = await poll
    assert [u.message.text for u in updates] == ["hi"] and loop.time() - started < 2
    # unconfirmed updates are served again; an offset above them confirms and drops them
    assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1) == ()
    started = loop.time()
    assert await bot.get_updates(timeout=0.3) == ()
    assert loop.time() - started >= 0.25


async def test_explicit_ptb_polling_lifecycle_stops_cleanly(fake_telegram: FakeTelegram) -> None:
    """The spelled-out PTB calls (what ``server.polling`` wraps) work and stop well within the poll timeout."""
    seen: list[Update] = []
    app = (Application.builder().token(fake_telegram.token).base_url(fake_telegram.base_url)
           .base_file_url(fake_telegram.base_file_url).build())
    app.add_handler(MessageHandler(filters.TEXT, lambda u, c: _record(seen, u)))
    loop = asyncio.get_running_loop()
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        user = fake_telegram.add_user(3, "A")
        await user.send_text("x")
        await fake_telegram.wait_for(lambda: seen, timeout=3)
        started = loop.time()
        await app.updater.stop()
        await app.stop()
    assert loop.time() - started < 1.5
    # the final getUpdates confirmed the offset: nothing is left pending
    assert fake_telegram.pending_update_count == 0


async def _record(seen: list[Update], update: Update) -> None:
    seen.append(update)


# ====================================================================== formatting like Telegram
async def test_html_parse_mode_gives_plain_text_and_entities(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    sent = await bot.send_message(7, "<b>案件</b> 第 1 号 &lt;急&gt; <a href='https://x.cn/c/1'>详情</a>",
                                  parse_mode="HTML")
    assert sent.text == "案件 第 1 号 <急> 详情"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 2), ("text_link", 13, 2)]
    assert sent.entities[1].url == "https://x.cn/c/1"
    assert user.last_message.text == "案件 第 1 号 <急> 详情" and user.last_message.parse_mode == "HTML"
    with pytest.raises(BadRequest, match="(?i)can't parse entities: unsupported start tag \"3\"|unclosed"):
        await bot.send_message(7, "我爱你 <3", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't find end tag"):
        await bot.send_message(7, "<b>未闭合", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(7, "<b></b>", parse_mode="HTML")


async def test_markdown_v2_requires_escaping(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.add_user(7, "A")
    with pytest.raises(BadRequest, match="(?i)character '.' is reserved"):
        await bot.send_message(7, "*截止* 3.5 天", parse_mode="MarkdownV2")
    sent = await bot.send_message(7, "*截止* 3\\.5 天 _注意_ `a_b`", parse_mode="MarkdownV2")
    assert sent.text == "截止 3.5 天 注意 a_b"
    assert [e.type for e in sent.entities] == ["bold", "italic", "code"]


# ====================================================================== routing-style features
async def test_official_who_never_started_the_bot(bot: Bot, fake_telegram: FakeTelegram) -> None:
    official = fake_telegram.add_user(2002, "扎西", has_started=False)
    with pytest.raises(Forbidden, match="(?i)can't initiate conversation"):
        await bot.send_message(2002, "新案件")
    await official.send_command("/start")
    assert (await bot.send_message(2002, "新案件")).message_id == 2  # /start was message 1 in this chat


async def test_forward_voice_to_official_and_group_chat(bot: Bot, fake_telegram: FakeTelegram) -> None:
    worker = fake_telegram.add_user(1001, "卓玛")
    official = fake_telegram.add_user(2002, "扎西")
    group = fake_telegram.add_group(-100500, "乡联户群")
    sent = await worker.send_voice(OGG, duration=6)
    fwd = await bot.forward_message(2002, from_chat_id=1001, message_id=sent["message_id"])
    assert fwd.forward_origin.sender_user.id == 1001 and fwd.voice.file_id == sent["voice"]["file_id"]
    assert (await official.wait_for_message()).voice == OGG
    copied = await bot.copy_message(-100500, from_chat_id=1001, message_id=sent["message_id"], caption="转发")
    in_group = await fake_telegram.wait_for_message(-100500)
    assert in_group.message_id == copied.message_id and in_group.caption == "转发" and in_group.voice == OGG
    with pytest.raises(BadRequest, match="(?i)message to forward not found"):
        await bot.forward_message(2002, from_chat_id=1001, message_id=99)
    posted = await worker.send_text("群里说一句", chat=group)
    assert posted["chat"]["id"] == -100500 and posted["from"]["id"] == 1001


async def test_rate_limiter_retries_after_429(fake_telegram: FakeTelegram) -> None:
    """PTB's AIORateLimiter honours retry_after; server.calls shows the retry."""
    from telegram.ext import AIORateLimiter

    fake_telegram.add_user(7, "A")
    fake_telegram.fail_next("sendMessage", status=429, retry_after=1)
    app = fake_telegram.application_builder().rate_limiter(AIORateLimiter(max_retries=2)).build()
    async with app:
        sent = await app.bot.send_message(7, "重试")
    assert sent.text == "重试"
    calls = fake_telegram.calls_to("sendMessage")
    assert [c.status for c in calls] == [429, 200] and calls[1].at - calls[0].at >= 0.9


async def test_callback_answered_twice_or_expired_is_too_old(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    sent = await bot.send_message(7, "x", reply_markup=_keyboard(("a", "a"), ("b", "b")))
    msg = await user.wait_for_message()
    first = await user.press(msg, "a")
    assert await bot.answer_callback_query(first, text="ok", show_alert=True)
    assert fake_telegram.callback_answers[first]["show_alert"] is True
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(first)
    second = await user.press_button(sent.message_id, "b")
    fake_telegram.expire_callback(second)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(second)


async def test_get_updates_allowed_updates_limit_and_webhook_conflict(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    sent = await bot.send_message(7, "x", reply_markup=_keyboard(("a", "a")))
    await user.send_text("1")
    await user.press(sent.message_id, "a")
    await user.send_text("2")
    only_callbacks = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in only_callbacks] == ["a"]
    both = await bot.get_updates(allowed_updates=[], limit=2)
    assert [u.message.text if u.message else "cb" for u in both] == ["1", "cb"]
    fake_telegram.webhook["url"] = "https://example.org/hook"
    with pytest.raises(TelegramError, match="(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_stop_releases_port_and_ends_pending_long_poll() -> None:
    server = FakeTelegram()
    async with server, Bot(server.token, base_url=server.base_url) as b:
        poll = asyncio.create_task(b.get_updates(timeout=10))
        await asyncio.sleep(0.1)
        await server.stop()  # the waiting poll gets its (empty) answer before connections close
        assert await asyncio.wait_for(poll, 2) == ()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{server.base_url}{server.token}/getMe")


async def test_user_media_kinds_parse_in_ptb(bot: Bot, fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.add_user(7, "A")
    await user.send_audio(b"ID3...", duration=9, title="歌")
    await user.send_video_note(b"\x00\x00\x00\x18ftypmp42", duration=3)
    await user.send_document(b"%PDF", "草场.pdf", caption="证明")
    await user.send_sticker("🐂")
    await user.send_photo(b"\xff\xd8\xff")
    await user.send_location(31.1, 92.0)
    await user.send_contact("+8613800000000")
    first = await user.send_text("原文")
    await user.edit_text(first, "改过的")
    raw_id = fake_telegram.enqueue_raw({"message": {"message_id": 77, "date": 0, "text": "raw",
                                                    "chat": {"id": 7, "type": "private"}}})
    updates = await bot.get_updates()
    msgs = [u.message or u.edited_message for u in updates]
    assert msgs[0].audio.title == "歌" and msgs[1].video_note.length == 240
    assert msgs[2].document.file_name == "草场.pdf" and msgs[2].caption == "证明"
    assert msgs[3].sticker.emoji == "🐂" and msgs[4].photo[0].file_size == 3
    assert msgs[5].location.latitude == pytest.approx(31.1) and msgs[6].contact.user_id == 7
    assert updates[8].edited_message.text == "改过的" and updates[9].update_id == raw_id
    data = await (await bot.get_file(msgs[2].document.file_id)).download_as_bytearray()
    assert bytes(data) == b"%PDF"
