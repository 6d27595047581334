"""Tasks down the hierarchy (domain): drafting, sending to the liaison workers under some villages, per-household
answers (idempotent), a "problem" becoming a routed case with the task's floor, reminders and the deadline
summary on the durable scheduler, closing, export rows, the audit trail, and every bad input — on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.models import Case, Task, TaskAnswer, TaskEvent
from tests.workflows.downward import build
from workflows.cases import AudioIn
from workflows.errors import ConcurrentUpdate, InvalidTransition, NotFound, NotPermitted, ValidationError
from workflows.tasks import EXPORT_COLUMNS, TaskSettings


@pytest.fixture
def down(world):
    return build(world)


def snowstorm(down, *, villages=("V0101", "V0102", "V0103"), hours: float = 6, issuer: str = "P100", **kw):
    due = down.clock.now() + timedelta(hours=hours)
    targets = [down.id(v) for v in villages]
    return down.tasks.create_and_send(down.id(issuer), template="disaster_check", due_at=due, targets=targets, **kw)


def lines_of(down, task_id: int, worker: str) -> list:
    return list(down.tasks.sheet(task_id, down.id(worker)).lines)


# ------------------------------------------------------------------------------------------- sending


def test_a_township_commander_sends_a_snowstorm_check_to_three_villages(down) -> None:
    task = snowstorm(down)
    assert task.state == "sent" and task.template == "disaster_check"
    assert task.target_names == ("多卡村", "拉日村", "桑科村")
    # every liaison worker of the three villages (4 + 4 + 2) gets it, with one line per household they look after
    assert task.workers == 10
    assert down.recipients("task_assigned") == down.ids("P1111", "P1112", "P1121", "P1122", "P1211", "P1212",
                                                         "P1221", "P1222", "P1311", "P1312")
    with down.db.session() as s:
        households = len(s.scalars(select(TaskAnswer).where(TaskAnswer.task_id == task.id)).all())
    assert task.total == households == 52 + 5 and task.pending == task.total
    assert [line.household_code for line in lines_of(down, task.id, "P1311")] == ["H131101", "H131102", "H131103"]
    # the worker reads the template in their language (P1312 reads Tibetan)
    assert down.tasks.sheet(task.id, down.id("P1312")).text.startswith("ཁ་བ་")
    assert down.tasks.sheet(task.id, down.id("P1311")).text.startswith("大雪大风")
    # villages, each followed by its grids
    assert [(u.name, u.total) for u in task.by_unit][:3] == [("多卡村", 26), ("多卡村第一网格", 15),
                                                              ("多卡村第二网格", 11)]
    assert task.min_urgency == "priority" and task.problem_category == "disaster"


def test_whole_area_by_default_and_a_single_grid(down) -> None:
    due = down.clock.now() + timedelta(days=1)
    whole = down.tasks.create_and_send(down.id("P110"), text="请通知各户：明天上午打疫苗", due_at=due)
    assert whole.workers == 4 and whole.target_names == ("多卡村",)
    grid = down.tasks.create_and_send(down.id("P110"), text="请核实", due_at=due, targets=[down.id("G010102")])
    assert grid.workers == 2 and grid.total == 11
    county = down.tasks.create_and_send(down.id("P003"), text="全县返乡人员登记", due_at=due)
    assert county.workers == 18  # the governance centre: the whole county


def test_drafts_are_rows_and_the_dialogue_can_be_resumed(down) -> None:
    draft = down.tasks.create_draft(down.id("P100"))
    assert draft.state == "draft" and draft.total == 0 and "send" in draft.allowed_actions
    down.tasks.update_draft(draft.id, down.id("P100"), text="  检查牲畜棚圈  ")
    down.tasks.update_draft(draft.id, down.id("P100"), targets=[down.id("V0102")])
    down.tasks.update_draft(draft.id, down.id("P100"), due_at=down.clock.now() + timedelta(hours=3))
    assert down.task_notes("task_assigned") == []  # nothing sent while drafting
    sent = down.tasks.send(draft.id, down.id("P100"))
    assert sent.text == "检查牲畜棚圈" and sent.target_names == ("拉日村",) and sent.workers == 4
    choices = down.tasks.target_choices(down.id("P100"))
    assert [(c.code, c.workers) for c in choices] == [("V0101", 4), ("V0102", 4), ("V0103", 2)]


def test_the_issuers_own_words_win_over_the_templates_and_keep_its_floor(down) -> None:
    task = snowstorm(down, text="今晚零下三十度，看看每户的取暖煤够不够")
    for worker in ("P1111", "P1312"):  # a Chinese and a Tibetan reader: both get the issuer's words
        assert down.tasks.sheet(task.id, down.id(worker)).text == "今晚零下三十度，看看每户的取暖煤够不够"
    assert task.template == "disaster_check" and task.min_urgency == "priority"


BAD_TASKS = [
    pytest.param(dict(issuer="P200", villages=("V0101",)), NotPermitted, "target_not_in_jurisdiction",
                 id="outside-jurisdiction"),
    pytest.param(dict(issuer="P110", villages=("V0102",)), NotPermitted, "target_not_in_jurisdiction",
                 id="grid-leader-other-village"),
    pytest.param(dict(issuer="P1111", villages=("G010101",)), NotPermitted, "not_a_task_issuer",
                 id="worker-cannot-send"),
    pytest.param(dict(issuer="P010", villages=("V0101",)), NotPermitted, "not_a_task_issuer",
                 id="department-contact-cannot-send"),
    pytest.param(dict(hours=-1), ValidationError, "deadline_past", id="deadline-in-the-past"),
]


@pytest.mark.parametrize(("kwargs", "error", "code"), BAD_TASKS)
def test_bad_tasks_are_refused_and_nothing_is_sent(down, kwargs, error, code) -> None:
    with pytest.raises(error) as exc:
        snowstorm(down, **kwargs)
    assert exc.value.code == code
    assert down.task_notes("task_assigned") == []
    with down.db.session() as s:  # refused before anything was written: not even a cancelled draft
        assert s.scalars(select(Task)).all() == []


def test_a_task_with_no_text_and_a_deadline_in_the_past_are_refused(down) -> None:
    due = down.clock.now() + timedelta(hours=2)
    with pytest.raises(ValidationError) as exc:
        down.tasks.create_and_send(down.id("P100"), text="   ", due_at=due)
    assert exc.value.code == "empty_task"
    with down.db.session() as s:
        assert s.scalars(select(Task)).all() == []
    draft = down.tasks.create_draft(down.id("P100"), text="检查")
    with pytest.raises(ValidationError) as exc:
        down.tasks.update_draft(draft.id, down.id("P100"), due_at=down.clock.now() - timedelta(minutes=1))
    assert exc.value.code == "deadline_past"
    with pytest.raises(ValidationError) as exc:
        down.tasks.send(draft.id, down.id("P100"))
    assert exc.value.code == "deadline_required"
    with pytest.raises(ValidationError) as exc:
        down.tasks.create_draft(down.id("P100"), template="no_such")
    assert exc.value.code == "unknown_template"
    assert down.task_notes("task_assigned") == []


def test_only_the_issuer_edits_sends_closes_or_cancels(down) -> None:
    draft = down.tasks.create_draft(down.id("P100"), text="检查")
    for actor in ("P200", "P110"):
        with pytest.raises(NotPermitted):
            down.tasks.update_draft(draft.id, down.id(actor), text="改")
        with pytest.raises(NotPermitted):
            down.tasks.send(draft.id, down.id(actor))
    task = snowstorm(down)
    with pytest.raises(NotPermitted):
        down.tasks.close(task.id, down.id("P110"))
    with pytest.raises(NotPermitted):
        down.tasks.get(task.id, down.id("P200"))  # another township sees nothing
    assert down.tasks.get(task.id, down.id("P002")).total == task.total  # the county commander above may read
    assert down.tasks.get(task.id, down.id("P002")).allowed_actions == ("export",)
    with pytest.raises(NotFound):
        down.tasks.get(9999, down.id("P100"))


# ------------------------------------------------------------------------------------------- answers


def test_answers_are_idempotent_and_completion_is_live(down) -> None:
    task = snowstorm(down)
    worker, hh = down.id("P1111"), down.id("H111101")
    first = down.tasks.answer(task.id, worker, hh, "done")
    again = down.tasks.answer(task.id, worker, hh, "done")  # a double tap / a redelivered update
    assert first.changed and not again.changed
    assert down.tasks.get(task.id, down.id("P100")).done == 1
    down.tasks.answer(task.id, worker, down.id("H111102"), "unreachable")
    view = down.tasks.get(task.id, down.id("P100"))
    assert (view.done, view.unreachable, view.pending) == (1, 1, task.total - 2)
    grid = next(u for u in view.by_unit if u.name == "多卡村第一网格")
    assert (grid.done, grid.unreachable, grid.answered) == (1, 1, 2)
    # a changed answer is a change (recorded), and the sheet shows it
    down.tasks.answer(task.id, worker, down.id("H111102"), "done")
    statuses = {line.household_code: line.status for line in lines_of(down, task.id, "P1111")}
    assert statuses["H111101"] == statuses["H111102"] == "done" and statuses["H111103"] == "pending"
    with down.db.session() as s:
        answers = s.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id, TaskEvent.kind == "answer")).all()
    assert [(e.data["from"], e.data["to"]) for e in answers] == [("pending", "done"), ("pending", "unreachable"),
                                                                  ("unreachable", "done")]


def test_a_problem_becomes_an_urgent_case_routed_to_the_grid_leader_with_the_centre_alerted(down) -> None:
    task = snowstorm(down)
    worker, hh = down.id("P1211"), down.id("H121101")
    result = down.tasks.answer(task.id, worker, hh, "problem", text="这家的帐篷被雪压塌了，屋里着火了")
    case = down.cases.get_case(result.case_id, worker)
    assert case.urgency == "urgent" and case.household_id == hh and case.owner.id == down.id("P120")
    assert down.recipients("urgent_alert", case.id) >= down.ids("P003", "P004")
    with down.db.session() as s:
        assert s.get(Case, case.id).task_id == task.id
    view = down.tasks.get(task.id, down.id("P100"))
    assert view.problem == 1 and view.problems[0].case_id == case.id and view.problems[0].head_name
    # the same problem again (a retry) files no second case; more words go to the same case
    again = down.tasks.answer(task.id, worker, hh, "problem", text="人已经转移到邻居家")
    assert again.case_id == case.id
    with down.db.session() as s:
        assert len(s.scalars(select(Case).where(Case.task_id == task.id)).all()) == 1


def test_a_problem_triage_finds_nothing_in_takes_the_tasks_floor(down) -> None:
    task = snowstorm(down)
    result = down.tasks.answer(task.id, down.id("P1111"), down.id("H111103"), "problem", text="草料只够两天了")
    case = down.cases.get_case(result.case_id, down.id("P1111"))
    assert (case.urgency, case.category) == ("priority", "disaster")
    assert any(c.get("note") == "task" for c in case.cues)


def test_a_voice_problem_is_stored_first_and_waits_for_its_transcript(down) -> None:
    task = snowstorm(down)
    audio = AudioIn(content=b"OggS fake voice", mime_type="audio/ogg", duration_s=3.0)
    result = down.tasks.answer(task.id, down.id("P1111"), down.id("H111104"), "problem", audio=audio)
    case = down.cases.get_case(result.case_id, down.id("P1111"))
    assert case.state == "reported" and case.transcript_status == "pending" and case.has_audio
    line = next(li for li in lines_of(down, task.id, "P1111") if li.household_code == "H111104")
    assert line.status == "problem" and line.case_id == case.id
    routed = down.cases.attach_transcript(case.id, "牛圈的棚子塌了一半")
    assert routed.urgency == "priority" and routed.category == "disaster"  # the floor holds for voice too


BAD_ANSWERS = [
    pytest.param("P1311", "H111101", "done", NotPermitted, "not_a_recipient", id="not-sent-to-this-worker"),
    pytest.param("P1112", "H111101", "done", NotPermitted, "household_not_in_task", id="someone-elses-household"),
    pytest.param("P1111", "H999999", "done", NotPermitted, "household_not_in_task", id="forged-household-id"),
    pytest.param("P1111", "H111101", "maybe", ValidationError, "unknown_answer", id="unknown-answer"),
    pytest.param("P1111", "H111101", "problem", ValidationError, "note_required", id="problem-without-words"),
]


@pytest.mark.parametrize(("worker", "household", "answer", "error", "code"), BAD_ANSWERS)
def test_bad_answers_are_refused_and_change_nothing(down, worker, household, answer, error, code) -> None:
    task = snowstorm(down, villages=("V0101",))
    household_id = down.org.households.get(household, 999_999)
    with pytest.raises(error) as exc:
        down.tasks.answer(task.id, down.id(worker), household_id, answer)
    assert exc.value.code == code
    view = down.tasks.get(task.id, down.id("P100"))
    assert view.pending == view.total
    with down.db.session() as s:
        assert s.scalars(select(TaskEvent).where(TaskEvent.kind == "answer")).all() == []


def test_answers_after_the_task_closed_or_was_cancelled_are_refused(down) -> None:
    task = snowstorm(down, villages=("V0101",))
    closed = down.tasks.close(task.id, down.id("P100"))
    assert closed.state == "closed" and closed.allowed_actions == ("export",)
    with pytest.raises(InvalidTransition) as exc:
        down.tasks.answer(task.id, down.id("P1111"), down.id("H111101"), "done")
    assert exc.value.code == "task_closed" and exc.value.params["state"] == "closed"
    with pytest.raises(InvalidTransition):
        down.tasks.close(task.id, down.id("P100"))
    other = snowstorm(down, villages=("V0102",))
    down.tasks.cancel(other.id, down.id("P100"), reason="发错了")
    assert down.recipients("task_cancelled") == down.ids("P1211", "P1212", "P1221", "P1222")
    with pytest.raises(InvalidTransition) as exc:
        down.tasks.check_answerable(other.id, down.id("P1211"), down.id("H121101"))
    assert exc.value.params["state"] == "cancelled"


def test_the_issuer_hears_when_every_line_is_answered(down) -> None:
    due = down.clock.now() + timedelta(hours=3)
    task = down.tasks.create_and_send(down.id("P130"), text="核实人口", due_at=due)
    for worker in ("P1311", "P1312"):
        for line in lines_of(down, task.id, worker):
            down.tasks.answer(task.id, down.id(worker), line.household_id, "done")
    assert [n.recipient_id for n in down.task_notes("task_complete", task.id)] == [down.id("P130")]


def test_a_worker_without_households_gets_one_line_of_their_own(down) -> None:
    from storage.models import Household

    with down.db.session() as s:
        for hh in s.scalars(select(Household).where(Household.liaison_id == down.id("P1312"))):
            hh.liaison_id = down.id("P1311")
    task = down.tasks.create_and_send(down.id("P130"), text="核实", due_at=down.clock.now() + timedelta(hours=3))
    lines = lines_of(down, task.id, "P1312")
    assert [(li.household_id, li.status) for li in lines] == [(None, "pending")]
    assert down.tasks.answer(task.id, down.id("P1312"), None, "done").changed


# ------------------------------------------------------------------------------------------- due work


def test_reminders_to_non_answerers_then_the_summary_then_the_automatic_close(down) -> None:
    task = snowstorm(down, villages=("V0103",), hours=6)
    for line in lines_of(down, task.id, "P1311"):
        down.tasks.answer(task.id, down.id("P1311"), line.household_id, "done")
    due = down.due()
    assert due.run_once().other == {}  # nothing due yet
    down.clock.advance(hours=2, minutes=1)  # first reminder at a third of the window
    assert due.run_once().other == {"task_reminder": 1}
    assert [n.recipient_id for n in down.task_notes("task_reminder", task.id)] == [down.id("P1312")]
    assert down.task_notes("task_reminder", task.id)[0].payload["open"] == 2
    assert due.run_once().other == {}  # fires once
    down.clock.advance(hours=2)
    due.run_once()
    assert len(down.task_notes("task_reminder", task.id)) == 2
    down.clock.advance(hours=2)  # the deadline
    assert due.run_once().other == {"task_summary": 1}
    assert [n.recipient_id for n in down.task_notes("task_summary", task.id)] == [down.id("P100")]
    view = down.tasks.get(task.id, down.id("P100"))
    assert view.overdue and [w.name for w in view.not_answered] == ["央宗"]
    down.tasks.answer(task.id, down.id("P1312"), down.id("H131201"), "done")  # late answers still count
    down.clock.advance(days=3)
    assert due.run_once().other == {"task_closed": 1}
    assert down.tasks.get(task.id, down.id("P100")).state == "closed"
    assert down.task_notes("task_closed", task.id)[0].payload["auto"] is True


def test_after_downtime_missed_reminders_coalesce_into_one(down) -> None:
    task = snowstorm(down, villages=("V0103",), hours=6)
    down.clock.advance(hours=5)  # both reminders fell due while the scheduler was down
    assert down.due().run_once().other == {"task_reminder": 1}
    assert len(down.task_notes("task_reminder", task.id)) == 2  # one per worker, not two each
    assert down.tasks.process_due(task.id) is None


def test_a_concurrent_close_and_due_step_is_clean(down) -> None:
    task = snowstorm(down, villages=("V0103",), hours=6)
    down.clock.advance(hours=7)
    down.tasks.close(task.id, down.id("P100"))
    assert down.tasks.process_due(task.id) is None  # a closed task has nothing due
    assert isinstance(ConcurrentUpdate("x"), Exception)


# ------------------------------------------------------------------------------------------- reads


def test_export_rows_have_chinese_columns_and_every_line(down) -> None:
    task = snowstorm(down, villages=("V0103",))
    down.tasks.answer(task.id, down.id("P1311"), down.id("H131101"), "problem", text="帐篷漏雪")
    rows = down.tasks.export_rows(task.id, down.id("P100"))
    assert len(rows) == 5 and set(rows[0]) == {k for k, _ in EXPORT_COLUMNS}
    first = rows[0]
    assert (first["township"], first["village"], first["grid"]) == ("扎西乡", "桑科村", "桑科村第一网格")
    assert first["household_code"] == "H131101" and first["answer"] == "有问题" and first["case_id"]
    assert {r["answer"] for r in rows[1:]} == {"未回复"}
    assert dict(EXPORT_COLUMNS)["answer"] == "回复"
    with pytest.raises(NotPermitted):
        down.tasks.export_rows(task.id, down.id("P1311"))


def test_lists_for_the_issuer_and_the_worker(down) -> None:
    a = snowstorm(down, villages=("V0101",))
    b = snowstorm(down, villages=("V0101",), hours=12)
    assert [t.id for t in down.tasks.list_tasks(down.id("P100"))] == [b.id, a.id]
    assert down.tasks.list_tasks(down.id("P200")) == []
    assert [sh.task_id for sh in down.tasks.open_sheets(down.id("P1111"))] == [a.id, b.id]


def test_templates_and_settings_from_config() -> None:
    settings = TaskSettings.from_config({
        "reminders": 1, "close_after": "12h",
        "templates": {"water_check": {"name": {"zh": "饮水排查"}, "text": {"zh": "查看水源"}, "due": "2h",
                                      "min_urgency": "urgent", "category": "water"},
                      "disaster_check": {"due": "3h"}},
    })
    assert settings.reminders == 1 and settings.close_after == timedelta(hours=12)
    assert settings.templates["water_check"].min_urgency == "urgent"
    assert settings.templates["disaster_check"].due == timedelta(hours=3)
    assert settings.templates["disaster_check"].texts["zh"].startswith("大雪")  # the rest kept
    for bad, where in (({"reminders": -1}, "reminders"), ({"templates": {"x": {"due": "soon"}}}, "templates.x.due"),
                       ({"templates": {"x": {"min_urgency": "asap"}}}, "templates.x.min_urgency"),
                       ({"colour": 1}, "colour"), ({"templates": {"x": {"texts": "a"}}}, "templates.x.texts")):
        with pytest.raises(ValueError, match=f"^{where}"):
            TaskSettings.from_config(bad)
