"""Audio files and video notes are transcribed like voice notes: a real recording (tests/data/audio/zh/000.ogg,
"书记 二社的那个羊圈着火了 烟很大 快派人来") re-encoded in-test the way phones send it — an M4A file sent as a
plain document (type application/octet-stream, as many Android phones do), and a round video note (MP4 with a
video track) — goes through the real bot on the fake Bot API and the real default speech model; the audio track
is found and decoded in-process (PyAV), the case is routed as urgent, and officials get the original back
(the video note as a video note).

A photo captioned with a place-less report, a location, an audio file and a video note each producing a case
officials see with its media is the "done when" of issue 10's first finding (with tests/bot/test_media.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.bot.clips import m4a, video_note
from tests.bot.conftest import Harness, make_config, start_app, stop_app
from tests.bot.test_case_loop import case_number

pytestmark = pytest.mark.slow

CLIP = Path(__file__).resolve().parents[1] / "data" / "audio" / "zh" / "000.ogg"


@pytest_asyncio.fixture
async def real_model_bot(fake_telegram, sample_org, database) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    """The bot with the real default speech model (packaged weights), as ``lianhu run`` builds it."""
    from bot.app import build_application
    from runtime.wiring import build_services
    from transcription.factory import build_transcribers
    from workflows.ports import FakeClock

    clock = FakeClock()
    config = make_config(fake_telegram, database)
    services = build_services(config, clock=clock, db=database)
    app = build_application(config, services, clock=clock, transcribers=build_transcribers({}))
    await start_app(app)
    h = Harness(fake_telegram, app, services, clock, sample_org, None, config)
    try:
        yield h
    finally:
        await stop_app(h.app)


async def _transcribed(h: Harness, worker, timeout: float = 180) -> int:  # type: ignore[no-untyped-def]
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=timeout)
    # Whisper base gets homophones wrong, but the gist and the urgency come through (as for the voice note)
    assert "快派人来" in done.content, done.content  # (the urgency is checked on the case below)
    return case_id


async def test_an_m4a_file_sent_as_a_document_is_transcribed_and_routed(real_model_bot: Harness) -> None:
    h = real_model_bot
    worker = await h.register("P1111")
    leader = await h.register("P110")
    recording = m4a(CLIP.read_bytes())
    await worker.send_document(recording, file_name="录音 2026-12-02.m4a", mime_type="application/octet-stream")
    case_id = await _transcribed(h, worker)
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.urgency == "urgent" and view.media_kinds == ("audio",)
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert card.document == recording  # the original file, the card as its caption


async def test_a_video_note_is_transcribed_and_officials_get_the_video_note(real_model_bot: Harness) -> None:
    h = real_model_bot
    worker = await h.register("P1111")
    leader = await h.register("P110")
    note = video_note(CLIP.read_bytes())
    await worker.send_video_note(note, duration=6)
    case_id = await _transcribed(h, worker)
    assert h.cases.get_case(case_id, h.person_id("P110")).urgency == "urgent"
    sent = await leader.wait_for_message(lambda m: m.video_note is not None, timeout=10)
    assert sent.video_note == note  # round, as recorded (a video note takes no caption)...
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert "快派人来" in card.content and f"acc:{case_id}" in [d for _, d in card.buttons]  # ...then the card
