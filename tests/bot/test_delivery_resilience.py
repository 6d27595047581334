"""Deliveries that need more than one Telegram call, and voice notes when Telegram or the speech backend
misbehaves — all through the fake Bot API server:

- an official whose privacy settings refuse voice messages still gets the card (as a document, else as text);
- a multi-part delivery that fails half-way sends only the rest on the retry (never a piece twice);
- a voice note whose getFile fails is stored at once and fetched later (also after a restart);
- an unavailable backend is retried, a restart resumes pending work, and "retry transcription" re-runs it
  and tells the official who pressed it how it went.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.textsplit import split_message
from storage.models import CaseEvent, Notification, NotificationStatus
from tests.bot.conftest import Harness, ScriptedTranscriber, fake_ogg
from tests.bot.test_case_loop import GENERAL, case_number
from transcription.base import BackendUnavailableError

FORBIDDEN = "Bad Request: VOICE_MESSAGES_FORBIDDEN"
FAST = (0.05, 0.05, 0.05)


def _calls_to(h: Harness, method: str, chat_id: int) -> list[int]:
    return [c.status for c in h.fake.calls_to(method) if str(c.params.get("chat_id")) == str(chat_id)]


def _events(h: Harness, case_id: int, kind: str) -> list[CaseEvent]:
    with h.services.db.session() as s:
        return list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)))


async def _voice_case(h: Harness, worker, transcriber: ScriptedTranscriber, tag: str, text: str = GENERAL) -> int:
    clip = fake_ogg(tag)
    transcriber.texts[clip] = text
    await worker.send_voice(clip, duration=5)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    return case_number(queued.content)


# -- 1. voice messages refused --------------------------------------------------------------------------------

async def test_official_refusing_voice_messages_gets_the_recording_as_a_document(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("sendVoice", 400, description=FORBIDDEN)
    case_id = await _voice_case(h, worker, transcriber, "doc")
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert card.document == fake_ogg("doc") and GENERAL in card.content
    assert f"acc:{case_id}" in [d for _, d in card.buttons]
    assert _calls_to(h, "sendVoice", leader.id) == [400]


async def test_when_no_recording_can_be_attached_the_card_goes_as_text_with_its_buttons(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("sendVoice", 400, description=FORBIDDEN)
    h.fake.fail_next("sendDocument", 400, description="Bad Request: CHAT_SEND_DOCS_FORBIDDEN")
    case_id = await _voice_case(h, worker, transcriber, "text")
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert GENERAL in card.content and "录音已保存在案件" in card.content
    assert f"acc:{case_id}" in [d for _, d in card.buttons]
    await h.settle()
    with h.services.db.session() as s:
        row = s.scalars(select(Notification).where(Notification.recipient_id == h.person_id("P110"))).one()
    assert row.status.value == "sent" and row.attempts == 1


# -- 5. never sent twice --------------------------------------------------------------------------------------

async def test_long_card_failing_on_its_second_piece_sends_only_the_rest(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(GENERAL)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    await h.settle()
    leader.block()  # hold the next card back until the faults are in place
    details = "补充：" + "围栏倒了一大片，牛羊跑进了邻村草场。" * 300  # ~5000 characters: two pieces
    await asyncio.to_thread(h.cases.add_details, case_id, h.person_id("P1111"), details)
    await h.flush()
    leader.unblock()
    leader.mark_read()
    with h.services.db.session() as s:  # held for the leader, delivered in id order; the details come last
        held = s.scalars(select(Notification).where(Notification.recipient_id == h.person_id("P110"),
                                                    Notification.status == NotificationStatus.pending)).all()
    assert held[-1].kind == "details_added"
    h.fake.fail_next("sendMessage", None, times=len(held))  # earlier (one-piece) notices and the first piece ...
    h.fake.fail_next("sendMessage", 500)  # ... go through; the second piece fails
    h.clock.advance(timedelta(hours=6))
    await h.flush()
    h.clock.advance(timedelta(minutes=2))
    await h.flush()
    start = next(i for i, m in enumerate(leader.messages) if m.content.startswith(f"➕ 案件 #{case_id}"))
    got = leader.messages[start:]
    assert len(got) == 2
    assert "围栏倒了" in got[1].content and got[1].buttons  # each piece once; the keyboard on the last
    assert _calls_to(h, "sendMessage", leader.id)[-3:] == [200, 500, 200]


async def test_voice_then_full_text_failing_on_the_text_never_resends_the_voice(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    commander = await h.register("P100")
    case_id = await _voice_case(h, worker, transcriber, "esc")
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    await h.settle()
    commander.block()
    reason = "需要乡里协调：" + "两个村的草场边界一直没有划清楚，需要乡里出面。" * 60  # card far over 1024
    await asyncio.to_thread(h.cases.escalate, case_id, h.person_id("P110"), reason)
    await h.flush()
    commander.unblock()
    h.fake.fail_next("sendMessage", 500)  # the full text after the voice fails once
    h.clock.advance(timedelta(hours=6))
    await h.flush()
    h.clock.advance(timedelta(minutes=2))
    await h.flush()
    assert _calls_to(h, "sendVoice", commander.id)[-2:] == [403, 200]  # blocked, then once — never again
    voices = [m for m in commander.messages if m.voice is not None]
    assert len(voices) == 1 and voices[0].buttons
    texts = [m for m in commander.messages if m.voice is None and "草场边界" in m.content]
    pieces = split_message(texts[0].content) if texts else []
    assert len(texts) == len(pieces) == 1
    assert _calls_to(h, "sendMessage", commander.id)[-2:] == [500, 200]


async def test_voice_refused_then_document_times_out_retries_as_document_only(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("sendVoice", 400, description=FORBIDDEN)
    h.fake.fail_next("sendDocument", 502)
    case_id = await _voice_case(h, worker, transcriber, "doc2")
    await h.fake.wait_for(lambda: _calls_to(h, "sendDocument", leader.id) or None)
    await h.settle()
    h.clock.advance(timedelta(minutes=2))
    await h.flush()
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert card.document == fake_ogg("doc2")
    assert _calls_to(h, "sendVoice", leader.id) == [400]  # the retry remembered: no second voice attempt
    assert _calls_to(h, "sendDocument", leader.id) == [502, 200]


# -- 3. getFile / download failures ---------------------------------------------------------------------------

async def test_voice_whose_download_fails_is_stored_first_and_fetched_later(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = FAST
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("getFile", 500, times=2)  # the handler's download and the pipeline's first retry
    clip = fake_ogg("late")
    transcriber.texts[clip] = GENERAL
    await worker.send_voice(clip, duration=5)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=10)
    assert GENERAL in done.content
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert ping.voice == clip
    failures = _events(h, case_id, "transcription_failed")
    assert len(failures) == 1 and "download_failed" in failures[0].note
    assert h.cases.audio_source(case_id).content == clip


async def test_voice_never_downloadable_still_reaches_an_official_by_file_id(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = FAST
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("getFile", 502, times=10)
    clip = fake_ogg("never")
    await worker.send_voice(clip, duration=5)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert ping.voice == clip  # sent by Telegram file id: the official can still listen
    assert "需要核对" in ping.content and f"rtr:{case_id}" in [d for _, d in ping.buttons]
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.needs_review and view.transcript_status == "failed" and view.state == "assigned"
    h.fake.clear_faults()
    transcriber.texts[clip] = GENERAL
    leader.mark_read()
    await leader.press(ping, f"rtr:{case_id}")
    updated = await leader.wait_for_message(lambda m: GENERAL in m.content, timeout=10)
    assert f"#{case_id}" in updated.content
    assert h.cases.audio_source(case_id).content == clip


async def test_download_pending_after_a_restart_is_fetched_and_transcribed(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = (3600.0,)  # the process "dies" while waiting to retry
    worker = await h.register("P1111")
    leader = await h.register("P110")
    h.fake.fail_next("getFile", 500, times=2)
    clip = fake_ogg("restart")
    transcriber.texts[clip] = GENERAL
    await worker.send_voice(clip, duration=5)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    await h.fake.wait_for(lambda: _events(h, case_id, "transcription_failed") or None)
    await h.restart()
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert ping.voice == clip and GENERAL in ping.content


# -- 4. transcription retries ---------------------------------------------------------------------------------

class Flaky:
    """The speech backend is down for the first ``down`` calls."""

    def __init__(self, transcriber: ScriptedTranscriber, down: int) -> None:
        self.inner = transcriber
        self.down = down
        self.calls = 0

    def __call__(self, audio: bytes, language: str):
        self.calls += 1
        if self.calls <= self.down:
            raise BackendUnavailableError("model server down")
        return ScriptedTranscriber.transcribe(self.inner, audio, language)


async def test_unavailable_backend_is_retried_then_transcribed(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = FAST
    flaky = Flaky(transcriber, down=2)
    transcriber.transcribe = flaky  # type: ignore[method-assign]
    worker = await h.register("P1111")
    leader = await h.register("P110")
    case_id = await _voice_case(h, worker, transcriber, "flaky")
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert GENERAL in ping.content and "需要核对" not in ping.content
    assert flaky.calls == 3 and len(_events(h, case_id, "transcription_failed")) == 2


async def test_pending_transcription_is_resumed_after_a_restart(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = (3600.0,)
    flaky = Flaky(transcriber, down=1)
    transcriber.transcribe = flaky  # type: ignore[method-assign]
    worker = await h.register("P1111")
    leader = await h.register("P110")
    case_id = await _voice_case(h, worker, transcriber, "resume")
    await h.fake.wait_for(lambda: _events(h, case_id, "transcription_failed") or None)
    assert h.cases.get_case(case_id, h.person_id("P1111")).transcript_status == "pending"
    await h.restart()
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert GENERAL in ping.content and flaky.calls == 2


async def test_retry_transcription_button_reruns_it_and_the_official_sees_the_new_card(
    bot_harness: Harness, transcriber: ScriptedTranscriber
) -> None:
    h = bot_harness
    h.pipeline.retry_delays = FAST
    flaky = Flaky(transcriber, down=3)  # three failures: the domain gives up, routes for review
    transcriber.transcribe = flaky  # type: ignore[method-assign]
    worker = await h.register("P1111")
    leader = await h.register("P110")
    commander = await h.register("P100")
    case_id = await _voice_case(h, worker, transcriber, "retry")
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content, timeout=10)
    assert "需要核对" in ping.content
    # the township commander (above the owner) presses retry: he is told, the owner gets the new card too
    await commander.send_command("case", str(case_id))
    card = await commander.wait_for_message(lambda m: f"#{case_id}" in m.content)
    cid = await commander.press(card, f"rtr:{case_id}")
    answer = await h.fake.wait_for_answer(cid)
    assert "正在重新识别" in answer["text"]
    told = await commander.wait_for_message(lambda m: GENERAL in m.content and f"#{case_id}" in m.content)
    assert "需要核对" not in told.content
    owner = await leader.wait_for_message(lambda m: GENERAL in m.content, timeout=10)
    assert f"#{case_id}" in owner.content
    assert flaky.calls == 4
    retry = _events(h, case_id, "transcription_retry")
    assert len(retry) == 1 and retry[0].actor_id == h.person_id("P100")


async def test_retry_transcription_that_fails_again_says_so(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    garbage = b"\x00\x01not audio at all" * 20
    await worker.send_voice(garbage, duration=3)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    case_id = case_number(queued.content)
    ping = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    await leader.press(ping, f"rtr:{case_id}")
    told = await leader.wait_for_message(lambda m: "重新识别仍然失败" in m.content, timeout=10)
    assert f"#{case_id}" in told.content and f"rtr:{case_id}" in [d for _, d in told.buttons]
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.transcript_status == "failed" and view.state == "assigned"
