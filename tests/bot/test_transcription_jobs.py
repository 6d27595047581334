"""Voice notes through the durable job queue, with the real bot against the fake Bot API:

- a note whose process died mid-transcription is taken over by a running process once the lease runs out;
- a note that "crashes" every process that takes it is routed for a person to listen to, not retried forever;
- with two bot processes on one database, a note the receiving process has no free thread for is
  transcribed by the other, and the worker's "transcribing…" message is still edited with the result.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from bot.app import build_application
from storage.models import TranscriptionJob
from tests.bot.conftest import Harness, ScriptedTranscriber, fake_ogg
from tests.bot.test_case_loop import GENERAL, case_number
from workflows.cases import AudioIn
from workflows.transcription_jobs import HOLD, MAX_CLAIMS, TranscriptionJobs


def _job(h: Harness, case_id: int) -> TranscriptionJob:
    with h.services.db.session() as s:
        return s.scalars(select(TranscriptionJob).where(TranscriptionJob.case_id == case_id)
                         .order_by(TranscriptionJob.id.desc())).first()


async def test_a_note_held_by_a_dead_process_is_transcribed_after_its_lease(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    await h.register("P1111")
    leader = await h.register("P110")
    clip = fake_ogg("orphan")
    transcriber.texts[clip] = GENERAL
    view = await asyncio.to_thread(h.cases.file_report, h.person_id("P1111"),
                                   audio=AudioIn(content=clip, mime_type="audio/ogg"), source_key="other:1")
    dead = TranscriptionJobs(h.services.db, h.clock, lease=timedelta(minutes=10))
    [job] = await asyncio.to_thread(dead.claim, "dead-process", case_id=view.id)  # then the process died
    h.pipeline.wake()
    await asyncio.sleep(0.3)
    assert _job(h, view.id).status == "running" and not transcriber.calls  # its lease still holds
    h.clock.advance(timedelta(minutes=11))
    h.pipeline.wake()
    await h.fake.wait_for(lambda: _job(h, view.id).status == "done", timeout=10)
    await h.flush()
    card = await leader.wait_for_message(lambda m: f"#{view.id}" in m.content)
    assert GENERAL in card.content
    assert _job(h, view.id).claims == 2 and job.id == _job(h, view.id).id


async def test_a_note_that_keeps_killing_its_worker_is_routed_for_review(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    await h.register("P1111")
    leader = await h.register("P110")
    view = await asyncio.to_thread(h.cases.file_report, h.person_id("P1111"),
                                   audio=AudioIn(content=fake_ogg("poison"), mime_type="audio/ogg"))
    with h.services.db.session() as s:  # taken MAX_CLAIMS times already; each time the process died
        s.execute(update(TranscriptionJob).where(TranscriptionJob.case_id == view.id).values(
            status="running", claims=MAX_CLAIMS, holder="dead", lease_until=h.clock.now() - timedelta(seconds=1)))
    h.pipeline.wake()
    await h.fake.wait_for(lambda: _job(h, view.id).status == "failed", timeout=10)
    assert transcriber.calls == []  # not tried a fourth time
    await h.flush()
    card = await leader.wait_for_message(lambda m: f"#{view.id}" in m.content)
    assert "需要核对" in card.content  # routed for a person to listen to
    current = await asyncio.to_thread(h.cases.get_case, view.id, h.person_id("P110"))
    assert current.transcript_status == "failed" and current.needs_review and current.state == "assigned"
    assert "worker_crashed" in (_job(h, view.id).last_error or "")


async def test_the_other_process_transcribes_when_the_receiving_one_is_busy(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = transcriber.transcribe

    def blocked(audio: bytes, language: str, **kwargs):  # process A's only thread is stuck on note 1
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=20)
        return original(audio, language)

    transcriber.transcribe = blocked  # type: ignore[method-assign]
    worker = await h.register("P1111")
    leader = await h.register("P110")
    other = ScriptedTranscriber()
    second_clip = fake_ogg("second")
    other.texts[second_clip] = GENERAL
    h.config.transcription["poll_seconds"] = 0.1
    b = build_application(h.config, h.services, clock=h.clock, transcribers={"zh": other, "bo": other})
    await b.initialize()
    await b.post_init(b)  # type: ignore[misc]  # process B: background only (its updater is not polling)
    try:
        await worker.send_voice(fake_ogg("first"), duration=5)
        await worker.wait_for_message(lambda m: "正在识别" in m.content)
        await worker.send_voice(second_clip, duration=5)
        queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
        second = case_number(queued.content)
        await asyncio.sleep(0.3)
        assert _job(h, second).status == "pending" and not other.calls  # on hold for A, which is busy
        h.clock.advance(HOLD)  # A had its chance: any process may take it now
        await h.fake.wait_for(lambda: _job(h, second).status == "done", timeout=10)
        assert other.calls and _job(h, second).holder != h.pipeline.holder
        await h.flush()
        done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=10)
        assert GENERAL in done.content  # A's "transcribing…" message, edited with B's result
        card = await leader.wait_for_message(lambda m: f"#{second}" in m.content)
        assert GENERAL in card.content
    finally:
        release.set()
        await h.pipeline.wait_idle()
        await b.shutdown()
        await b.post_shutdown(b)  # type: ignore[misc]
