"""The voice pipeline: a bounded pool of transcription threads, and what happens to a case around it.

Why this shape:
- The report is stored (with its audio bytes) *before* transcription starts; the worker is answered at once
  with the case number and queue position, and that message is edited with the result when it is ready
  (:class:`bot.delivery.TelegramDelivery` edits it when the ``case_received`` notification goes out).
- Transcription is CPU-bound and synchronous; it runs in a ``ThreadPoolExecutor`` with
  ``[transcription].workers`` threads (1 on a 2-core machine), never on the event loop, so other users get
  answers while a voice note is being transcribed.
- Language is the worker's configured speech language — never auto-detected (Whisper confuses Amdo Tibetan
  and Mandarin).
- Failure never loses the case: undecodable audio or an empty transcript routes the case with
  ``needs_review`` (the official gets the original recording); a backend that is down is retried a few times
  (the domain counts attempts and gives up, routing for review). At start-up, cases still ``pending`` are
  queued again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from transcription.base import (
    AudioDecodeError,
    AudioTooLongError,
    BackendUnavailableError,
    Transcriber,
    Transcript,
    TranscriptionError,
)

log = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)  # seconds before retrying an unavailable backend


class NoTranscriber(TranscriptionError):
    """No transcriber is configured for this speech language (the audio is kept for a human)."""

    reason = "no_transcriber"


class TranscriptionPool:
    """A fixed number of transcription threads with a visible queue length."""

    def __init__(self, transcribers: Mapping[str, Transcriber], workers: int = 1) -> None:
        self.transcribers = dict(transcribers)
        self.workers = max(1, int(workers))
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="transcribe")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def position_if_submitted(self) -> int:
        """1 = would start right away; N = N-1 jobs are ahead of it in the queue."""
        return max(1, self._in_flight - self.workers + 2)

    async def transcribe(self, audio: bytes, language: str) -> Transcript:
        transcriber = self.transcribers.get(language)
        if transcriber is None:
            raise NoTranscriber(f"no transcriber configured for language {language!r}")
        with self._lock:
            self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, transcriber.transcribe, audio, language)
        finally:
            with self._lock:
                self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class VoicePipeline:
    """Runs transcriptions for stored voice cases and feeds the results to the domain."""

    def __init__(
        self,
        cases: Any,
        pool: TranscriptionPool,
        kick: Callable[[], None],
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.cases = cases
        self.pool = pool
        self.kick = kick
        self.retry_delays = retry_delays
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: set[int] = set()  # case ids with a job queued or running

    def submit(self, case_id: int, audio: bytes, language: str) -> int:
        """Queue a case's audio; returns its queue position (see :meth:`TranscriptionPool.position_if_submitted`)."""
        position = self.pool.position_if_submitted()
        if case_id in self._active:
            return position
        self._active.add(case_id)
        task = asyncio.get_running_loop().create_task(self._run(case_id, audio, language), name=f"transcribe-{case_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return position

    async def _run(self, case_id: int, audio: bytes, language: str) -> None:
        try:
            for attempt in range(len(self.retry_delays) + 1):
                done = await self._attempt(case_id, audio, language)
                if done:
                    return
                if attempt < len(self.retry_delays):
                    await asyncio.sleep(self.retry_delays[attempt])
        except asyncio.CancelledError:
            raise
        except Exception:  # the pipeline itself must never die silently: the case stays pending for restart
            log.exception("voice pipeline for case %s crashed; it stays pending and is retried at start-up", case_id)
        finally:
            self._active.discard(case_id)

    async def _attempt(self, case_id: int, audio: bytes, language: str) -> bool:
        """One transcription attempt; True when the case no longer waits for a transcript."""
        try:
            transcript = await self.pool.transcribe(audio, language)
        except (AudioDecodeError, AudioTooLongError, NoTranscriber) as exc:
            log.warning("case %s: audio not transcribable (%s): %s", case_id, exc.reason, exc)
            await asyncio.to_thread(self.cases.transcription_failed, case_id, f"{exc.reason}: {exc}", retryable=False)
            self.kick()
            return True
        except (BackendUnavailableError, TranscriptionError) as exc:
            log.warning("case %s: transcription backend unavailable: %s", case_id, exc)
            view = await asyncio.to_thread(self.cases.transcription_failed, case_id, f"{exc.reason}: {exc}", retryable=True)
            self.kick()
            return view.transcript_status != "pending"
        except Exception as exc:  # a backend bug: treat like an outage (bounded retries), keep the audio
            log.exception("case %s: transcription crashed", case_id)
            view = await asyncio.to_thread(
                self.cases.transcription_failed, case_id, f"{type(exc).__name__}: {exc}", retryable=True
            )
            self.kick()
            return view.transcript_status != "pending"
        log.info("case %s transcribed in %.1fs by %s (%d chars)", case_id, transcript.elapsed_s, transcript.model,
                 len(transcript.text))
        await asyncio.to_thread(
            self.cases.attach_transcript, case_id, transcript.text, model=transcript.model, language=language
        )
        self.kick()
        return True

    async def retry(self, case_id: int, language: str) -> int:
        """Transcribe a case's stored audio again (an official's "Retry transcription" button)."""
        audio, _mime = await asyncio.to_thread(self.cases.audio_of, case_id)
        return self.submit(case_id, audio, language)

    async def resume_pending(self) -> int:
        """Queue every case still waiting for a transcript (after a restart)."""
        pending = await asyncio.to_thread(self.cases.pending_transcriptions)
        for p in pending:
            try:
                audio, _mime = await asyncio.to_thread(self.cases.audio_of, p.case_id, p.attachment_id)
            except Exception:
                log.exception("case %s: could not load its audio to resume transcription", p.case_id)
                continue
            self.submit(p.case_id, audio, p.language)
        if pending:
            log.info("resumed %d pending transcription(s)", len(pending))
        return len(pending)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every queued transcription has finished (tests, orderly shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        self.pool.shutdown()
