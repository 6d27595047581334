"""The scheduler's side of tasks: reminders to workers with open lines, the summary to the issuer at the
deadline, and the automatic close — each step in one transaction that also moves ``next_wakeup_at``, so it
fires once (after downtime, reminders that fell due meanwhile coalesce into one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from storage.models import Task, TaskAnswer
from workflows.tasks.answers import TaskAnswers


class TaskDueWork(TaskAnswers):
    def due_ids(self, now: datetime, limit: int = 200) -> list[int]:
        with self.db.session() as s:
            return list(s.scalars(
                select(Task.id).where(Task.next_wakeup_at <= now, Task.state == "sent").order_by(Task.id).limit(limit)
            ))

    def process_due(self, task_id: int) -> str | None:
        """Whatever is due on one task: "task_closed", "task_summary", "task_reminder", or None."""
        now = self.clock.now()
        with self._tx(task_id) as s:
            task = self._task(s, task_id)
            if task.state != "sent":
                task.next_wakeup_at = None
                return None
            if task.next_wakeup_at is None or task.next_wakeup_at > now:
                return None
            outcome: str | None = None
            if task.close_at is not None and task.close_at <= now:
                if task.summary_sent_at is None:
                    self._summary(s, task, now)
                self._end(s, task, "close", now, actor=None, data={"how": "automatic"})
                self._notify(s, now, "task_closed", task.issuer_id, task, "auto", {"auto": True})
                return "task_closed"
            if task.due_at is not None and task.due_at <= now and task.summary_sent_at is None:
                self._summary(s, task, now)
                outcome = "task_summary"
            else:
                times = self._reminder_times(task)
                passed = sum(1 for t in times if t <= now)
                if passed > task.reminders_sent:
                    task.reminders_sent = passed  # missed reminders coalesce into one
                    self._remind(s, task, now, passed)
                    outcome = "task_reminder"
            task.next_wakeup_at = self._next_wakeup(task, now)
            task.updated_at = now
            return outcome

    def _summary(self, s, task: Task, now: datetime) -> None:
        task.summary_sent_at = now
        self._event(s, task, now, "summary")
        self._notify(s, now, "task_summary", task.issuer_id, task, "deadline")

    def _remind(self, s, task: Task, now: datetime, count: int) -> None:
        pending = s.execute(
            select(TaskAnswer.worker_id).where(TaskAnswer.task_id == task.id, TaskAnswer.status == "pending")
        ).scalars().all()
        workers = sorted(set(pending))
        self._event(s, task, now, "reminder", data={"count": count, "workers": workers})
        for worker_id in workers:
            open_lines = sum(1 for w in pending if w == worker_id)
            self._notify(s, now, "task_reminder", worker_id, task, f"r{count}",
                         {"count": count, "open": open_lines, "due_at": task.due_at.isoformat() if task.due_at else None})
