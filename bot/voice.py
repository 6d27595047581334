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
- A recording Telegram would not hand over at once (getFile or the download failed) is stored without its
  bytes; the pipeline fetches it (``fetch(file_id)``) before transcribing, a failed fetch counting as a failed,
  retryable attempt — the same backoff, the same "route for review after the last attempt".
- "Retry transcription" (an official's button) puts the case back to ``pending`` in the domain first, so a
  restart in the middle still picks it up, and the official who asked is told the outcome (outbox).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
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


class DownloadFailed(Exception):
    """The recording's bytes could not be fetched from Telegram (retried like an unavailable backend)."""


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
        fetch: Callable[[str], Awaitable[bytes]] | None = None,
    ) -> None:
        self.cases = cases
        self.pool = pool
        self.kick = kick
        self.retry_delays = retry_delays
        self.fetch = fetch  # file_id -> bytes (the bot's getFile + download); set by the application
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: set[int] = set()  # case ids with a job queued or running

    def submit(self, case_id: int, audio: bytes, language: str) -> int:
        """Queue a case's audio (``b""``: not downloaded yet, fetched first); returns its queue position (see
        :meth:`TranscriptionPool.position_if_submitted`)."""
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
                done = False
                if not audio:
                    audio, done = await self._download(case_id)
                if audio and not done:
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

    async def _download(self, case_id: int) -> tuple[bytes, bool]:
        """Fetch a recording stored without its bytes. Returns (bytes, done): on failure the attempt is recorded
        as a retryable transcription failure (``done`` when the domain gave up and routed the case)."""
        try:
            source = await asyncio.to_thread(self.cases.audio_source, case_id)
            if source.content:
                return source.content, False
            if self.fetch is None or not source.telegram_file_id:
                raise DownloadFailed("no way to fetch the recording")
            data = await self.fetch(source.telegram_file_id)
            if not data:
                raise DownloadFailed("Telegram returned an empty file")
            await asyncio.to_thread(self.cases.store_audio, case_id, source.attachment_id, data)
            log.info("case %s: fetched its recording (%d bytes) after an earlier failure", case_id, len(data))
            return data, False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # TelegramError, network, DownloadFailed: recorded on the case, retried
            log.warning("case %s: could not download the recording: %s", case_id, exc)
            view = await asyncio.to_thread(
                self.cases.transcription_failed, case_id, f"download_failed: {type(exc).__name__}: {exc}",
                retryable=True,
            )
            self.kick()
            return b"", view.transcript_status != "pending"

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
            self.cases.attach_transcript, case_id, transcript.text, model=transcript.model, language=language,
            reliable=getattr(transcript, "reliable", True),
        )
        self.kick()
        return True

    async def retry(self, case_id: int, language: str, requested_by: int | None = None) -> int:
        """Transcribe a case's stored audio again (an official's "Retry transcription" button). With
        ``requested_by`` the domain first puts the case back to ``pending`` (survives a restart) and that
        person is told the outcome."""
        if requested_by is not None:
            view = await asyncio.to_thread(self.cases.request_transcription_retry, case_id, requested_by)
            language = view.language
        source = await asyncio.to_thread(self.cases.audio_source, case_id)
        return self.submit(case_id, source.content, language)

    async def resume_pending(self) -> int:
        """Queue every case still waiting for a transcript (after a restart)."""
        pending = await asyncio.to_thread(self.cases.pending_transcriptions)
        for p in pending:
            try:
                audio = (await asyncio.to_thread(self.cases.audio_source, p.case_id, p.attachment_id)).content
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
