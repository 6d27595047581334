"""Reads: a task as its issuer (and those above) see it, a worker's sheet, lists, and the export rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.models import Person, Role, Task, TaskAnswer, TaskEvent, UnitLevel
from workflows.errors import NotPermitted
from workflows.routing import ancestors
from workflows.tasks.due import TaskDueWork
from workflows.tasks.views import TaskSummary, TaskView, WorkerSheet
from workflows.views import TimelineEntry

#: The export's columns: (key, Chinese header). Values are plain (datetimes naive UTC; the writer localizes).
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task_id", "任务编号"),
    ("township", "乡镇"),
    ("village", "村"),
    ("grid", "网格"),
    ("worker_code", "联户员编号"),
    ("worker", "联户员"),
    ("household_code", "户编号"),
    ("head_name", "户主"),
    ("answer", "回复"),
    ("answered_at", "回复时间"),
    ("note", "情况说明"),
    ("case_id", "案件编号"),
)
ANSWER_WORDS = {"pending": "未回复", "done": "已完成", "problem": "有问题", "unreachable": "联系不上"}


class TaskQueries(TaskDueWork):
    def get(self, task_id: int, viewer_id: int) -> TaskView:
        now = self.clock.now()
        with self.db.session() as s:
            task = self._task(s, task_id)
            viewer = self._person(s, viewer_id)
            if not self._can_read(s, task, viewer):
                raise NotPermitted(f"{viewer.name} may not see task #{task.id}",
                                   params={"task_id": task.id, "action": "view"})
            return self._view(s, task, viewer, now)

    def timeline(self, task_id: int, viewer_id: int) -> list[TimelineEntry]:
        """The task's audit trail (created, sent, answers, reminders, summary, closed), oldest first."""
        self.get(task_id, viewer_id)  # the rights check
        with self.db.session() as s:
            events = s.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id))
            return [TimelineEntry(at=e.at, kind=e.kind, actor_id=e.actor_id,
                                  actor_name=e.actor.name if e.actor else None, from_state=e.from_state,
                                  to_state=e.to_state, note=e.note, data=dict(e.data or {})) for e in events]

    def sheet(self, task_id: int, worker_id: int) -> WorkerSheet:
        """A worker's own lines of a task (:class:`NotPermitted` ``not_a_recipient`` for anyone else)."""
        with self.db.session() as s:
            task = self._task(s, task_id)
            worker = self._person(s, worker_id)
            has = s.scalar(select(TaskAnswer.id).where(TaskAnswer.task_id == task.id,
                                                       TaskAnswer.worker_id == worker.id).limit(1))
            if has is None:
                raise NotPermitted(f"task #{task.id} was not sent to {worker.name}", code="not_a_recipient",
                                   params={"task_id": task.id})
            return self._sheet(s, task, worker)

    def audio(self, task_id: int, viewer_id: int) -> bytes | str | None:
        """A spoken task's recording for a recipient or reader: the Telegram file id when known (resent without
        uploading), else the bytes; None for a written task."""
        with self.db.session() as s:
            task = self._task(s, task_id)
            viewer = self._person(s, viewer_id)
            recipient = s.scalar(select(TaskAnswer.id).where(TaskAnswer.task_id == task.id,
                                                             TaskAnswer.worker_id == viewer.id).limit(1))
            if recipient is None and not self._can_read(s, task, viewer):
                raise NotPermitted(f"{viewer.name} may not hear task #{task.id}", code="not_a_recipient",
                                   params={"task_id": task.id})
            return task.audio_file_id or task.audio

    def list_tasks(self, viewer_id: int, *, limit: int = 10, offset: int = 0) -> list[TaskSummary]:
        """Tasks the viewer issued (admins: all), newest first, with their completion."""
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = select(Task).where(Task.state != "draft")
            if viewer.role != Role.admin:
                q = q.where(Task.issuer_id == viewer.id)
            tasks = s.scalars(q.order_by(Task.id.desc()).limit(limit).offset(offset)).all()
            out = []
            for task in tasks:
                counts = dict(s.execute(select(TaskAnswer.status, func.count()).where(TaskAnswer.task_id == task.id)
                                        .group_by(TaskAnswer.status)).tuples().all())
                total = sum(counts.values())
                out.append(TaskSummary(task.id, task.state, self._text_for(task, viewer.ui_language), task.due_at,
                                       total, total - counts.get("pending", 0), counts.get("problem", 0)))
            return out

    def open_sheets(self, worker_id: int) -> list[WorkerSheet]:
        """The worker's sent tasks that still have an unanswered line (oldest deadline first)."""
        with self.db.session() as s:
            worker = self._person(s, worker_id)
            ids = s.scalars(
                select(TaskAnswer.task_id).join(Task, Task.id == TaskAnswer.task_id)
                .where(TaskAnswer.worker_id == worker.id, TaskAnswer.status == "pending", Task.state == "sent")
                .distinct()
            ).all()
            tasks = sorted((self._task(s, i) for i in ids), key=lambda t: (t.due_at is None, t.due_at, t.id))
            return [self._sheet(s, t, worker) for t in tasks]

    def export_rows(self, task_id: int, viewer_id: int) -> list[dict[str, Any]]:
        """One row per line (keys of :data:`EXPORT_COLUMNS`), by township, village, grid, worker, household."""
        with self.db.session() as s:
            task = self._task(s, task_id)
            viewer = self._person(s, viewer_id)
            if not self._can_read(s, task, viewer):
                raise NotPermitted(f"{viewer.name} may not export task #{task.id}",
                                   params={"task_id": task.id, "action": "export"})
            places: dict[int, dict[str, str]] = {}
            rows = []
            for r in s.scalars(select(TaskAnswer).where(TaskAnswer.task_id == task.id)):
                if r.unit_id not in places:
                    chain = {u.level: u.name for u in ancestors(s, r.unit_id)}
                    places[r.unit_id] = {"township": chain.get(UnitLevel.township, ""),
                                         "village": chain.get(UnitLevel.village, ""),
                                         "grid": chain.get(UnitLevel.grid, "")}
                worker: Person = r.worker
                hh = r.household
                rows.append({
                    "task_id": task.id, **places[r.unit_id], "worker_code": worker.code, "worker": worker.name,
                    "household_code": hh.code if hh else "", "head_name": hh.head_name if hh else "",
                    "answer": ANSWER_WORDS.get(r.status, r.status), "answered_at": r.answered_at,
                    "note": r.note or "", "case_id": r.case_id or "",
                })
            rows.sort(key=lambda d: (d["township"], d["village"], d["grid"], d["worker_code"], d["household_code"]))
            return rows
