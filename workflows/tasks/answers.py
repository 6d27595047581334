"""Workers' answers, one per household line: ✅ done / informed, ⚠️ problem (with text or voice), 🚫 not reachable.

Idempotent by construction: a line holds one status, so the same tap twice (or a redelivered update) finds
it already set and changes nothing. A "problem" files a case at once through the usual reporting path — stored
first, triaged, routed, urgent ones alerted — keyed by the line, so a retry after a crash finds the same case
instead of filing a second one; a further problem on the same line is added to that case as details.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, Task, TaskAnswer
from workflows.errors import DomainError, InvalidTransition, NotPermitted, ValidationError
from workflows.tasks.issuing import TaskIssuing, source_key_for
from workflows.tasks.views import ANSWERS, AnswerResult, WorkerSheet

MAX_NOTE = 2000


class TaskAnswers(TaskIssuing):
    def check_answerable(self, task_id: int, actor_id: int, household_id: int | None) -> WorkerSheet:
        """Raise what :meth:`answer` would raise for this line (before the bot asks "what problem?")."""
        with self.db.session() as s:
            task, actor, _ = self._line_for(s, task_id, actor_id, household_id)
            return self._sheet(s, task, actor)

    def line(self, line_id: int, actor_id: int) -> tuple[int, int | None]:
        """``(task_id, household_id)`` of one of the actor's lines (a prompt remembers the line by its id)."""
        with self.db.session() as s:
            row = s.get(TaskAnswer, line_id)
            if row is None or row.worker_id != actor_id:
                raise NotPermitted(f"line {line_id} is not person {actor_id}'s", code="household_not_in_task",
                                   params={"line_id": line_id})
            return row.task_id, row.household_id

    def answer(self, task_id: int, actor_id: int, household_id: int | None, status: str, *,
               text: str | None = None, audio: object | None = None, language: str | None = None) -> AnswerResult:
        """Record the answer for one line. ``problem`` needs ``text`` or ``audio`` (a
        :class:`workflows.cases.AudioIn`) and files (or adds to) the line's case."""
        if status not in ANSWERS:
            raise ValidationError(f"unknown answer {status!r}", code="unknown_answer", params={"answer": status})
        text = (text or "").strip()[:MAX_NOTE] or None
        now = self.clock.now()
        with self._tx(task_id) as s:
            task, actor, row = self._line_for(s, task_id, actor_id, household_id)
            if status != "problem":
                if row.status == status:
                    return AnswerResult(self._sheet(s, task, actor), changed=False, case_id=row.case_id)
                self._set(s, task, actor, row, status, now, note=text)
                return AnswerResult(self._sheet(s, task, actor), changed=True, case_id=row.case_id)
            if text is None and audio is None:
                raise ValidationError("say what the problem is", code="note_required")
            existing, line_household, worker_id = row.case_id, row.household_id, row.worker_id

        case_id = self._file_problem(task_id, actor_id, line_household, worker_id, existing, text, audio, language)
        with self._tx(task_id) as s:
            task, actor, row = self._line_for(s, task_id, actor_id, household_id, closed_ok=True)
            row.case_id = row.case_id or case_id
            self._set(s, task, actor, row, "problem", now, note=text or "🎙", case_id=case_id)
            return AnswerResult(self._sheet(s, task, actor), changed=True, case_id=case_id)

    def _file_problem(self, task_id: int, actor_id: int, household_id: int | None, worker_id: int,
                      existing: int | None, text: str | None, audio: object | None, language: str | None) -> int:
        if existing is not None:
            try:
                self.cases.add_details(existing, actor_id, text=text, audio=audio)
                return existing
            except DomainError:  # the earlier case is closed already: this is a new problem
                pass
        key = source_key_for(task_id, household_id, worker_id)
        if existing is not None:
            key = f"{key}:{self.clock.now().isoformat()}"
        view = self.cases.file_report(actor_id, text=text, audio=audio, source_key=key, language=language,
                                      household_id=household_id, task_id=task_id)
        return view.id

    def _line_for(self, s: Session, task_id: int, actor_id: int, household_id: int | None, *,
                  closed_ok: bool = False) -> tuple[Task, Person, TaskAnswer]:
        task = self._task(s, task_id)
        actor = self._person(s, actor_id)
        rows = s.scalars(select(TaskAnswer).where(TaskAnswer.task_id == task.id, TaskAnswer.worker_id == actor.id)
                         ).all()
        if not rows:
            raise NotPermitted(f"task #{task.id} was not sent to {actor.name}", code="not_a_recipient",
                               params={"task_id": task.id})
        row = next((r for r in rows if r.household_id == household_id), None)
        if row is None:
            raise NotPermitted(f"household {household_id} is not on {actor.name}'s sheet of task #{task.id}",
                               code="household_not_in_task", params={"task_id": task.id, "household_id": household_id})
        if task.state != "sent" and not closed_ok:
            raise InvalidTransition(f"task #{task.id} is {task.state}", code="task_closed",
                                    params={"task_id": task.id, "state": task.state})
        return task, actor, row

    def _set(self, s: Session, task: Task, actor: Person, row: TaskAnswer, status: str, now: datetime, *,
             note: str | None, case_id: int | None = None) -> None:
        old = row.status
        row.status = status
        row.answered_at = now
        if note is not None or status != "problem":
            row.note = note
        # the task row itself is not touched: many workers answer at once, and its version must not make
        # them collide
        self._event(s, task, now, "answer", actor=actor, note=note,
                    data={"household_id": row.household_id, "from": old, "to": status, "case_id": case_id})
        s.flush()
        pending = s.scalar(select(TaskAnswer.id).where(TaskAnswer.task_id == task.id,
                                                       TaskAnswer.status == "pending").limit(1))
        if pending is None and task.state == "sent":
            self._notify(s, now, "task_complete", task.issuer_id, task, "complete")
