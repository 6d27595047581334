"""The real bot application against the fake Bot API server, on a real database with the sample county.

``bot_harness`` builds the application with :func:`bot.app.build_application` (unchanged), points it at the
fake server (``base_url``/``base_file_url``) and runs it the way ``run_polling`` does: initialize → post_init
(starts the scheduler, the outbox kick loop and the transcription pool) → polling → start, and the reverse
afterwards. The scheduler's own ticks are set far apart so tests drive due work and the outbox explicitly
(``await h.flush()``, ``h.due()``) with a :class:`FakeClock`.

``ScriptedTranscriber`` is a test double for the *speech model only* (the pipeline, the pool, the domain and
Telegram are real): it returns a known transcript for known audio and raises ``AudioDecodeError`` for bytes
that are not audio, like the real backend does. One scenario in ``test_voice.py`` uses the real default model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from telegram.ext import Application

from bot.app import build_application
from runtime.config import BotConfig, Config, DatabaseConfig, OutboxConfig, SchedulerConfig
from runtime.wiring import build_services
from storage.db import Database
from storage.models import Notification, NotificationStatus
from tests.fakebotapi.server import FakeTelegram
from transcription.base import AudioDecodeError, Transcript
from workflows.ports import FakeClock

OGG_MAGIC = b"OggS"


@dataclass
class ScriptedTranscriber:
    """Known audio → known text; anything that is not an Ogg stream → AudioDecodeError."""

    texts: dict[bytes, str] = field(default_factory=dict)
    name: str = "scripted"
    calls: list[tuple[int, str]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    def transcribe(self, audio: bytes, language: str) -> Transcript:
        self.calls.append((len(audio), language))
        if not audio.startswith(OGG_MAGIC):
            raise AudioDecodeError("not an Ogg stream")
        return Transcript(text=self.texts.get(audio, ""), language=language, model="scripted:test", duration_s=3.0)


def fake_ogg(tag: str) -> bytes:
    """Bytes that look like an Ogg voice note to the scripted transcriber (unique per tag)."""
    return OGG_MAGIC + b"\x00\x02" + tag.encode() + b"\x00" * 64


def make_config(fake: FakeTelegram, db: Database, transcription: Mapping[str, Any] | None = None) -> Config:
    return Config(
        bot=BotConfig(token=fake.token, username="lianhu_test_bot", base_url=fake.base_url,
                      base_file_url=fake.base_file_url, concurrent_updates=8),
        database=DatabaseConfig(url=db.url),
        scheduler=SchedulerConfig(tick_seconds=3600.0, lease_seconds=3600.0),
        outbox=OutboxConfig(max_attempts=5, backoff_base_seconds=5.0, backoff_max_seconds=60.0, tick_seconds=3600.0),
        transcription=dict(transcription or {"workers": 1, "max_seconds": 120, "max_bytes": 5_000_000}),
    )


async def start_app(app: Application) -> None:
    """What ``run_polling`` does before it blocks: initialize → post_init → polling → start."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
    await app.start()


async def stop_app(app: Application) -> None:
    """What ``run_polling`` does on the way out."""
    await app.updater.stop()  # type: ignore[union-attr]
    await app.stop()
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


class Harness:
    def __init__(self, fake: FakeTelegram, app: Application, services: Any, clock: FakeClock, org: Any,
                 transcriber: Any, config: Config) -> None:
        self.fake = fake
        self.services = services
        self.cases = services.case_service
        self.people = services.people_service
        self.clock = clock
        self.org = org
        self.transcriber = transcriber
        self.config = config
        self._bind(app)
        self._next_user = 5000

    def _bind(self, app: Application) -> None:
        self.app = app
        self.dispatcher = app.bot_data["dispatcher"]
        self.pipeline = app.bot_data["lianhu"].voice

    def build(self) -> Application:
        """A new application on the same services, clock and fake server (like a new process would be)."""
        transcribers = {"zh": self.transcriber, "bo": self.transcriber}
        return build_application(self.config, self.services, clock=self.clock, transcribers=transcribers)

    async def restart(self) -> None:
        """Stop the running bot cleanly and start a freshly built one (a service restart)."""
        await stop_app(self.app)
        app = self.build()
        await start_app(app)
        self._bind(app)

    def in_flight(self) -> int:
        """Notifications claimed by a dispatcher (``sending``) whose outcome is not recorded yet."""
        with self.services.db.session() as s:
            return s.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == NotificationStatus.sending)
            ) or 0

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until the bot's own outbox kick loop has recorded the outcome of every delivery it started.

        Why: the fake server answers (e.g. a 500) *before* the bot writes "failed, retry at now + backoff".
        A test that flushes or moves the fake clock in between races the bot: the row is still ``sending``
        (nobody may claim it), and its retry time is then computed from the *advanced* clock, so it never
        becomes due. Waiting on the database state, not on the HTTP traffic, removes the race.
        The default wait is generous: since the outbox paces each chat (1 message/s after a burst of 3), a test
        that queues many notices for one person keeps rows in flight for seconds; it returns as soon as none is."""
        await self.fake.wait_for(lambda: self.in_flight() == 0, timeout=timeout,
                                 message="a notification stayed in 'sending'")

    async def flush(self, rounds: int = 10) -> int:
        """Deliver every due notification now (the test's explicit outbox tick), after letting deliveries the
        bot already started finish (:meth:`settle`)."""
        await self.settle()
        total = 0
        for _ in range(rounds):
            sent = await self.dispatcher.run_once()
            total += sent
            if not sent:
                break
        return total

    async def due(self) -> Any:
        """Run the scheduler's due work once (reminders, escalations, auto-close), then flush the outbox."""
        summary = await asyncio.to_thread(self.services.due_work().run_once)
        await self.flush()
        return summary

    async def register(self, person_code: str, name: str | None = None, language_code: str = "zh") -> Any:
        """A Telegram user redeems a fresh invite for ``person_code``; returns the FakeUser (reply consumed)."""
        self._next_user += 1
        user = self.fake.add_user(self._next_user, name or person_code, language_code)
        code = await asyncio.to_thread(self.people.create_invite, person_code)
        await user.send_command("start", code)
        await user.wait_for_message(lambda m: "登记成功" in m.content or "registered" in m.content
                                    or "ཐོ་འགོད་ལེགས་གྲུབ" in m.content, timeout=5)
        return user

    def person_id(self, code: str) -> int:
        return self.org[code]


@pytest.fixture
def transcriber() -> ScriptedTranscriber:
    return ScriptedTranscriber()


@pytest_asyncio.fixture
async def bot_harness(fake_telegram: FakeTelegram, sample_org: Any, database: Database,
                      transcriber: ScriptedTranscriber) -> AsyncIterator[Harness]:
    clock = FakeClock()
    config = make_config(fake_telegram, database)
    services = build_services(config, clock=clock, db=database)
    app = build_application(config, services, clock=clock, transcribers={"zh": transcriber, "bo": transcriber})
    await start_app(app)
    harness = Harness(fake_telegram, app, services, clock, sample_org, transcriber, config)
    try:
        yield harness
    finally:
        await stop_app(harness.app)  # the one running now (a test may have restarted it)
