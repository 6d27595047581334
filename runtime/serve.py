"""``lianhu run``: the whole product in one process — the engine (scheduler, transcription), the console and,
when a bot token is configured, the Telegram bot — all in one asyncio loop.

Why one process: a county runs one small server. Without a token the engine and the console still run (reports
filed from the console or the CLI are triaged, routed, timed and escalated; notifications wait in the outbox
until Telegram is turned on). With a token, the bot's application owns the scheduler and the outbox (it is the
delivery port), and the console shares them: an action on the web wakes the same outbox that delivers to
Telegram. The adapters are imported only when used, so ``runtime`` never depends on either at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from runtime.config import ENV_TOKEN, Config

log = logging.getLogger(__name__)

TELEGRAM_OFF = (f"Telegram is off (no bot token). To turn it on, set {ENV_TOKEN}=<token from @BotFather> "
                "(or [bot] token in config.toml) and restart.")


class Engine:
    """Scheduler and transcription without Telegram: due work runs, notifications stay queued."""

    def __init__(self, config: Config, services: Any, transcribers: Any) -> None:
        from datetime import timedelta

        from runtime.voice import TranscriptionPool, VoicePipeline
        from workflows.scheduler import CaseScheduler
        from workflows.transcription_jobs import TranscriptionJobs

        cfg = dict(config.transcription or {})
        self.pool = TranscriptionPool(transcribers, workers=int(cfg.get("workers", 1)))
        jobs = TranscriptionJobs(services.db, services.clock,
                                 lease=timedelta(seconds=float(cfg.get("job_lease_seconds", 600))))
        self.pipeline = VoicePipeline(services.case_service, self.pool, kick=lambda: None, jobs=jobs,
                                      poll_seconds=float(cfg.get("poll_seconds", 2.0)))
        self.scheduler = CaseScheduler(services.db, services.clock, services.due_work(), None,
                                       tick_seconds=config.scheduler.tick_seconds,
                                       lease_seconds=config.scheduler.lease_seconds)

    async def start(self) -> None:
        await self.scheduler.start()
        await self.pipeline.resume_pending()

    async def stop(self) -> None:
        await self.pipeline.shutdown()
        await self.scheduler.shutdown()


class _Bot:
    """The Telegram application, started and stopped the way ``run_polling``/``run_webhook`` would."""

    def __init__(self, config: Config, services: Any, transcribers: Any) -> None:
        from bot.app import build_application

        self.config = config
        self.app = build_application(config, services, clock=services.clock, transcribers=transcribers)

    @property
    def kick(self) -> Any:
        return self.app.bot_data["background"].kick

    @property
    def submit_voice(self) -> Any:
        return self.app.bot_data["lianhu"].voice.submit

    async def start(self) -> None:
        from telegram import Update

        from bot.app import webhook_options

        await self.app.initialize()
        if self.app.post_init is not None:
            await self.app.post_init(self.app)
        if self.config.bot.mode == "webhook":
            await self.app.updater.start_webhook(**webhook_options(self.config))  # type: ignore[union-attr]
        else:
            await self.app.updater.start_polling(allowed_updates=Update.ALL_TYPES)  # type: ignore[union-attr]
        await self.app.start()

    async def stop(self) -> None:
        await self.app.updater.stop()  # type: ignore[union-attr]
        await self.app.stop()
        await self.app.shutdown()
        if self.app.post_shutdown is not None:
            await self.app.post_shutdown(self.app)


def log_org_check(services: Any) -> int:
    """At start-up, one warning per post nobody reachable holds (and other org mistakes), so an operator sees
    them in the journal before the first report; ``lianhu check`` prints the same list."""
    from workflows.orgcheck import check_org

    try:
        with services.db.session() as s:
            findings = check_org(s, services.case_service.router)
    except Exception:  # noqa: BLE001 - a check must never stop the service from starting
        log.exception("the org-tree check failed")
        return 0
    for f in findings:
        log.warning("org tree: %s", f.line())
    return len(findings)


def console_for(config: Config, services: Any, *, kick: Any = None, submit_voice: Any = None,
                telegram_on: bool = False) -> Any:
    from web.console import Console

    return Console(services, web=config.web, lease_seconds=config.scheduler.lease_seconds,
                   kick=kick or (lambda: None), submit_voice=submit_voice, telegram_on=telegram_on)


async def serve(config: Config, services: Any, transcribers: Any, *, stop: asyncio.Event | None = None,
                out: Any = sys.stdout) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    if config.bot.token:
        part: Any = _Bot(config, services, transcribers)
        console = console_for(config, services, kick=part.kick, submit_voice=part.submit_voice, telegram_on=True)
    else:
        part = Engine(config, services, transcribers)
        console = console_for(config, services, submit_voice=part.pipeline.submit)
        print(TELEGRAM_OFF, file=out, flush=True)
    log_org_check(services)
    await part.start()
    server = task = None
    try:
        if config.web.enabled:
            import uvicorn

            from web.app import create_app

            server = uvicorn.Server(uvicorn.Config(create_app(console), host=config.web.listen, port=config.web.port,
                                                   log_level="warning", lifespan="off", proxy_headers=True))
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours set `stop`
            task = loop.create_task(server.serve(), name="console")
            for _ in range(500):
                if server.started or task.done():
                    break
                await asyncio.sleep(0.02)
            if task.done():
                task.result()  # e.g. the port is taken: raise it
            print(f"Lianhu console: {config.web.base_url}  (sign in with a link: lianhu web-link PERSON_CODE"
                  + (", or /web in the bot)" if config.bot.token else ")"), file=out, flush=True)
            from web.charts import NO_CJK_FONT, cjk_font_missing

            if await asyncio.to_thread(cjk_font_missing):  # say it once at start, not as boxes in every chart
                print(NO_CJK_FONT, file=out, flush=True)
        else:
            print("The console is off ([web] enabled = false).", file=out, flush=True)
        waiter = loop.create_task(stop.wait())
        await asyncio.wait([waiter] + ([task] if task is not None else []), return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        if server is not None and task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        await part.stop()


def run(config: Config) -> int:
    """``lianhu run``: returns an exit code."""
    if config.bot.token and config.bot.mode == "webhook" and not config.bot.webhook_secret:
        from bot.app import NO_WEBHOOK_SECRET_MESSAGE

        print(NO_WEBHOOK_SECRET_MESSAGE.format(env=config.bot.webhook_secret_env), file=sys.stderr)
        return 2
    from runtime.wiring import build_services
    from transcription.factory import build_transcribers

    services = build_services(config)
    transcribers = build_transcribers(config.transcription)
    try:
        asyncio.run(serve(config, services, transcribers))
    except OSError as exc:  # the console's port is taken, or the address does not exist here
        print(f"lianhu: error: the console cannot listen on {config.web.listen}:{config.web.port}: {exc.strerror or exc}"
              " (set [web] port / listen in config.toml)", file=sys.stderr)
        return 2
    finally:
        services.close()
    return 0
