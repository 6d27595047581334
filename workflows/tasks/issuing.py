"""Drafting and sending tasks, and ending them (close, cancel).

Why drafts are rows: the Telegram dialogue (text → who → deadline → preview) takes several messages; keeping the
draft in the database means a restart or a second bot process mid-dialogue loses nothing, and the console can
show and finish the same draft. Sending turns the draft into one answer line per household of every liaison
worker under the targets, and one notification per worker, in one transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, Role, Task, TaskAnswer, Unit
from workflows.errors import NotFound, NotPermitted, ValidationError
from workflows.routing import in_subtree, subtree_ids
from workflows.tasks.core import TaskCore
from workflows.tasks.views import TaskView

_UNSET: Any = object()
MAX_TASK_TEXT = 2000


@dataclass(frozen=True)
class TaskAudio:
    """A voice note sent as the task (bytes kept with the task; the file id lets Telegram resend it cheaply)."""

    content: bytes
    mime_type: str | None = None
    telegram_file_id: str | None = None


@dataclass(frozen=True)
class UnitChoice:
    """A unit an issuer may send to (for the picker): its liaison workers and households under it."""

    id: int
    code: str
    name: str
    level: str
    workers: int
    households: int


class TaskIssuing(TaskCore):
    def create_draft(self, issuer_id: int, *, text: str | None = None, template: str | None = None,
                     audio: TaskAudio | None = None, language: str | None = None) -> TaskView:
        """A draft task (nothing is sent yet). ``template``: a key of ``[tasks.templates]`` (its text per language,
        deadline and problem floor)."""
        now = self.clock.now()
        tpl = self.settings.template(template)
        if template is not None and tpl is None:
            raise ValidationError(f"no task template {template!r}", code="unknown_template",
                                  params={"template": template})
        with self._tx() as s:
            issuer = self._person(s, issuer_id)
            self._require_issuer(s, issuer)
            task = Task(
                issuer_id=issuer.id, state="draft", template=tpl.key if tpl else None,
                # the issuer's own words win over a template's (the template still gives the floor and deadline)
                text=self._clean(text), texts=dict(tpl.texts) if tpl and tpl.texts and not self._clean(text) else None,
                language=language or issuer.ui_language or "zh",
                due_at=None, min_urgency=tpl.min_urgency if tpl else None,
                problem_category=tpl.category if tpl else None, reminders=self.settings.reminders,
                reminders_sent=0, created_at=now, updated_at=now,
            )
            if audio is not None:
                self._set_audio(task, audio)
            s.add(task)
            s.flush()
            task.issuer = issuer
            self._event(s, task, now, "created", actor=issuer, to_state="draft",
                        data={"template": task.template})
            return self._view(s, task, issuer, now)

    def update_draft(self, task_id: int, actor_id: int, *, text: str | None = _UNSET, targets: list[int] | None = _UNSET,
                     due_at: datetime | None = _UNSET, audio: TaskAudio | None = _UNSET) -> TaskView:
        """Change what a draft says, whom it goes to (unit ids; None or [] = the issuer's whole area) or its
        deadline. Targets outside the issuer's area and deadlines in the past are refused."""
        now = self.clock.now()
        with self._tx(task_id) as s:
            task = self._task(s, task_id)
            actor = self._person(s, actor_id)
            self._require_owner(task, actor, "edit")
            if task.state != "draft":
                raise ValidationError(f"task #{task.id} was already sent", code="task_closed",
                                      params={"task_id": task.id, "state": task.state})
            if text is not _UNSET:
                task.text = self._clean(text)
                if task.text:
                    task.texts = None  # the issuer's own words win over a template's
            if targets is not _UNSET:
                task.target_unit_ids = self._check_targets(s, task.issuer, targets or []) or None
            if due_at is not _UNSET:
                self._check_due(due_at, now)
                task.due_at = due_at
            if audio is not _UNSET:
                self._set_audio(task, audio)
            task.updated_at = now
            s.flush()
            return self._view(s, task, actor, now)

    def target_choices(self, issuer_id: int, parent_id: int | None = None) -> list[UnitChoice]:
        """The units directly under ``parent_id`` (default: the issuer's area root) with their workers and
        households, for the "send to whom" picker."""
        with self.db.session() as s:
            issuer = self._person(s, issuer_id)
            root = self._require_issuer(s, issuer)
            parent = parent_id if parent_id is not None else root
            if not in_subtree(s, parent, root):
                raise NotPermitted("outside the area", code="target_not_in_jurisdiction",
                                   params={"unit_id": parent})
            children = s.scalars(select(Unit).where(Unit.parent_id == parent).order_by(Unit.code)).all()
            return [self._choice(s, u) for u in children]

    def _choice(self, s: Session, unit: Unit) -> UnitChoice:
        from storage.models import Household

        ids = subtree_ids(s, unit.id)
        workers = s.scalars(select(Person.id).where(Person.role == Role.liaison_worker, Person.active.is_(True),
                                                    Person.unit_id.in_(ids))).all()
        households = s.scalars(select(Household.id).where(Household.unit_id.in_(ids))).all()
        return UnitChoice(unit.id, unit.code, unit.name, getattr(unit.level, "value", unit.level), len(workers),
                          len(households))

    def reach(self, task_id: int, actor_id: int) -> tuple[int, int]:
        """``(workers, households)`` the draft would reach now (for the preview)."""
        from storage.models import Household

        with self.db.session() as s:
            task = self._task(s, task_id)
            actor = self._person(s, actor_id)
            self._require_owner(task, actor, "send")
            unit_ids: set[int] = set()
            for unit in self._targets(s, task):
                unit_ids |= subtree_ids(s, unit.id)
            workers = s.scalars(select(Person.id).where(Person.role == Role.liaison_worker, Person.active.is_(True),
                                                        Person.unit_id.in_(unit_ids))).all()
            households = s.scalars(select(Household.id).where(Household.liaison_id.in_(workers),
                                                              Household.unit_id.in_(unit_ids))).all()
            return len(workers), len(households)

    def send(self, task_id: int, actor_id: int) -> TaskView:
        """Send a draft: one line per household of every active liaison worker under the targets, one message
        per worker, reminders and the deadline summary scheduled. Refused: no text, no deadline or one in the
        past, nobody to send to."""
        now = self.clock.now()
        with self._tx(task_id) as s:
            task = self._task(s, task_id)
            actor = self._person(s, actor_id)
            self._require_owner(task, actor, "send")
            if task.state != "draft":
                self._transition(s, task, "send", now, actor=actor)  # raises: already sent / ended
            if not (task.text or task.texts or task.audio is not None or task.audio_file_id):
                raise ValidationError("a task needs a text or a voice note", code="empty_task")
            if task.due_at is None:
                raise ValidationError("a task needs a deadline", code="deadline_required")
            self._check_due(task.due_at, now)
            targets = self._check_targets(s, task.issuer, task.target_unit_ids or [])
            units = self._targets(s, task) if not targets else [u for u in (s.get(Unit, i) for i in targets) if u]
            unit_ids: set[int] = set()
            for unit in units:
                unit_ids |= subtree_ids(s, unit.id)
            workers = s.scalars(
                select(Person).where(Person.role == Role.liaison_worker, Person.active.is_(True),
                                     Person.unit_id.in_(unit_ids)).order_by(Person.code)
            ).all()
            if not workers:
                raise ValidationError("no liaison worker under these units", code="no_recipients",
                                      params={"units": [u.name for u in units]})
            households = self._households_of(s, [w.id for w in workers], unit_ids)
            lines = 0
            for worker in workers:
                mine = households[worker.id]
                for hh in mine or [None]:
                    s.add(TaskAnswer(task_id=task.id, worker_id=worker.id, household_id=hh.id if hh else None,
                                     unit_id=hh.unit_id if hh else worker.unit_id, status="pending"))
                    lines += 1
            task.sent_at = now
            task.close_at = task.due_at + self.settings.close_after
            task.next_wakeup_at = self._next_wakeup(task, now)
            self._transition(s, task, "send", now, actor=actor,
                             data={"workers": len(workers), "lines": lines, "units": [u.id for u in units]})
            for worker in workers:
                self._notify(s, now, "task_assigned", worker.id, task, "sent")
            s.flush()
            return self._view(s, task, actor, now)

    def create_and_send(self, issuer_id: int, *, due_at: datetime, text: str | None = None,
                        template: str | None = None, targets: list[int] | None = None,
                        audio: TaskAudio | None = None, language: str | None = None) -> TaskView:
        """Draft and send in one go (the console, the CLI and tests). What can be checked before anything is
        written is checked first — no text, a deadline in the past, a unit outside the issuer's area — so a bad
        request leaves no row behind; anything found later (nobody to send to) cancels the draft it made."""
        self.check_request(issuer_id, due_at=due_at, text=text, template=template, targets=targets, audio=audio)
        draft = self.create_draft(issuer_id, text=text, template=template, audio=audio, language=language)
        try:
            self.update_draft(draft.id, issuer_id, targets=targets, due_at=due_at)
            return self.send(draft.id, issuer_id)
        except Exception:
            self.cancel(draft.id, issuer_id, reason="not sent")
            raise

    def check_request(self, issuer_id: int, *, due_at: datetime | None, text: str | None = None,
                      template: str | None = None, targets: list[int] | None = None,
                      audio: TaskAudio | None = None) -> None:
        """Raise what sending this task would raise for its inputs alone (nothing is written)."""
        if template is not None and self.settings.template(template) is None:
            raise ValidationError(f"no task template {template!r}", code="unknown_template",
                                  params={"template": template})
        if not (self._clean(text) or template or (audio is not None and (audio.content or audio.telegram_file_id))):
            raise ValidationError("a task needs a text or a voice note", code="empty_task")
        if due_at is None:
            raise ValidationError("a task needs a deadline", code="deadline_required")
        self._check_due(due_at, self.clock.now())
        with self.db.session() as s:
            self._check_targets(s, self._person(s, issuer_id), list(targets or []))

    def close(self, task_id: int, actor_id: int) -> TaskView:
        """End a sent task: later answers are refused (the issuer has what they need)."""
        now = self.clock.now()
        with self._tx(task_id) as s:
            task = self._task(s, task_id)
            actor = self._person(s, actor_id)
            self._require_owner(task, actor, "close")
            self._end(s, task, "close", now, actor=actor)
            return self._view(s, task, actor, now)

    def cancel(self, task_id: int, actor_id: int, reason: str | None = None) -> TaskView:
        """Withdraw a draft or a sent task; workers who got it are told not to go on."""
        now = self.clock.now()
        with self._tx(task_id) as s:
            task = self._task(s, task_id)
            actor = self._person(s, actor_id)
            self._require_owner(task, actor, "cancel")
            was_sent = task.state == "sent"
            self._end(s, task, "cancel", now, actor=actor, note=self._clean(reason))
            if was_sent:
                workers = s.scalars(select(TaskAnswer.worker_id).where(TaskAnswer.task_id == task.id).distinct())
                for worker_id in sorted(set(workers)):
                    self._notify(s, now, "task_cancelled", worker_id, task, "cancelled",
                                 {"reason": task_reason(reason)})
            return self._view(s, task, actor, now)

    def _end(self, s: Session, task: Task, trigger: str, now: datetime, *, actor: Person | None,
             note: str | None = None, data: dict[str, Any] | None = None) -> None:
        self._transition(s, task, trigger, now, actor=actor, note=note, data=data)
        task.closed_at = now
        task.next_wakeup_at = None

    # -- checks -------------------------------------------------------------------------------------------

    @staticmethod
    def _clean(text: str | None) -> str | None:
        text = (text or "").strip()
        return text[:MAX_TASK_TEXT] or None

    @staticmethod
    def _check_due(due_at: datetime | None, now: datetime) -> None:
        if due_at is not None and due_at <= now:
            raise ValidationError("the deadline is in the past", code="deadline_past",
                                  params={"due_at": due_at.isoformat()})

    def _check_targets(self, s: Session, issuer: Person, targets: list[int]) -> list[int]:
        root = self._require_issuer(s, issuer)
        out: list[int] = []
        for unit_id in dict.fromkeys(int(t) for t in targets):
            unit = s.get(Unit, unit_id)
            if unit is None:
                raise NotFound(f"no unit {unit_id}", code="unit_not_found", params={"unit_id": unit_id})
            if not in_subtree(s, unit_id, root):
                raise NotPermitted(f"{unit.name} is outside {issuer.name}'s area", code="target_not_in_jurisdiction",
                                   params={"unit_id": unit_id, "unit": unit.name})
            out.append(unit_id)
        if root in out:
            return []  # the whole area is "all of mine"
        return out

    @staticmethod
    def _set_audio(task: Task, audio: TaskAudio | None) -> None:
        if audio is None:
            task.audio = task.audio_mime = task.audio_file_id = None
            return
        if not audio.content and not audio.telegram_file_id:
            raise ValidationError("the voice note is empty", code="empty_task")
        task.audio = audio.content or None
        task.audio_mime = audio.mime_type
        task.audio_file_id = audio.telegram_file_id

    def _next_wakeup(self, task: Task, now: datetime) -> datetime | None:
        """The earliest of: the next reminder still to come, the deadline summary, the automatic close."""
        candidates = [t for t in self._reminder_times(task)[task.reminders_sent:] if t > now]
        if task.summary_sent_at is None and task.due_at is not None:
            candidates.append(task.due_at)
        if task.close_at is not None:
            candidates.append(task.close_at)
        return min(candidates) if candidates else None

    @staticmethod
    def _reminder_times(task: Task) -> list[datetime]:
        """``reminders`` instants spread evenly between sending and the deadline (2: at one and two thirds)."""
        if task.sent_at is None or task.due_at is None or task.reminders <= 0:
            return []
        window = task.due_at - task.sent_at
        return [task.sent_at + window * k / (task.reminders + 1) for k in range(1, task.reminders + 1)]


def task_reason(reason: str | None) -> str | None:
    return (reason or "").strip()[:500] or None


def source_key_for(task_id: int, household_id: int | None, worker_id: int) -> str:
    """The case a line's first "problem" files is keyed by the line, so a retry never files a second one."""
    raw = f"task:{task_id}:{household_id if household_id is not None else f'w{worker_id}'}"
    return raw if len(raw) <= 128 else hashlib.sha256(raw.encode()).hexdigest()

