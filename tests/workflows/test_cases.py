"""CaseService: filing, routing, the happy path and reporter feedback, idempotency, failures stored."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from storage.models import Attachment, Case, CaseEvent, Person, Role, Unit, UnitLevel
from workflows.cases import AudioIn
from workflows.errors import NotPermitted, ValidationError


def deactivate(world, *codes: str) -> None:
    with world.db.session() as s:
        s.execute(update(Person).where(Person.id.in_(world.ids(*codes))).values(active=False))


def events(world, case_id: int) -> list[CaseEvent]:
    with world.db.session() as s:
        return list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def test_text_report_is_stored_triaged_and_routed_to_the_grid_leader(world):
    view = world.cases.file_report(world.id("P1111"), text="我们村的路被冲坏了", source_key="tg:1:1")
    assert view.state == "assigned"
    assert view.owner is not None and view.owner.id == world.id("P110")
    assert view.reporter.id == world.id("P1111")
    assert view.category == "other" and view.urgency == "general"
    assert view.unit_path == ("尕玛示范县", "扎西乡", "多卡村", "多卡村第一网格")
    assert view.ack_due_at == world.clock.now() + timedelta(hours=24)
    assert view.resolve_due_at == world.clock.now() + timedelta(days=7)
    assert [e.kind for e in events(world, view.id)] == ["reported", "triaged", "assigned"]
    assert world.recipients("case_assigned") == world.ids("P110")
    received = world.notes("case_received")
    assert [n.recipient_id for n in received] == [world.id("P1111")]
    assert received[0].payload["owner"]["name"] == "王建国"
    assert world.notes("urgent_alert") == []
    with world.db.session() as s:
        case = s.get(Case, view.id)
        assert case.policy["resolve_within"] == 7 * 86400
        assert case.next_reminder_at == world.clock.now() + timedelta(hours=24)  # wake at the ack deadline


def test_category_with_a_department_goes_to_the_department_contact(world):
    view = world.cases.file_report(world.id("P2111"), text="家里老人病了好几天")
    assert (view.category, view.urgency) == ("medical", "priority")
    assert view.owner.id == world.id("P010")
    assert view.language == "bo"  # the reporter's speech language


def test_department_without_a_contact_falls_back_to_the_grid_leader(world):
    deactivate(world, "P010")
    view = world.cases.file_report(world.id("P2111"), text="家里老人病了好几天")
    assert view.owner.id == world.id("P210")


def test_missing_grid_leader_skips_up_to_the_township_then_the_county(world):
    deactivate(world, "P110")
    first = world.cases.file_report(world.id("P1112"), text="草场边界有争议")
    assert first.owner.id == world.id("P100")
    deactivate(world, "P100")
    second = world.cases.file_report(world.id("P1112"), text="草场边界又有争议")
    assert second.owner.id == world.id("P002")


def test_urgent_report_alerts_governance_centre_and_township_in_parallel(world):
    view = world.cases.file_report(world.id("P1211"), text="牧民家里着火了")
    assert view.urgency == "urgent"
    assert view.owner.id == world.id("P120")  # owner unchanged by the alert
    assert world.recipients("urgent_alert") == world.ids("P003", "P004", "P100")
    assert world.recipients("case_assigned") == world.ids("P120")
    assert view.ack_due_at == world.clock.now() + timedelta(minutes=30)
    alert = world.notes("urgent_alert")[0]
    assert alert.payload["case_id"] == view.id and alert.payload["urgency"] == "urgent"
    assert alert.payload["owner"]["id"] == world.id("P120")


def test_happy_path_with_reporter_feedback_at_every_step(world):
    reporter, owner = world.id("P1111"), world.id("P110")
    case = world.cases.file_report(reporter, text="路灯坏了")
    assert case.allowed_actions == ("correct_triage", "add_details")  # the reporter's view of a new case
    owner_view = world.cases.get_case(case.id, owner)
    assert owner_view.allowed_actions[:2] == ("accept", "resolve")
    world.clock.advance(hours=1)
    accepted = world.cases.accept(case.id, owner)
    assert accepted.state == "accepted"
    assert world.recipients("case_accepted") == {reporter}
    world.clock.advance(days=1)
    resolved = world.cases.resolve(case.id, owner, "已经换了新灯")
    assert resolved.state == "resolved" and resolved.resolution_note == "已经换了新灯"
    note = world.notes("case_resolved")[0]
    assert note.recipient_id == reporter and note.payload["note"] == "已经换了新灯"
    assert world.cases.get_case(case.id, reporter).allowed_actions == ("confirm", "reopen", "add_details")
    closed = world.cases.confirm(case.id, reporter)
    assert closed.state == "closed" and closed.close_reason == "confirmed"
    assert world.recipients("case_closed") == {owner}
    kinds = [e.kind for e in world.cases.timeline(case.id, reporter)]
    assert kinds == ["reported", "triaged", "assigned", "accepted", "resolved", "closed"]
    entry = world.cases.timeline(case.id, owner)[3]
    assert (entry.actor_name, entry.from_state, entry.to_state) == ("王建国", "assigned", "accepted")


def test_resolve_needs_a_note(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    with pytest.raises(ValidationError) as err:
        world.cases.resolve(case.id, world.id("P110"), "  ")
    assert err.value.code == "note_required"


def test_empty_report_is_refused(world):
    with pytest.raises(ValidationError) as err:
        world.cases.file_report(world.id("P1111"), text="   ")
    assert err.value.code == "empty_report"


def test_same_source_key_returns_the_same_case_without_new_notifications(world):
    first = world.cases.file_report(world.id("P1111"), text="路灯坏了", source_key="tg:9:9")
    count = len(world.notes())
    again = world.cases.file_report(world.id("P1111"), text="路灯坏了", source_key="tg:9:9")
    assert again.id == first.id
    assert len(world.notes()) == count
    with world.db.session() as s:
        assert len(s.scalars(select(Case)).all()) == 1


def test_concurrent_double_delivery_creates_one_case(world):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def file() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(world.cases.file_report(world.id("P1111"), text="路灯坏了", source_key="tg:double"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=file) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len({r.id for r in results}) == 1
    with world.db.session() as s:
        assert len(s.scalars(select(Case)).all()) == 1
    assert len(world.notes("case_assigned")) == 1
    assert len(world.notes("case_received")) == 1


def test_triage_failure_keeps_the_report_and_tells_the_admin(world):
    view = world.cases.file_report(world.id("P1111"), text="系统崩溃测试")
    assert view.state == "reported" and view.owner is None
    assert view.text == "系统崩溃测试"
    failed = [e for e in events(world, view.id) if e.kind == "routing_failed"]
    assert len(failed) == 1 and failed[0].data["stage"] == "triage"
    note = world.notes("routing_failed")
    assert [n.recipient_id for n in note] == [world.id("P001")]
    assert "classifier crashed" in note[0].payload["error"]


def test_nobody_to_route_to_keeps_the_case_reported_and_an_admin_can_place_it(world):
    deactivate(world, "P110", "P100", "P002")
    view = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    assert view.state == "reported"
    failed = [e for e in events(world, view.id) if e.kind == "routing_failed"]
    assert failed[0].data == {"stage": "routing", "error_code": "routing_failed"}
    assert world.recipients("routing_failed") == world.ids("P001")
    placed = world.cases.assign(view.id, world.id("P001"), world.id("P120"))
    assert placed.state == "assigned"
    assert world.cases.get_case(view.id, world.id("P120")).owner.id == world.id("P120")
    assert world.recipients("case_assigned") == world.ids("P120")


def test_stalled_routing_is_found_and_retried(world):
    # simulate a crash between "stored" and "routed": a reported text case with no triage event
    view = world.cases.file_report(world.id("P1111"), text="系统崩溃测试")  # fails and records it
    assert world.cases.routing_stalled(timedelta(0)) == []  # a recorded failure is not "stalled"
    with world.db.session() as s:
        s.add(
            Case(
                reporter_id=world.id("P1111"), unit_id=world.org.unit("G010101"), text="水管冻裂了",
                created_at=world.clock.now(), updated_at=world.clock.now(),
            )
        )
    world.clock.advance(minutes=5)
    stalled = world.cases.routing_stalled()
    assert len(stalled) == 1 and stalled[0] != view.id
    world.cases.retry_routing(stalled[0])
    assert world.cases.get_case(stalled[0], world.id("P1111")).owner.id == world.id("P013")


def test_voice_report_waits_for_transcript_then_routes(world):
    audio = AudioIn(b"OggS-fake-opus", mime_type="audio/ogg", duration_s=4.2, telegram_file_id="F1")
    view = world.cases.file_report(world.id("P1111"), audio=audio, source_key="tg:v:1")
    assert view.state == "reported" and view.transcript_status == "pending" and view.has_audio
    assert world.notes() == []
    pending = world.cases.pending_transcriptions()
    assert [(p.case_id, p.language) for p in pending] == [(view.id, "zh")]
    content, mime = world.cases.audio_of(view.id)
    assert (content, mime) == (b"OggS-fake-opus", "audio/ogg")
    routed = world.cases.attach_transcript(view.id, "家里着火了", model="whisper-base", language="zh")
    assert routed.state == "assigned" and routed.urgency == "urgent" and routed.text == "家里着火了"
    assert world.cases.pending_transcriptions() == []
    assert world.recipients("urgent_alert") == world.ids("P003", "P004", "P100")
    again = world.cases.attach_transcript(view.id, "家里着火了", model="whisper-base")
    assert again.id == view.id and len(world.notes("case_assigned")) == 1
    with world.db.session() as s:
        att = s.scalars(select(Attachment)).one()
        assert att.size == len(b"OggS-fake-opus") and att.telegram_file_id == "F1"


def test_empty_transcript_routes_with_needs_review_at_priority(world):
    view = world.cases.file_report(world.id("P1111"), audio=AudioIn(b"x", mime_type="audio/ogg"))
    routed = world.cases.attach_transcript(view.id, "", model="whisper-base")
    assert routed.state == "assigned" and routed.needs_review
    assert (routed.urgency, routed.category, routed.transcript_status) == ("priority", "other", "empty")
    assert routed.ack_due_at == world.clock.now() + timedelta(hours=4)


def test_transcription_failures_route_for_review_and_a_late_transcript_upgrades(world):
    view = world.cases.file_report(world.id("P1111"), audio=AudioIn(b"x", mime_type="audio/ogg"))
    after1 = world.cases.transcription_failed(view.id, "timeout", retryable=True)
    assert after1.state == "reported" and after1.transcript_status == "pending"
    world.cases.transcription_failed(view.id, "timeout", retryable=True)
    after3 = world.cases.transcription_failed(view.id, "timeout", retryable=True)
    assert after3.state == "assigned" and after3.needs_review and after3.transcript_status == "failed"
    assert after3.urgency == "priority"
    world.clock.advance(minutes=10)
    late = world.cases.attach_transcript(view.id, "救命 家里着火了", model="whisper-base")
    assert late.urgency == "urgent" and late.category == "safety" and not late.needs_review
    assert late.ack_due_at == world.clock.now() + timedelta(minutes=30)
    assert world.recipients("transcript_ready") == world.ids("P110")
    assert world.recipients("urgent_alert") == world.ids("P003", "P004", "P100")


def test_late_transcript_never_downgrades_urgency(world):
    view = world.cases.file_report(world.id("P1111"), audio=AudioIn(b"x", mime_type="audio/ogg"))
    world.cases.transcription_failed(view.id, "model missing", retryable=False)
    late = world.cases.attach_transcript(view.id, "想问一下低保怎么办")
    assert late.urgency == "priority"


def test_add_details_reaches_the_owner(world):
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    view = world.cases.add_details(case.id, world.id("P1111"), text="是村口那盏")
    assert view.id == case.id
    note = world.notes("details_added")[0]
    assert note.recipient_id == world.id("P110") and note.payload["text"] == "是村口那盏"


def test_latest_open_case_for_the_add_to_case_question(world):
    assert world.cases.latest_open_case(world.id("P1111"), timedelta(hours=1)) is None
    case = world.cases.file_report(world.id("P1111"), text="路灯坏了")
    assert world.cases.latest_open_case(world.id("P1111"), timedelta(hours=1)).id == case.id
    world.clock.advance(hours=2)
    assert world.cases.latest_open_case(world.id("P1111"), timedelta(hours=1)) is None


def test_transcript_from_a_stand_in_model_is_kept_but_reviewed(world):
    """A stand-in speech model (e.g. Whisper base for Tibetan): its text is a hint, a person listens."""
    view = world.cases.file_report(world.id("P1111"), audio=AudioIn(b"x", mime_type="audio/ogg"))
    routed = world.cases.attach_transcript(view.id, "想问一下低保怎么办", model="fallback", reliable=False)
    assert routed.state == "assigned" and routed.needs_review
    assert routed.text == "想问一下低保怎么办"  # kept for the official to read
    assert routed.urgency == "priority"  # never left at "general" on an unreliable transcript

    fire = world.cases.file_report(world.id("P1112"), audio=AudioIn(b"y", mime_type="audio/ogg"))
    urgent = world.cases.attach_transcript(fire.id, "家里着火了 快来人", model="fallback", reliable=False)
    assert (urgent.urgency, urgent.needs_review) == ("urgent", True)  # an urgent hint still alerts at once
    assert world.recipients("urgent_alert", case_id=fire.id) == world.ids("P003", "P004", "P100")


def test_typed_follow_up_on_a_pending_voice_note_is_triaged_with_the_transcript(world):
    rep = world.id("P1111")
    v = world.cases.file_report(rep, audio=AudioIn(b"ogg", "audio/ogg", 3.0), source_key="fu:1")
    world.cases.add_details(v.id, rep, "救命 着火了")
    v = world.cases.attach_transcript(v.id, "家里的羊丢了")
    assert "救命 着火了" in v.text and "家里的羊丢了" in v.text
    assert v.urgency == "urgent"


def test_triage_correction_on_a_pending_voice_note_survives_the_transcript(world):
    rep = world.id("P1111")
    v = world.cases.file_report(rep, audio=AudioIn(b"ogg", "audio/ogg", 3.0), source_key="tc:1")
    world.cases.correct_triage(v.id, rep, urgency="urgent")
    v = world.cases.attach_transcript(v.id, "家里的羊丢了")
    assert v.state == "assigned"
    assert v.urgency == "urgent"


def test_mark_duplicate_refuses_an_original_that_is_itself_a_duplicate(world):
    a = world.cases.file_report(world.id("P1111"), text="羊丢了 a")
    b = world.cases.file_report(world.id("P1112"), text="羊丢了 b")
    owner = world.id("P110")
    world.cases.mark_duplicate(a.id, owner, b.id)
    with pytest.raises(ValidationError) as err:
        world.cases.mark_duplicate(b.id, owner, a.id)
    assert err.value.code == "duplicate_of_invalid"
    with pytest.raises(ValidationError) as err:
        world.cases.mark_duplicate(b.id, owner, 999999)
    assert err.value.code == "duplicate_of_invalid"


def test_assign_refuses_an_official_outside_the_actors_jurisdiction(world):
    with world.db.session() as s:
        county = Unit(code="C99", name="Other county", level=UnitLevel.county)
        s.add(county)
        s.flush()
        foreign = Person(code="X1", name="foreign commander", role=Role.county_commander, unit_id=county.id)
        s.add(foreign)
        s.flush()
        foreign_id = foreign.id
    v = world.cases.file_report(world.id("P1111"), text="崩溃 羊丢了")  # classifier crash: stays unplaced
    assert v.state == "reported"
    with pytest.raises(NotPermitted) as err:
        world.cases.assign(v.id, world.id("P002"), foreign_id)
    assert err.value.code == "target_not_in_jurisdiction"


def test_typed_emergency_on_an_untranscribable_voice_note_still_alerts(world):
    """Typed details on a voice note that could not be transcribed are classified: an urgent hint alerts."""
    view = world.cases.file_report(world.id("P1111"), audio=AudioIn(b"ogg", mime_type="audio/ogg"))
    world.cases.add_details(view.id, world.id("P1111"), "救命 着火了")
    routed = world.cases.transcription_failed(view.id, "decoder error", retryable=False)
    assert (routed.state, routed.urgency, routed.needs_review) == ("assigned", "urgent", True)
    assert world.recipients("urgent_alert", case_id=view.id) == world.ids("P003", "P004", "P100")
