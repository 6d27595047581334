"""The six must-visits (domain): a life event in a report opens a visit for the household's responsible cadre
(default: the grid leader), reminders and escalation on the durable scheduler, done with a note / voice /
photo, handed on, cancelled; festival visits from the calendar for marked households; listings, the archive and
the ledger rows — on SQLite and PostgreSQL. The classifier here sets ``life_event`` by keyword (the real
detector is triage's, tested end to end in tests/bot/test_tasks_and_visits.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from storage.models import CaseEvent, Household, Visit, VisitEvent
from tests.workflows.downward import build
from workflows.errors import InvalidTransition, NotPermitted, ValidationError
from workflows.triage.base import TriageResult
from workflows.visits import LEDGER_COLUMNS, VisitMedia, VisitSettings

LIFE_WORDS = {"去世": ("death", "bereavement"), "辍学": ("dropout", "education"), "闲在家": ("idle_youth", "employment"),
              "看病欠": ("illness_poverty", "hardship"), "想不开": ("troubled_mind", "other"), "过年": ("festival", "other")}


class LifeEventClassifier:
    """The workflow tests' keyword classifier plus a keyword life-event flag (independent of urgency)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = "keywords+life"
        self.categories = inner.categories

    def classify(self, text: str, language: str) -> TriageResult:
        base = self.inner.classify(text, language)
        for word, (event, category) in LIFE_WORDS.items():
            if word in text:
                return TriageResult(base.urgency, category if base.category == "other" else base.category,
                                    base.confidence, base.cues, model=base.model, life_event=event)
        return base


@pytest.fixture
def down(world):
    world.cases.classifier = LifeEventClassifier(world.classifier)
    return build(world, visit_config={"festivals": {"losar_2026": {"name": {"zh": "藏历新年", "bo": "ལོ་གསར།"},
                                                                  "date": date(2026, 2, 18)}}})


def report(down, worker: str, text: str, household: str | None = None):
    return down.cases.file_report(down.id(worker), text=text,
                                  household_id=down.id(household) if household else None)


def only_visit(down):
    with down.db.session() as s:
        visits = s.scalars(select(Visit)).all()
    assert len(visits) == 1, visits
    return down.visits.get(visits[0].id, down.id("P002"))


def test_an_elders_death_opens_a_visit_for_the_households_cadre_due_within_a_day(down) -> None:
    case = report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    visit = only_visit(down)
    assert (visit.kind, visit.state, visit.case_id) == ("death", "open", case.id)
    assert visit.owner.id == down.id("P110")  # no cadre named in the file: the grid leader above
    assert visit.due_at == down.clock.now() + timedelta(days=1)
    assert visit.household.code == "H111101" and visit.household.members[0].relation == "head"
    assert [n.recipient_id for n in down.visit_notes("visit_assigned")] == [down.id("P110")]
    with down.db.session() as s:  # the case's timeline says so
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)).all()
    assert "visit_opened" in kinds
    # the report itself is routed as usual (independent of the visit)
    assert down.cases.get_case(case.id, down.id("P1111")).state == "assigned"


def test_a_named_cadre_owns_the_visits_of_their_household(down) -> None:
    report(down, "P1111", "扎巴家的孩子辍学了", "H111106")  # H111106 names P100 as its cadre
    visit = only_visit(down)
    assert visit.kind == "dropout" and visit.owner.id == down.id("P100")
    assert visit.due_at == down.clock.now() + timedelta(days=3)


def test_without_a_household_the_visit_goes_to_the_reporters_grid_and_repeats_join_it(down) -> None:
    first = report(down, "P1211", "村里有个小伙子一直闲在家，不出去找活")
    second = report(down, "P1212", "那个小伙子还是闲在家")
    visit = only_visit(down)
    assert visit.household is None and visit.unit_id == down.id("G010201") and visit.owner.id == down.id("P120")
    assert visit.case_id == first.id
    with down.db.session() as s:
        also = s.scalars(select(VisitEvent).where(VisitEvent.kind == "also_reported")).all()
    assert [e.data["case_id"] for e in also] == [second.id]


def test_no_visit_without_a_life_event_and_none_for_festival_words_in_a_report(down) -> None:
    report(down, "P1111", "路边的水管破了")
    report(down, "P1111", "过年前想去看看老人", "H111104")
    with down.db.session() as s:
        assert s.scalars(select(Visit)).all() == []


def test_a_follow_up_that_tells_of_a_death_opens_the_visit(down) -> None:
    case = report(down, "P1111", "达瓦家老人病得很重", "H111104")
    down.cases.add_details(case.id, down.id("P1111"), text="老人今天早上去世了")
    assert only_visit(down).kind == "death"


def test_reminded_half_way_escalated_when_overdue_and_reminded_at_the_top(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    due = down.due()
    down.clock.advance(hours=12, minutes=1)
    assert due.run_once().other == {"visit_reminder": 1}
    assert [n.recipient_id for n in down.visit_notes("visit_reminder")] == [down.id("P110")]
    assert due.run_once().other == {}  # fires once
    down.clock.advance(hours=12)  # a day: overdue -> the township commander, with a fresh day
    assert due.run_once().other == {"visit_escalated": 1}
    visit = only_visit(down)
    assert visit.owner.id == down.id("P100") and visit.escalation_level == 1
    assert {n.recipient_id for n in down.visit_notes("visit_escalated")} == down.ids("P100", "P110")
    down.clock.advance(days=1)
    due.run_once()
    assert only_visit(down).owner.id == down.id("P002")  # the county commander
    down.clock.advance(days=1)
    assert due.run_once().other == {"visit_overdue_reminder": 1}  # nobody above: keep reminding daily
    down.clock.advance(hours=2)
    assert due.run_once().other == {}
    down.clock.advance(days=1)
    assert due.run_once().other == {"visit_overdue_reminder": 1}


def test_done_with_a_note_closes_it_and_tells_the_reporter(down) -> None:
    case = report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    visit = only_visit(down)
    with pytest.raises(ValidationError) as exc:
        down.visits.complete(visit.id, down.id("P110"))
    assert exc.value.code == "note_required"
    done = down.visits.complete(visit.id, down.id("P110"), note="上门慰问，送了慰问金，帮忙联系了寺院")
    assert done.state == "done" and done.done_by.id == down.id("P110") and done.allowed_actions == ()
    assert [n.recipient_id for n in down.visit_notes("visit_done")] == [down.id("P1111")]
    assert down.visits.process_due(visit.id) is None and down.visits.due_ids(down.clock.now() + timedelta(days=9)) == []
    with pytest.raises(InvalidTransition) as exc:
        down.visits.complete(visit.id, down.id("P110"), note="again")
    assert exc.value.code == "visit_closed"
    with down.db.session() as s:
        assert "visit_done" in s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)).all()


def test_done_with_a_voice_note_or_photo_keeps_the_media(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    visit = only_visit(down)
    done = down.visits.complete(visit.id, down.id("P100"),  # a supervisor may record it too
                                media=VisitMedia("photo", b"\xff\xd8jpeg", "image/jpeg", "file-1"))
    assert done.note == "📷" and done.attachment_kinds == ("photo",)
    assert down.visits.audio_of(visit.id, down.id("P100"))[0][:2] == ("photo", b"\xff\xd8jpeg")
    assert down.id("P110") in {n.recipient_id for n in down.visit_notes("visit_done")}  # the owner hears


def test_hand_on_within_the_area_keeps_the_deadline(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    visit = only_visit(down)
    choices = {p.id for p in down.visits.hand_on_choices(visit.id, down.id("P110"))}
    assert down.ids("P100", "P002", "P003") <= choices  # up the chain, and the county's officials
    assert down.id("P110") not in choices and down.id("P120") not in choices  # P120 covers another village
    assert down.id("P200") not in choices  # another township
    moved = down.visits.hand_on(visit.id, down.id("P110"), down.id("P100"))
    assert moved.owner.id == down.id("P100") and moved.due_at == visit.due_at
    with pytest.raises(NotPermitted):
        down.visits.hand_on(visit.id, down.id("P100"), down.id("P120"))
    with pytest.raises(ValidationError):
        down.visits.hand_on(visit.id, down.id("P100"), down.id("P100"))


def test_rights_only_the_owner_supervisors_and_admins_act(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    visit = only_visit(down)
    for outsider in ("P120", "P200", "P1111", "P010"):
        with pytest.raises(NotPermitted):
            down.visits.complete(visit.id, down.id(outsider), note="x")
    for outsider in ("P120", "P200", "P1111"):
        with pytest.raises(NotPermitted):
            down.visits.get(visit.id, down.id(outsider))
    assert down.visits.get(visit.id, down.id("P003")).allowed_actions == ()  # the centre sees, does not act
    with pytest.raises(ValidationError):
        down.visits.cancel(visit.id, down.id("P110"), reason=" ")
    cancelled = down.visits.cancel(visit.id, down.id("P100"), reason="一家人已经搬到县城")
    assert cancelled.state == "cancelled"
    assert [n.recipient_id for n in down.visit_notes("visit_cancelled")] == [down.id("P110")]


def test_festival_visits_for_marked_households_before_the_day(down, clock) -> None:
    clock.set(clock.now().replace(year=2026, month=1, day=20))
    assert down.visits.generate_festivals() == 0  # more than two weeks ahead
    clock.set(clock.now().replace(month=2, day=5))
    with down.db.session() as s:
        marked = s.scalars(select(Household).where(Household.festival_marks.is_not(None))).all()
        marked_ids = {h.id for h in marked}
    created = down.visits.generate_festivals()
    assert created == len(marked_ids) > 20
    assert down.visits.generate_festivals() == 0  # idempotent
    with down.db.session() as s:
        visits = s.scalars(select(Visit)).all()
    assert {v.household_id for v in visits} == marked_ids and {v.kind for v in visits} == {"festival"}
    # due before the day starts in Beijing (00:00 +08:00 = 16:00 UTC the day before)
    assert {v.due_at.isoformat() for v in visits} == {"2026-02-17T16:00:00"}
    h111106 = next(v for v in visits if v.household_id == down.id("H111106"))
    assert h111106.owner_id == down.id("P100")  # its named cadre
    view = down.visits.get(h111106.id, down.id("P100"))
    assert view.festival_name == "藏历新年"
    assert {r["festival"] for r in down.visits.ledger_rows(None)} == {"藏历新年"}  # the sheet names the festival
    # a household marked later gets its visit at the next run
    with down.db.session() as s:
        s.get(Household, down.id("H111101")).festival_marks = ["hardship"]
    assert down.visits.generate_festivals() == 1
    # through the scheduler's hourly job too, once an hour
    clock.advance(days=20)
    assert down.visits.generate_festivals() == 0  # the day has passed


def test_listings_mine_area_overdue_and_the_household_archive(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    report(down, "P1211", "南加家的女儿辍学了", "H121206")
    assert down.visits.count_visits(down.id("P110"), scope="mine") == 1
    assert down.visits.count_visits(down.id("P100")) == 2 and down.visits.count_visits(down.id("P200")) == 0
    assert down.visits.count_visits(down.id("P100"), overdue_only=True) == 0
    down.clock.advance(days=1, minutes=1)
    overdue = down.visits.list_visits(down.id("P100"), overdue_only=True)
    assert [v.kind for v in overdue] == ["death"] and overdue[0].overdue
    archive = down.visits.of_household(down.id("H111101"), down.id("P110"))
    assert [v.kind for v in archive] == ["death"]
    with pytest.raises(NotPermitted):
        down.visits.of_household(down.id("H111101"), down.id("P120"))


def test_ledger_rows_for_the_visits_sheet(down) -> None:
    report(down, "P1111", "仁青家的老阿爸昨晚去世了", "H111101")
    rows = down.visits.ledger_rows(down.id("P100"))
    assert len(rows) == 1 and set(rows[0]) == {k for k, _ in LEDGER_COLUMNS}
    assert rows[0]["kind"] == "death" and rows[0]["household_code"] == "H111101" and rows[0]["owner"] == "王建国"
    assert down.visits.ledger_rows(down.id("P200")) == []
    assert len(down.visits.ledger_rows(None)) == 1
    assert len(down.visits.ledger_rows(None, unit_ids={down.id("G010101")})) == 1  # lianhu ledger --unit
    assert down.visits.ledger_rows(None, unit_ids={down.id("V0102")}) == []


def test_settings_from_config() -> None:
    s = VisitSettings.from_config({"due": {"default": "2d", "dropout": "5d"}, "remind_every": "12h",
                                   "festivals": {"spring_2026": {"name": "春节", "date": "2026-02-17"}}})
    assert s.due_within("dropout") == timedelta(days=5) and s.due_within("death") == timedelta(days=1)
    assert s.due_within("idle_youth") == timedelta(days=2) and s.festivals[0].name("bo") == "春节"
    for bad, where in (({"due": {"wedding": "1d"}}, "due.wedding"), ({"festivals": {"x": {"date": "soon"}}},
                       "festivals.x.date"), ({"festivals": {"x": {"name": "x"}}}, "festivals.x"),
                       ({"remind_every": "often"}, "remind_every"), ({"holidays": {}}, "holidays")):
        with pytest.raises(ValueError, match=f"^{where}"):
            VisitSettings.from_config(bad)


def test_a_household_linked_after_the_report_moves_the_visit_to_its_cadre(down) -> None:
    case = report(down, "P1111", "扎巴家的孩子辍学了")  # no household named yet: the grid leader owns it
    assert only_visit(down).owner.id == down.id("P110") and only_visit(down).household is None
    with down.db.session() as s:  # the worker taps 扎巴's household (H111106 names P100 as its cadre)
        from storage.models import Case

        s.get(Case, case.id).household_id = down.id("H111106")
    assert down.visits.relink_case(case.id) == [only_visit(down).id]
    visit = only_visit(down)
    assert visit.household.code == "H111106" and visit.owner.id == down.id("P100")
    assert down.id("P100") in {n.recipient_id for n in down.visit_notes("visit_assigned")}
    assert down.visits.relink_case(case.id) == []  # once
