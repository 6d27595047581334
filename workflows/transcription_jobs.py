"""The durable queue of voice notes waiting to be transcribed, shared by every bot process.

Why a table and not the process's memory: with several bot processes (or one restarted mid-transcription), a
voice note received by one process may be transcribed by any other; a note must never wait on a process
that died. So the job is written **in the same transaction that stores the report** (store first), and a
worker *claims* it the way the outbox claims a notification:

- claim = a conditional UPDATE of a due row to ``running`` with the worker's ``holder`` id and a lease
  (``lease_until``), in its own committed transaction (PostgreSQL adds ``FOR UPDATE SKIP LOCKED``), so two
  workers never run the same job;
- a worker that dies leaves the row ``running`` with a lease that runs out; any worker then claims it again;
  a clean stop hands its jobs back at once (:meth:`TranscriptionJobs.release`);
- ``claims`` counts how often the job was taken: a recording that crashes the worker every time (a "poison
  pill") is given up after :data:`MAX_CLAIMS`, and the case is routed for a person to listen to, instead of
  taking every bot process down in turn;
- the job only says *who works on it and when to try again*. Whether the case still waits for a transcript
  is the domain's ``Case.transcript_status``; a worker finishing a job whose case is no longer ``pending``
  does nothing more.

Workers poll for due jobs (an indexed query, every couple of seconds) and the process that stored the report
is woken at once, so a note usually starts transcribing where it arrived, and a busy process's backlog is
taken by an idle one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Attachment, Case, TranscriptionJob
from workflows.ports import Clock

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
ACTIVE = (PENDING, RUNNING)
#: A job taken this many times without finishing is given up (the case is routed for review).
MAX_CLAIMS = 3
DEFAULT_LEASE = timedelta(minutes=10)
#: A new voice report's job waits this long for the process that received it before any worker may take it.
HOLD = timedelta(seconds=5)


@dataclass(frozen=True)
class Job:
    id: int
    case_id: int
    attachment_id: int | None
    language: str
    claims: int  # including this claim


def enqueue(session: Session, *, case_id: int, attachment_id: int | None, language: str, now: datetime,
            hold: timedelta = timedelta(0)) -> bool:
    """Queue a transcription inside the caller's transaction (the one storing the report, or the one putting
    a case back to ``pending``). A case with a job already waiting or running gets no second one.

    ``hold``: other workers see the job only after this long, so the process that received the note takes it
    itself (:meth:`TranscriptionJobs.claim` with ``case_id``) once it has answered the worker — its
    "transcribing…" message is then on record to be edited with the result."""
    for obj in session.new:
        if isinstance(obj, TranscriptionJob) and obj.case_id == case_id and obj.status in ACTIVE:
            return False
    if case_id is not None and session.scalar(
        select(TranscriptionJob.id).where(TranscriptionJob.case_id == case_id,
                                          TranscriptionJob.status.in_(ACTIVE)).limit(1)
    ):
        return False
    session.add(TranscriptionJob(case_id=case_id, attachment_id=attachment_id, language=language, status=PENDING,
                                 claims=0, next_attempt_at=now + hold, created_at=now))
    return True


class TranscriptionJobs:
    """Claim, extend, finish and hand back jobs (synchronous; the bot calls it through ``asyncio.to_thread``)."""

    def __init__(self, db: Database, clock: Clock, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease

    def _due(self, now: datetime):
        return or_(
            (TranscriptionJob.status == PENDING) & (TranscriptionJob.next_attempt_at <= now),
            (TranscriptionJob.status == RUNNING) & (TranscriptionJob.lease_until < now),
        )

    def claim(self, holder: str, limit: int = 1, *, languages: tuple[str, ...] | None = None,
              case_id: int | None = None) -> list[Job]:
        """Take up to ``limit`` due jobs (oldest first) for ``holder``: waiting ones, and running ones whose
        worker's lease ran out. ``languages`` limits it to what this worker can transcribe. With ``case_id``:
        that case's waiting job, due or still on hold (the receiving process taking its own note)."""
        if limit <= 0:
            return []
        now = self.clock.now()
        if case_id is not None:
            return self._claim_case(holder, case_id, now)
        with self.db.session() as s:
            # Two index-friendly halves instead of one OR (SQLite cannot use the index through an OR).
            ids: list[int] = []
            for cond in ((TranscriptionJob.status == PENDING) & (TranscriptionJob.next_attempt_at <= now),
                         (TranscriptionJob.status == RUNNING) & (TranscriptionJob.lease_until < now)):
                q = select(TranscriptionJob.id).where(cond)
                if languages is not None:
                    q = q.where(TranscriptionJob.language.in_(languages))
                q = q.order_by(TranscriptionJob.next_attempt_at, TranscriptionJob.id).limit(limit)
                if self.db.dialect == "postgresql":
                    q = q.with_for_update(skip_locked=True)
                ids += list(s.scalars(q))
            won: list[Job] = []
            for job_id in sorted(set(ids))[:limit]:
                res = s.execute(
                    update(TranscriptionJob)
                    .where(TranscriptionJob.id == job_id, self._due(now))
                    .values(status=RUNNING, holder=holder, lease_until=now + self.lease,
                            claims=TranscriptionJob.claims + 1)
                    .returning(TranscriptionJob.id, TranscriptionJob.case_id, TranscriptionJob.attachment_id,
                               TranscriptionJob.language, TranscriptionJob.claims)
                    .execution_options(synchronize_session=False)
                ).first()
                if res is not None:
                    won.append(Job(*res))
            return won

    def _claim_case(self, holder: str, case_id: int, now: datetime) -> list[Job]:
        with self.db.session() as s:
            res = s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.case_id == case_id, TranscriptionJob.status == PENDING)
                .values(status=RUNNING, holder=holder, lease_until=now + self.lease,
                        claims=TranscriptionJob.claims + 1)
                .returning(TranscriptionJob.id, TranscriptionJob.case_id, TranscriptionJob.attachment_id,
                           TranscriptionJob.language, TranscriptionJob.claims)
                .execution_options(synchronize_session=False)
            ).all()
        return [Job(*r) for r in res]

    def extend(self, job_id: int, holder: str) -> bool:
        """Still working on it (a long recording, a retry after a pause): push the lease out again."""
        now = self.clock.now()
        with self.db.session() as s:
            res = s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job_id, TranscriptionJob.holder == holder,
                       TranscriptionJob.status == RUNNING)
                .values(lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1

    def finish(self, job_id: int, holder: str, *, failed: bool = False, error: str | None = None) -> None:
        """The case no longer waits on this job (transcribed, routed for review, or given up)."""
        now = self.clock.now()
        with self.db.session() as s:
            s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job_id, TranscriptionJob.holder == holder)
                .values(status=FAILED if failed else DONE, finished_at=now, lease_until=None,
                        last_error=(error or None) and error[:2000])
                .execution_options(synchronize_session=False)
            )

    def release(self, job_id: int, holder: str, *, delay: timedelta = timedelta(0), error: str | None = None,
                count_claim: bool = True) -> None:
        """Hand a job back (a clean stop, or "try again in ``delay``"); ``count_claim=False`` for a clean stop,
        which is not the recording's fault."""
        now = self.clock.now()
        values: dict = {"status": PENDING, "holder": None, "lease_until": None, "next_attempt_at": now + delay}
        if error is not None:
            values["last_error"] = error[:2000]
        if not count_claim:
            values["claims"] = func.max(TranscriptionJob.claims - 1, 0) if self.db.dialect == "sqlite" else \
                func.greatest(TranscriptionJob.claims - 1, 0)
        with self.db.session() as s:
            s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job_id, TranscriptionJob.holder == holder,
                       TranscriptionJob.status == RUNNING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def release_all(self, holder: str) -> int:
        """A clean stop: every job this worker holds goes back to the queue at once (claims not counted)."""
        now = self.clock.now()
        dec = func.max(TranscriptionJob.claims - 1, 0) if self.db.dialect == "sqlite" else \
            func.greatest(TranscriptionJob.claims - 1, 0)
        with self.db.session() as s:
            return s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.holder == holder, TranscriptionJob.status == RUNNING)
                .values(status=PENDING, holder=None, lease_until=None, next_attempt_at=now, claims=dec)
                .execution_options(synchronize_session=False)
            ).rowcount or 0

    def ahead_of(self, case_id: int) -> int:
        """How many jobs wait or run before this case's (0 = it is next, or running)."""
        with self.db.session() as s:
            mine = s.scalar(select(TranscriptionJob.id).where(TranscriptionJob.case_id == case_id,
                                                             TranscriptionJob.status.in_(ACTIVE))
                            .order_by(TranscriptionJob.id.desc()).limit(1))
            if mine is None:
                return 0
            return s.scalar(select(func.count()).select_from(TranscriptionJob).where(
                TranscriptionJob.status.in_(ACTIVE), TranscriptionJob.id < mine)) or 0

    def adopt_orphans(self) -> int:
        """Queue a job for every case that waits for a transcript but has none (written by an older version,
        or a job row lost by hand). Run at worker start-up; returns how many were queued."""
        now = self.clock.now()
        audio_kinds = ("voice", "audio", "video_note")
        with self.db.session() as s:
            active = select(TranscriptionJob.id).where(TranscriptionJob.case_id == Case.id,
                                                       TranscriptionJob.status.in_(ACTIVE))
            rows = s.execute(
                select(Case.id, Case.language)
                .where(Case.transcript_status == "pending", ~active.exists())
                .order_by(Case.id)
            ).all()
            for case_id, language in rows:
                attachment = s.scalar(select(func.min(Attachment.id)).where(Attachment.case_id == case_id,
                                                                           Attachment.kind.in_(audio_kinds)))
                enqueue(s, case_id=case_id, attachment_id=attachment, language=language or "zh", now=now)
            return len(rows)

    def due_count(self) -> int:
        now = self.clock.now()
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(TranscriptionJob).where(self._due(now))) or 0

    def active_count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(TranscriptionJob)
                            .where(TranscriptionJob.status.in_(ACTIVE))) or 0
