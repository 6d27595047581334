"""The durable transcription queue: written with the report, claimed by one worker, taken over after a
crash, handed back on a clean stop, held for the receiving process."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from storage.models import TranscriptionJob
from workflows.cases import AudioIn
from workflows.transcription_jobs import HOLD, TranscriptionJobs

OGG = AudioIn(content=b"OggS\x00\x02voice", mime_type="audio/ogg", duration_s=4.0)


def jobs(world) -> list[TranscriptionJob]:
    with world.db.session() as s:
        return list(s.scalars(select(TranscriptionJob).order_by(TranscriptionJob.id)))


def test_a_voice_report_is_stored_with_its_job_on_hold_for_the_receiving_process(world) -> None:
    view = world.cases.file_report(world.id("P1111"), audio=OGG, source_key="tg:1:1")
    [job] = jobs(world)
    assert (job.case_id, job.status, job.language) == (view.id, "pending", view.language)
    assert job.attachment_id == view.attachment_ids[0]
    q = TranscriptionJobs(world.db, world.clock)
    assert q.claim("other-process") == []  # on hold: the receiving process answers the worker first
    [mine] = q.claim("receiver", case_id=view.id)  # ... and takes its own note at once
    assert mine.case_id == view.id and mine.claims == 1
    world.clock.advance(HOLD)
    assert q.claim("other-process") == []  # running, lease held
    # the same report delivered twice is one case and one job
    world.cases.file_report(world.id("P1111"), audio=OGG, source_key="tg:1:1")
    assert len(jobs(world)) == 1


def test_text_reports_make_no_job(world) -> None:
    world.cases.file_report(world.id("P1111"), text="我们村的路被冲坏了")
    assert jobs(world) == []


def test_one_of_many_concurrent_workers_gets_each_job(world) -> None:
    for i in range(5):
        world.cases.file_report(world.id("P1111"), audio=OGG, source_key=f"tg:1:{i}")
    world.clock.advance(HOLD)
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        q = TranscriptionJobs(world.db, world.clock)
        barrier.wait()
        while True:
            claimed = q.claim(name, 2)
            if not claimed:
                return
            with lock:
                got.extend(j.case_id for j in claimed)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted({j.case_id for j in jobs(world)}) and len(got) == 5


def test_a_dead_workers_job_is_taken_over_after_its_lease_and_a_clean_stop_hands_it_back(world) -> None:
    view = world.cases.file_report(world.id("P1111"), audio=OGG)
    world.clock.advance(HOLD)
    q = TranscriptionJobs(world.db, world.clock, lease=timedelta(seconds=30))
    [first] = q.claim("dies")
    assert q.claim("survivor") == []
    world.clock.advance(timedelta(seconds=20))
    assert q.extend(first.id, "dies")  # still alive at 20 s: lease pushed to 50 s
    world.clock.advance(timedelta(seconds=25))
    assert q.claim("survivor") == []
    world.clock.advance(timedelta(seconds=10))  # 55 s: the lease ran out
    [again] = q.claim("survivor")
    assert (again.id, again.case_id, again.claims) == (first.id, view.id, 2)
    assert not q.extend(first.id, "dies")  # the dead one cannot reclaim it
    assert q.release_all("survivor") == 1  # clean stop: back at once, the claim not counted
    [job] = jobs(world)
    assert (job.status, job.holder, job.claims) == ("pending", None, 1)
    [third] = q.claim("next")
    q.finish(third.id, "next")
    assert jobs(world)[0].status == "done" and q.active_count() == 0


def test_release_with_a_delay_and_queue_position(world) -> None:
    a = world.cases.file_report(world.id("P1111"), audio=OGG)
    b = world.cases.file_report(world.id("P1112"), audio=OGG)
    q = TranscriptionJobs(world.db, world.clock)
    assert (q.ahead_of(a.id), q.ahead_of(b.id)) == (0, 1)
    world.clock.advance(HOLD)
    [ja] = q.claim("w", 1)
    assert ja.case_id == a.id
    q.release(ja.id, "w", delay=timedelta(minutes=1), error="backend down")
    [jb] = q.claim("w", 2)
    assert jb.case_id == b.id  # a waits a minute
    world.clock.advance(timedelta(minutes=1))
    [again] = q.claim("w", 2)
    assert again.case_id == a.id and jobs(world)[0].last_error == "backend down"


def test_orphaned_pending_cases_are_adopted_once(world) -> None:
    view = world.cases.file_report(world.id("P1111"), audio=OGG)
    with world.db.session() as s:  # as if written by a version without the job table
        for job in s.scalars(select(TranscriptionJob)):
            s.delete(job)
    q = TranscriptionJobs(world.db, world.clock)
    assert q.adopt_orphans() == 1
    assert q.adopt_orphans() == 0
    [job] = jobs(world)
    assert job.case_id == view.id and job.attachment_id == view.attachment_ids[0]


def test_retry_transcription_queues_a_new_job(world) -> None:
    view = world.cases.file_report(world.id("P1111"), audio=OGG)
    q = TranscriptionJobs(world.db, world.clock)
    [job] = q.claim("w", case_id=view.id)
    world.cases.transcription_failed(view.id, "decode: bad", retryable=False)
    q.finish(job.id, "w", failed=True)
    world.cases.request_transcription_retry(view.id, world.id("P110"))
    assert [j.status for j in jobs(world)] == ["failed", "pending"]
    assert q.claim("w") and q.active_count() == 1
