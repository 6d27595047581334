"""Voice notes: stored first, "transcribing… (position N)" at once, edited with the result; corrupt audio and
empty transcripts still reach an official (with the original recording) flagged for review; limits are
checked before downloading; the real default model on a real clip (marked slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bot.conftest import Harness, ScriptedTranscriber, fake_ogg, make_config
from tests.bot.test_case_loop import URGENT, case_number

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"


async def test_voice_note_becomes_case_with_transcript(bot_harness: Harness, transcriber: ScriptedTranscriber) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    clip = fake_ogg("fire")
    transcriber.texts[clip] = URGENT
    await worker.send_voice(clip, duration=6)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    assert "排第 1 位" in queued.content
    case_id = case_number(queued.content)
    assert h.cases.get_case(case_id, h.person_id("P1111")).has_audio  # stored before transcription

    done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=10)
    assert URGENT in done.content and "很急" in done.content
    assert {f"cat:{case_id}", f"urg:{case_id}"} <= {d for _, d in done.buttons}
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert ping.voice == clip  # the official gets the original recording, the card as caption
    assert URGENT in ping.content
    assert transcriber.calls == [(len(clip), "zh")]  # the worker's speech language, never auto-detected


async def test_corrupt_voice_is_stored_and_routed_for_review(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    garbage = b"\x00\x01not audio at all" * 20
    await worker.send_voice(garbage, duration=3)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    told = await worker.wait_for_edit(queued, lambda m: "没能自动识别" in m.content, timeout=10)
    assert f"#{case_id}" in told.content
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert ping.voice == garbage
    assert "需要核对" in ping.content
    assert f"rtr:{case_id}" in [d for _, d in ping.buttons]
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.needs_review and view.transcript_status == "failed" and view.state == "assigned"


async def test_too_long_and_too_big_are_refused_before_download(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_voice(fake_ogg("long"), duration=3600)
    assert "太长" in (await worker.wait_for_message()).content
    big = fake_ogg("big") + b"\x00" * 6_000_000  # over the configured 5 MB
    await worker.send_voice(big, duration=30)
    assert "太大" in (await worker.wait_for_message()).content
    assert h.fake.calls_to("getFile") == []  # nothing was downloaded
    assert h.cases.ledger() == []  # and no empty case was created


async def test_other_users_are_answered_while_transcribing(bot_harness: Harness, transcriber: ScriptedTranscriber) -> None:
    h = bot_harness
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = transcriber.transcribe

    def slow(audio: bytes, language: str):
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        return original(audio, language)

    transcriber.transcribe = slow  # type: ignore[method-assign]
    worker = await h.register("P1111")
    other = await h.register("P1112")
    await h.register("P110")
    await worker.send_voice(fake_ogg("a"), duration=5)
    await worker.wait_for_message(lambda m: "正在识别" in m.content)
    await other.send_voice(fake_ogg("b"), duration=5)
    second = await other.wait_for_message(lambda m: "正在识别" in m.content)
    assert "排第 2 位" in second.content  # one worker thread, one job ahead
    await other.send_command("my")  # answered at once although the pool is busy
    assert (await other.wait_for_message(timeout=3)).content
    release.set()
    await h.pipeline.wait_idle()


@pytest.mark.slow
async def test_real_model_transcribes_real_clip(fake_telegram, sample_org, database) -> None:
    """The real default model (faster-whisper, packaged weights) through the whole bot."""
    from bot.app import build_application
    from runtime.wiring import build_services
    from transcription.factory import build_transcribers
    from workflows.ports import FakeClock

    clip_path = AUDIO / "zh" / "000.ogg"
    if not clip_path.exists():
        pytest.skip("tests/data/audio/zh/000.ogg is missing")
    clock = FakeClock()
    config = make_config(fake_telegram, database)
    services = build_services(config, clock=clock, db=database)
    app = build_application(config, services, clock=clock, transcribers=build_transcribers({}))
    await app.initialize()
    await app.post_init(app)
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()
    try:
        h = Harness(fake_telegram, app, services, clock, sample_org, None, config)
        worker = await h.register("P1111")
        leader = await h.register("P110")
        await worker.send_voice(clip_path.read_bytes(), duration=6)
        queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
        done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=120)
        # Whisper base gets homophones wrong ("洋剑找火了"), but the gist and the urgency come through
        assert "书记" in done.content and "快派人来" in done.content, done.content
        assert "很急" in done.content
        ping = await leader.wait_for_message(lambda m: "#" in m.content, timeout=10)
        assert ping.voice is not None
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)


async def _official_asked_for_a_resolution_note(h: Harness):
    """A worker's routine report, and its owner pressing Resolve: the bot now waits for the note."""
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text("加措家的低保材料还没批下来 想问问进度")
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    await leader.press(ping, f"res:{case_id}")
    await leader.wait_for_message(lambda m: "说明" in m.content)
    return worker, leader, case_id


async def test_official_resolves_by_voice_note(bot_harness: Harness, transcriber: ScriptedTranscriber) -> None:
    """Officials answer "how was it resolved?" by voice: the note is transcribed and reaches the reporter."""
    h = bot_harness
    worker, leader, case_id = await _official_asked_for_a_resolution_note(h)
    note = fake_ogg("resolution")
    transcriber.texts[note] = "材料已经交到乡民政所了 下周批下来"
    await leader.send_voice(note, duration=4)
    resolved = await worker.wait_for_message(lambda m: "已办结" in m.content)
    assert "下周批下来" in resolved.content
    assert h.cases.get_case(case_id, h.person_id("P1111")).state == "resolved"
    assert transcriber.calls[-1] == (len(note), "zh")


async def test_official_voice_note_that_cannot_be_understood_keeps_the_question_open(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    worker, leader, case_id = await _official_asked_for_a_resolution_note(h)
    await leader.send_voice(b"not audio at all", duration=2)
    await leader.wait_for_message(lambda m: "文字" in m.content)  # "please say it again in text"
    assert h.cases.get_case(case_id, h.person_id("P110")).state == "assigned"  # nothing half-done
    await leader.send_text("已经处理好了")
    resolved = await worker.wait_for_message(lambda m: "已办结" in m.content)
    assert "已经处理好了" in resolved.content
