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
- Work comes from the durable job table (:mod:`workflows.transcription_jobs`): the job is written with the
  report, and any bot process claims it — the one that received the note is woken at once, the others poll
  every ``poll_seconds``. A process that dies mid-transcription leaves a lease that runs out; a clean stop hands
  its jobs back. So with several bot processes, or speech on other machines (the ``http`` backend), one
  queue feeds them all and nothing waits on a process that is gone.
- Each note is transcribed with a bias towards its reporter's words (:class:`transcription.biasing.Bias`):
  the org-tree names nearest to the reporter (:class:`workflows.speech_context.SpeechContext`, cached per
  reporter until the org tree changes) and the county lexicon the factory read from ``[transcription]
  lexicon``. A backend that cannot use a bias gets none; a failure to build the list never stops a note.
- Models load at start-up (:meth:`TranscriptionPool.warm_up`, on the transcription thread), so the first note
  after a restart is not several seconds slower than the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from transcription.base import (
    AudioDecodeError,
    AudioTooLongError,
    BackendUnavailableError,
    Transcriber,
    Transcript,
    TranscriptionError,
)
from transcription.biasing import Bias
from workflows.speech_context import SpeechContext
from workflows.transcription_jobs import MAX_CLAIMS, Job, TranscriptionJobs

log = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)  # seconds before retrying an unavailable backend
POLL_SECONDS = 2.0  # how often an idle worker looks for jobs other processes queued
RELEASE_DELAY = timedelta(seconds=60)  # a job whose run ended without an outcome is tried again after this


def default_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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

    def bias(self, language: str, names: tuple[str, ...] = ()) -> Bias | None:
        """The bias for a note in ``language``: the reporter's ``names`` and the transcriber's county lexicon,
        or None unless the factory turned biasing on for that transcriber (Mandarin, by default)."""
        transcriber = self.transcribers.get(language)
        if transcriber is None or getattr(transcriber, "biasing", False) is not True:
            return None
        names = tuple(names) if getattr(transcriber, "bias_names", False) is True else ()
        bias = Bias(names=names, lexicon=tuple(getattr(transcriber, "lexicon", ()) or ()))
        return bias or None

    async def transcribe(self, audio: bytes, language: str, names: tuple[str, ...] = ()) -> Transcript:
        transcriber = self.transcribers.get(language)
        if transcriber is None:
            raise NoTranscriber(f"no transcriber configured for language {language!r}")
        bias = self.bias(language, names)
        with self._lock:
            self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            if bias is None:
                return await loop.run_in_executor(self._executor, transcriber.transcribe, audio, language)
            call = functools.partial(transcriber.transcribe, audio, language, bias=bias)
            return await loop.run_in_executor(self._executor, call)
        finally:
            with self._lock:
                self._in_flight -= 1

    def warm_up(self) -> asyncio.Future[None]:
        """Load every model now, on the transcription thread (a note queued meanwhile waits behind it rather
        than loading the model a second time). A model that fails to load is logged; its notes fail and are
        retried as usual."""

        def load() -> None:
            for language, transcriber in self.transcribers.items():
                warm = getattr(transcriber, "warm_up", None)
                if warm is None:
                    continue
                try:
                    warm()
                except Exception:  # noqa: BLE001 - the notes themselves will report it
                    log.exception("could not load the %s speech model at start-up", language)

        return asyncio.get_running_loop().run_in_executor(self._executor, load)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def download_error(exc: BaseException) -> str:
    """A download failure in words an operator reads right: PTB reports Telegram's 404 for a file (gone from
    its servers, or never there) as ``InvalidToken: Not Found``, which reads like a wrong bot token."""
    text = str(exc)
    if type(exc).__name__ == "InvalidToken" and "not found" in text.lower():
        return "file_not_found: Telegram no longer has this file (404); the bot token is fine"
    return f"{type(exc).__name__}: {text}"


class VoicePipeline:
    """Runs transcriptions for stored voice cases and feeds the results to the domain."""

    def __init__(
        self,
        cases: Any,
        pool: TranscriptionPool,
        kick: Callable[[], None],
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        fetch: Callable[[str], Awaitable[bytes]] | None = None,
        jobs: TranscriptionJobs | None = None,
        holder: str | None = None,
        poll_seconds: float = POLL_SECONDS,
        speech_context: Callable[[int], tuple[str, ...]] | None = None,
    ) -> None:
        self.cases = cases
        # case id -> the reporter's names, nearest first (biasing); the org tree's, unless given
        if speech_context is None and getattr(cases, "db", None) is not None:
            speech_context = SpeechContext(cases.db).for_case
        self.speech_context = speech_context
        self.pool = pool
        self.kick = kick
        self.retry_delays = retry_delays
        self.fetch = fetch  # file_id -> bytes (the bot's getFile + download); set by the application
        self.jobs = jobs if jobs is not None else TranscriptionJobs(cases.db, cases.clock)
        self.holder = holder or default_holder_id()
        self.poll_seconds = poll_seconds
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active: dict[int, Job] = {}  # case id -> the job this process is running for it
        self._received: set[int] = set()  # notes received here, on hold for us, not taken yet
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._warm: asyncio.Future[None] | None = None

    # -- the job loop -----------------------------------------------------------------------------------------

    def wake(self) -> None:
        """A job was just queued (here or, as far as we know, elsewhere): look now, not at the next poll."""
        if self._wake is not None:
            self._wake.set()

    async def resume_pending(self) -> int:
        """Start taking jobs: first give a job to every case still waiting without one (written by an older
        version), then claim whatever is due — including jobs a crashed process left behind."""
        adopted = await asyncio.to_thread(self.jobs.adopt_orphans)
        if adopted:
            log.info("queued %d pending transcription(s) that had no job", adopted)
        if self._loop_task is None:
            self._warm = self.pool.warm_up()
            self._wake = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(
                self._claim_loop(), name="transcription-jobs"
            )
        self.wake()
        return adopted

    async def _claim_loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            free = self.pool.workers - len(self._active)
            claimed: list[Job] = []
            if free > 0:
                try:
                    while self._received and len(claimed) < free:  # our own notes first (they are on hold)
                        claimed += await asyncio.to_thread(
                            self.jobs.claim, self.holder, 1, case_id=self._received.pop()
                        )
                    if len(claimed) < free:
                        claimed += await asyncio.to_thread(self.jobs.claim, self.holder, free - len(claimed))
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database hiccupped: try again at the next poll
                    log.exception("could not claim transcription jobs")
            for job in claimed:
                self._start(job)
            if claimed and len(claimed) == free:
                continue  # there may be more: as soon as a slot frees up (the task sets the event)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _start(self, job: Job) -> None:
        self._active[job.case_id] = job
        task = asyncio.get_running_loop().create_task(self._run_job(job), name=f"transcribe-{job.case_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job: Job) -> None:
        try:
            if job.claims > MAX_CLAIMS:  # it was taken again and again and never finished: a poison pill
                error = (
                    f"worker_crashed: the transcription was started {job.claims - 1} times and never "
                    "finished (the process stopped each time)"
                )
                log.error("case %s: %s; routing it for a person to listen to", job.case_id, error)
                await asyncio.to_thread(self.cases.transcription_failed, job.case_id, error, retryable=False)
                await asyncio.to_thread(self.jobs.finish, job.id, self.holder, failed=True, error=error)
                self.kick()
                return
            source = await asyncio.to_thread(self.cases.audio_source, job.case_id, job.attachment_id)
            names = await self._names(job.case_id)
            done = await self._run(job.case_id, source.content, job.language, names)
            if done:
                await asyncio.to_thread(self.jobs.finish, job.id, self.holder)
            else:
                await asyncio.to_thread(self.jobs.release, job.id, self.holder, delay=RELEASE_DELAY)
        except asyncio.CancelledError:  # a clean stop: hand it back for the next process
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    asyncio.to_thread(self.jobs.release, job.id, self.holder, count_claim=False)
                )
            raise
        except Exception as exc:  # e.g. the case or its audio vanished: never leave the job hanging
            log.exception("transcription job %s (case %s) failed", job.id, job.case_id)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self.jobs.release,
                    job.id,
                    self.holder,
                    delay=RELEASE_DELAY,
                    error=f"{type(exc).__name__}: {exc}",
                )
        finally:
            self._active.pop(job.case_id, None)
            self.wake()  # a slot is free

    async def _heartbeat(self, case_id: int) -> None:
        job = self._active.get(case_id)
        if job is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.jobs.extend, job.id, self.holder)

    async def position(self, case_id: int) -> int:
        """1 = being transcribed or next; N = N-1 notes are ahead of it in the (shared) queue."""
        try:
            return 1 + await asyncio.to_thread(self.jobs.ahead_of, case_id)
        except Exception:
            return 1

    async def submit(self, case_id: int) -> None:
        """The report's job was queued with it (same transaction, on hold for us): take it now if a worker
        thread is free, else it waits in the shared queue for whichever process frees up first."""
        if case_id in self._active or self.pool.workers - len(self._active) <= 0 or self._loop_task is None:
            self._received.add(case_id)  # ours to take first, as soon as a thread is free
            self.wake()
            return
        try:
            claimed = await asyncio.to_thread(self.jobs.claim, self.holder, 1, case_id=case_id)
        except Exception:
            log.exception("case %s: could not take its transcription job; it waits in the queue", case_id)
            claimed = []
        for job in claimed:
            self._start(job)
        self.wake()

    async def _names(self, case_id: int) -> tuple[str, ...]:
        """The reporter's names for biasing; () when they cannot be read (the note is transcribed anyway)."""
        if self.speech_context is None:
            return ()
        try:
            return tuple(await asyncio.to_thread(self.speech_context, case_id))
        except Exception:  # noqa: BLE001 - biasing is a help, never a reason to fail a note
            log.exception("case %s: could not read the reporter's names for biasing", case_id)
            return ()

    async def _run(self, case_id: int, audio: bytes, language: str, names: tuple[str, ...] = ()) -> bool:
        """Transcribe one case (download first if needed), retrying a failing backend after
        ``retry_delays``. True when the case no longer waits for a transcript."""
        try:
            for attempt in range(len(self.retry_delays) + 1):
                await self._heartbeat(case_id)
                done = False
                if not audio:
                    audio, done = await self._download(case_id)
                if audio and not done:
                    done = await self._attempt(case_id, audio, language, names)
                if done:
                    return True
                if attempt < len(self.retry_delays):
                    await asyncio.sleep(self.retry_delays[attempt])
        except asyncio.CancelledError:
            raise
        except Exception:  # the pipeline itself must never die silently: the job is released and tried again
            log.exception("voice pipeline for case %s crashed; its job goes back to the queue", case_id)
        return False

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
                self.cases.transcription_failed,
                case_id,
                f"download_failed: {download_error(exc)}",
                retryable=True,
            )
            self.kick()
            return b"", view.transcript_status != "pending"

    async def _attempt(self, case_id: int, audio: bytes, language: str, names: tuple[str, ...] = ()) -> bool:
        """One transcription attempt; True when the case no longer waits for a transcript."""
        try:
            transcript = await self.pool.transcribe(audio, language, names)
        except (AudioDecodeError, AudioTooLongError, NoTranscriber) as exc:
            log.warning("case %s: audio not transcribable (%s): %s", case_id, exc.reason, exc)
            await asyncio.to_thread(
                self.cases.transcription_failed, case_id, f"{exc.reason}: {exc}", retryable=False
            )
            self.kick()
            return True
        except (BackendUnavailableError, TranscriptionError) as exc:
            log.warning("case %s: transcription backend unavailable: %s", case_id, exc)
            view = await asyncio.to_thread(
                self.cases.transcription_failed, case_id, f"{exc.reason}: {exc}", retryable=True
            )
            self.kick()
            return view.transcript_status != "pending"
        except Exception as exc:  # a backend bug: treat like an outage (bounded retries), keep the audio
            log.exception("case %s: transcription crashed", case_id)
            view = await asyncio.to_thread(
                self.cases.transcription_failed, case_id, f"{type(exc).__name__}: {exc}", retryable=True
            )
            self.kick()
            return view.transcript_status != "pending"
        log.info(
            "case %s transcribed in %.1fs by %s (%d chars)",
            case_id,
            transcript.elapsed_s,
            transcript.model,
            len(transcript.text),
        )
        await asyncio.to_thread(
            self.cases.attach_transcript,
            case_id,
            transcript.text,
            model=transcript.model,
            language=language,
            reliable=getattr(transcript, "reliable", True),
        )
        self.kick()
        return True

    async def retry(self, case_id: int, language: str, requested_by: int | None = None) -> int:
        """Transcribe a case's stored audio again (an official's "Retry transcription" button). With
        ``requested_by`` the domain puts the case back to ``pending`` and queues a job in one transaction
        (survives a restart), and that person is told the outcome."""
        if requested_by is not None:
            await asyncio.to_thread(self.cases.request_transcription_retry, case_id, requested_by)
        self.wake()
        return await self.position(case_id)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no transcription runs here and no job is due (tests, orderly shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            # our own received notes are on hold for us (not "due" for anyone else) but still to do
            if not self._tasks and not self._received and not await asyncio.to_thread(self.jobs.due_count):
                return
            if self._tasks:
                await asyncio.wait(
                    set(self._tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time())
                )
            else:
                self.wake()
                await asyncio.sleep(0.05)

    async def shutdown(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.jobs.release_all, self.holder)
        self.pool.shutdown()
