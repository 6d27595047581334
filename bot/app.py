"""The Telegram application: handlers, error handler, rate limiter, and the background machinery (case
scheduler, notification outbox, transcription pool) started and stopped with it in the same process.

Why everything in one process: a county runs one small server; one ``lianhu run`` must be the whole system.
The scheduler holds a database lease, so a second process started by mistake stands by instead of sending
every reminder twice.

Tests build the real application with :func:`build_application` against a fake Bot API server and drive its
lifecycle exactly as ``run_polling`` does (initialize → post_init → start polling → start; then the reverse).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.dedupe import UpdateDeduplicator
from bot.delivery import TelegramDelivery
from bot.handlers import (
    buttons,
    console,
    export,
    language,
    media,
    officials,
    registration,
    reporting,
    tasks,
    visits,
    worker,
)
from bot.handlers.common import BotContext, Limits, begin_update, lang_for, person_of, update_state
from i18n import DEFAULT_LANGUAGE, UI_LANGUAGES, set_configured_labels, t
from runtime.voice import TranscriptionPool, VoicePipeline
from transcription.base import Transcriber
from workflows.conversation import ConversationState
from workflows.durations import parse_duration
from workflows.outbox import OutboxDispatcher, release_waiting_for_user
from workflows.ports import Clock
from workflows.scheduler import CaseScheduler
from workflows.transcription_jobs import TranscriptionJobs

log = logging.getLogger(__name__)

NO_TOKEN_MESSAGE = (
    "No Telegram bot token configured. Set the environment variable LIANHU_BOT_TOKEN=<token from @BotFather>, "
    "or put token = \"<token>\" under [bot] in config.toml."
)
NO_WEBHOOK_SECRET_MESSAGE = (
    "Webhook mode needs a secret: set the environment variable {env}=<random letters, digits, _ or ->. "
    "Without it anyone who finds the URL could post forged updates in an official's name."
)
#: The command menu, in this order; each description is ``cmd.<command>`` in the catalogues.
MENU_COMMANDS = ("my", "cases", "overdue", "task", "visits", "ledger", "stats", "web", "lang", "help")
STANDARD_DOWNLOAD_LIMIT = 20 * 1024 * 1024


class Background:
    """The outbox kick loop and the scheduler, owned by the application (``bot_data["background"]``)."""

    def __init__(self, scheduler: CaseScheduler, pipeline: VoicePipeline, dispatcher: OutboxDispatcher) -> None:
        self.scheduler = scheduler
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """A notification was just queued: deliver it now instead of at the next outbox tick."""
        self._wake.set()

    async def _kick_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for _ in range(40):  # the scheduler's own tick may be running: wait for it, then run ours
                if not self.scheduler.is_leader:
                    break
                if await self.scheduler.outbox_tick() is not None:
                    break
                await asyncio.sleep(0.05)

    async def start(self) -> None:
        await self.scheduler.start()
        self._task = asyncio.get_running_loop().create_task(self._kick_loop(), name="outbox-kick")
        await self.pipeline.resume_pending()
        self.kick()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.pipeline.shutdown()
        await self.scheduler.shutdown()


def _limits(config: Any, transcription: Mapping[str, Any]) -> Limits:
    self_hosted = bool(config.bot.base_file_url) and "api.telegram.org" not in str(config.bot.base_file_url)
    return Limits(
        max_seconds=float(transcription.get("max_seconds", 300.0)),
        max_bytes=int(transcription.get("max_bytes", 20_000_000)),
        # a self-hosted Bot API server serves big files; api.telegram.org stops at 20 MB
        download_limit=2_000 * 1024 * 1024 if self_hosted else STANDARD_DOWNLOAD_LIMIT,
    )


async def _error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log everything; tell the user "something went wrong" in their language, never the internals."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        person = await person_of(update, context)
    except Exception:
        person = None
    state = update_state()
    lang = lang_for(person, update)
    if state.get("wrote"):
        # what the user sent or pressed is already stored: "try again" would make them report twice
        wrote = state["wrote"]
        pressed = update.callback_query is not None
        text = t(lang, "err.saved_case", case_id=wrote) if isinstance(wrote, int) and wrote is not True \
            and not pressed else t(lang, "err.saved")
        if state.get("replied") and isinstance(context.error, TelegramError):
            return  # our answer was on its way when Telegram's connection failed: it very likely arrived
    elif state.get("replied") and isinstance(context.error, TelegramError):
        return  # the answer was being sent; another message would only confuse
    else:
        text = t(lang, "err.generic")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_chat is not None:
            await update.effective_chat.send_message(text)
    except TelegramError as exc:
        log.info("could not tell the user about the error: %s", exc)


async def _begin_update(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A fresh record of what this update has done (a committed write, a reply), read by the error handler."""
    begin_update()


async def _release_waiting(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anyone who writes to the bot (a message, a command, a button) no longer blocks it: notifications that
    waited for them (``DeliveryError.waiting_for_user``) go out now instead of at the next 6-hour step."""
    if not isinstance(update, Update) or update.effective_user is None:
        return
    bc = context.application.bot_data["lianhu"]

    def release(user_id: int) -> int:
        with bc.db.session() as s:
            return release_waiting_for_user(s, user_id, bc.clock.now())

    try:
        released = await asyncio.to_thread(release, update.effective_user.id)
    except Exception:  # never in the way of handling the update itself
        log.exception("could not release notifications waiting for user %s", update.effective_user.id)
        return
    if released:
        log.info("user %s wrote to the bot again: %d waiting notification(s) released", update.effective_user.id,
                 released)
        bc.kick()


async def _private_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons act on cases, so only those pressed in a private chat count (CallbackQueryHandler takes no
    chat filter); a press anywhere else is answered, so the client stops spinning, and ignored."""
    query = update.callback_query
    assert query is not None
    chat = query.message.chat if query.message is not None else None
    if chat is None or chat.type != ChatType.PRIVATE:
        with contextlib.suppress(TelegramError):
            await query.answer()
        return
    await buttons.on_button(update, context)


def add_handlers(app: Application, dedupe: UpdateDeduplicator) -> None:
    app.add_handler(TypeHandler(Update, _begin_update), group=-110)
    app.add_handler(TypeHandler(Update, dedupe.check), group=-100)
    app.add_handler(TypeHandler(Update, _release_waiting), group=-90)
    # Everything personal happens in the private chat only: a command in a group would bind the group's chat
    # id (/start CODE), or post a person's cases or the ledger CSV to everyone in it.
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", registration.start, filters=private))
    app.add_handler(CommandHandler("invite", registration.invite, filters=private))
    app.add_handler(CommandHandler("help", registration.help_command, filters=private))
    app.add_handler(CommandHandler("lang", language.lang_command, filters=private))
    app.add_handler(CommandHandler("my", worker.my_command, filters=private))
    app.add_handler(CommandHandler("cases", officials.cases_command, filters=private))
    app.add_handler(CommandHandler("case", officials.case_command, filters=private))
    app.add_handler(CommandHandler("overdue", officials.overdue_command, filters=private))
    app.add_handler(CommandHandler("ledger", export.ledger_command, filters=private))
    app.add_handler(CommandHandler("task", tasks.task_command, filters=private))
    app.add_handler(CommandHandler("tasks", tasks.tasks_command, filters=private))
    app.add_handler(CommandHandler("visits", visits.visits_command, filters=private))
    app.add_handler(CommandHandler("web", console.web_command, filters=private))
    app.add_handler(CommandHandler("stats", console.stats_command, filters=private))
    app.add_handler(CallbackQueryHandler(_private_button))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, reporting.on_text))
    # a recording sent as a file: any audio type, or a recording's extension with a generic type (phones
    # often send .amr/.m4a as application/octet-stream)
    audio_doc = filters.Document.Category("audio/") | reporting.AUDIO_EXTENSIONS_FILTER
    app.add_handler(MessageHandler(private & (filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | audio_doc),
                                   reporting.on_voice))
    app.add_handler(MessageHandler(private & filters.PHOTO, visits.on_photo))  # a visit's photo, else as below
    app.add_handler(MessageHandler(private & filters.COMMAND, registration.help_command))  # unknown /command
    # photos, albums, videos, documents, places; stickers, contacts and the rest get a hint (bot/handlers/media.py)
    app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, media.on_media))
    app.add_handler(TypeHandler(Update, dedupe.record), group=100)
    app.add_error_handler(_error_handler)


def command_menu(lang: str) -> list[BotCommand]:
    return [BotCommand(command, t(lang, f"cmd.{command}")) for command in MENU_COMMANDS]


def webhook_options(config: Any) -> dict[str, Any]:
    """Arguments for ``run_webhook`` from ``[bot]``.

    The bot listens on the *path of* ``webhook_url``: the reverse proxy forwards
    ``https://example.org/lianhu`` to ``http://<webhook_listen>:<webhook_port>/lianhu`` unchanged, so both
    must agree (the token is never part of the URL; the secret header authenticates Telegram)."""
    bot = config.bot
    return {
        "listen": bot.webhook_listen,
        "port": bot.webhook_port,
        "url_path": urlsplit(bot.webhook_url or "").path.strip("/"),
        "webhook_url": bot.webhook_url,
        "secret_token": bot.webhook_secret,
        "allowed_updates": Update.ALL_TYPES,
    }


def build_application(config: Any, services: Any, *, clock: Clock | None = None,
                      transcribers: Mapping[str, Transcriber] | None = None) -> Application:
    """The real application, ready for ``run_polling``/``run_webhook`` (or a test's manual lifecycle).

    The application keeps nothing of its own between two updates: pending questions and other per-chat
    state are in the database (:mod:`bot.conversation`), so a restart, or another process behind the same
    load balancer, carries on the conversation. PTB persistence is therefore not used."""
    if not config.bot.token:
        raise ValueError(NO_TOKEN_MESSAGE)
    clock = clock or services.clock
    builder = (
        Application.builder()
        .token(config.bot.token)
        .rate_limiter(AIORateLimiter(max_retries=0))  # 429s go back to the outbox, which retries with backoff
        .concurrent_updates(max(1, int(config.bot.concurrent_updates)))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .media_write_timeout(60)
        .read_timeout(15)
        .write_timeout(15)
    )
    if config.bot.base_url:
        builder = builder.base_url(config.bot.base_url)
    if config.bot.base_file_url:
        builder = builder.base_file_url(config.bot.base_file_url)
    app = builder.build()

    transcription_cfg = dict(config.transcription or {})
    pool = TranscriptionPool(transcribers or {}, workers=int(transcription_cfg.get("workers", 1)))
    conversations = ConversationState(services.db, clock)
    delivery = TelegramDelivery(app.bot, services.case_service, conversations, tasks=services.task_service,
                                visits=services.visit_service)
    outbox = config.outbox
    dispatcher = OutboxDispatcher(
        services.db, clock, delivery, max_attempts=outbox.max_attempts,
        backoff_base=timedelta(seconds=outbox.backoff_base_seconds),
        backoff_max=timedelta(seconds=outbox.backoff_max_seconds),
    )
    scheduler = CaseScheduler(
        services.db, clock, services.due_work(clock), dispatcher,
        tick_seconds=config.scheduler.tick_seconds, outbox_seconds=outbox.tick_seconds,
        lease_seconds=config.scheduler.lease_seconds,
    )
    async def fetch(file_id: str) -> bytes:  # a recording whose first download failed (runtime/voice.py)
        tg_file = await app.bot.get_file(file_id)
        return bytes(await tg_file.download_as_bytearray())

    jobs = TranscriptionJobs(services.db, clock,
                             lease=timedelta(seconds=float(transcription_cfg.get("job_lease_seconds", 600))))
    pipeline = VoicePipeline(services.case_service, pool, kick=lambda: None, fetch=fetch, jobs=jobs,
                             poll_seconds=float(transcription_cfg.get("poll_seconds", 2.0)))
    background = Background(scheduler, pipeline, dispatcher)
    pipeline.kick = background.kick
    window = (config.routing or {}).get("reporter_open_case_window", "30m")
    bc = BotContext(
        config=config, cases=services.case_service, people=services.people_service, db=services.db, clock=clock,
        kick=background.kick, delivery=delivery, voice=pipeline, limits=_limits(config, transcription_cfg),
        conversations=conversations,
        followup_window=parse_duration(window), deep_link=config.bot.deep_link,
        tasks=services.task_service, visits=services.visit_service,
    )
    app.bot_data["lianhu"] = bc
    set_configured_labels("category", config.bot.category_labels)
    app.bot_data["background"] = background
    app.bot_data["dispatcher"] = dispatcher
    add_handlers(app, UpdateDeduplicator(services.db, clock))
    return app


async def set_command_menus(app: Application) -> None:
    """The menu in Chinese for everyone (no language_code: the default) and in Tibetan and English for
    clients set to those languages. Cosmetic: a failure is logged and never blocks start-up."""
    for lang in UI_LANGUAGES:
        code = None if lang == DEFAULT_LANGUAGE else lang
        try:
            await app.bot.set_my_commands(command_menu(lang), language_code=code)
        except TelegramError as exc:
            log.warning("could not set the %s command menu: %s", lang, exc)


async def _post_init(app: Application) -> None:
    await set_command_menus(app)
    try:  # expired questions are invisible anyway; this only keeps the table small
        await asyncio.to_thread(app.bot_data["lianhu"].conversations.prune)
    except Exception:
        log.exception("could not prune expired conversation state")
    await app.bot_data["background"].start()


async def _post_shutdown(app: Application) -> None:
    await app.bot_data["background"].stop()


def run(config: Any) -> int:
    """``lianhu run``: polling by default, webhook when ``[bot] mode = "webhook"``. Returns an exit code."""
    if not config.bot.token:
        print(NO_TOKEN_MESSAGE, file=sys.stderr)
        return 2
    if config.bot.mode == "webhook" and not config.bot.webhook_secret:
        print(NO_WEBHOOK_SECRET_MESSAGE.format(env=config.bot.webhook_secret_env), file=sys.stderr)
        return 2
    from runtime.wiring import build_services
    from transcription.factory import build_transcribers

    services = build_services(config)
    transcribers = build_transcribers(config.transcription)
    app = build_application(config, services, clock=services.clock, transcribers=transcribers)
    try:
        if config.bot.mode == "webhook":
            app.run_webhook(**webhook_options(config))
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    finally:
        services.close()
    return 0
