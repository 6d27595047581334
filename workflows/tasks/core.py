"""The base of :class:`~workflows.tasks.TaskService`: construction, transactions, loading, rights, the audit
trail and the views. The operations (issuing, answers, due work, reads) build on it, one module each.

Rights (checked here on every call; button data is never trusted):
- issuers: grid leaders, township and county commanders, governance operators, admins — inside their area
  (:mod:`workflows.jurisdiction`); only the issuer (or an admin) sends, closes or cancels a task;
- readers: the issuer, admins, and officials whose area holds the issuer's area (those above the issuer);
- answerers: only the liaison worker a line was sent to.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Household, Person, Role, Task, TaskAnswer, TaskEvent, Unit, UnitLevel
from workflows import jurisdiction, records
from workflows.errors import ConcurrentUpdate, NotFound, NotPermitted
from workflows.outbox import enqueue
from workflows.ports import Clock
from workflows.routing import ancestors
from workflows.tasks import lifecycle
from workflows.tasks.settings import TaskSettings
from workflows.tasks.views import ProblemLine, TaskLine, TaskView, UnitProgress, WorkerSheet
from workflows.views import PersonRef

log = logging.getLogger(__name__)

ISSUER_ROLES = frozenset({Role.grid_leader, Role.township_commander, Role.county_commander,
                          Role.governance_operator, Role.admin})


def ref(person: Person) -> PersonRef:
    return PersonRef(person.id, person.name, getattr(person.role, "value", person.role))


class TaskCore:
    def __init__(self, db: Database, clock: Clock, cases: Any, settings: TaskSettings | dict | None = None) -> None:
        """``cases`` is the :class:`~workflows.cases.CaseService` a "problem" answer files its case through."""
        self.db = db
        self.clock = clock
        self.cases = cases
        self.settings = TaskSettings.from_config(settings)

    # -- transactions and loading -------------------------------------------------------------------------

    def _tx(self, task_id: int | None = None) -> AbstractContextManager[Session]:
        def conflict() -> ConcurrentUpdate:
            with self.db.session() as s:
                state = s.scalar(select(Task.state).where(Task.id == task_id)) if task_id is not None else None
            return ConcurrentUpdate(f"someone else changed task #{task_id}", params={"task_id": task_id,
                                                                                     "state": state})

        return records.guarded(self.db, conflict)

    @staticmethod
    def _task(s: Session, task_id: int) -> Task:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFound(f"no task #{task_id}", code="task_not_found", params={"task_id": task_id})
        return task

    _person = staticmethod(records.person)

    # -- rights -------------------------------------------------------------------------------------------

    @staticmethod
    def _require_issuer(s: Session, person: Person) -> int:
        """The issuer's area root; :class:`NotPermitted` for someone who may not send tasks."""
        root = jurisdiction.area_root(s, person) if person.role in ISSUER_ROLES else None
        if root is None:
            raise NotPermitted(f"{person.name} may not send tasks", code="not_a_task_issuer",
                               params={"action": "task"})
        return root

    @staticmethod
    def _is_owner(task: Task, person: Person) -> bool:
        return task.issuer_id == person.id or (person.role == Role.admin and person.active)

    def _can_read(self, s: Session, task: Task, person: Person) -> bool:
        if self._is_owner(task, person):
            return True
        issuer_root = jurisdiction.area_root(s, task.issuer) or task.issuer.unit_id
        return person.role in ISSUER_ROLES and jurisdiction.covers(s, person, issuer_root)

    def _require_owner(self, task: Task, person: Person, action: str) -> None:
        if not self._is_owner(task, person):
            raise NotPermitted(f"{person.name} may not {action} task #{task.id}",
                               params={"task_id": task.id, "action": action})

    def _allowed(self, s: Session, task: Task, person: Person) -> tuple[str, ...]:
        actions: list[str] = []
        if self._is_owner(task, person):
            actions += [a for a in ("send", "close", "cancel") if lifecycle.can_fire(task.state, a)]
        if task.state != "draft" and self._can_read(s, task, person):
            actions.append("export")
        return tuple(actions)

    # -- audit trail and notifications --------------------------------------------------------------------

    @staticmethod
    def _event(s: Session, task: Task, now: datetime, kind: str, **fields: Any) -> TaskEvent:
        return records.add_event(s, TaskEvent, "task_id", task.id, now, kind, **fields)

    def _transition(self, s: Session, task: Task, trigger: str, now: datetime, *, actor: Person | None,
                    note: str | None = None, data: dict[str, Any] | None = None) -> TaskEvent:
        source = task.state
        task.state = lifecycle.next_state(source, trigger)
        task.updated_at = now
        return self._event(s, task, now, trigger, actor=actor, from_state=source, to_state=task.state, note=note,
                           data=data)

    @staticmethod
    def _notify(s: Session, now: datetime, kind: str, recipient_id: int, task: Task, key: str,
                payload: dict[str, Any] | None = None) -> bool:
        return enqueue(s, recipient_id=recipient_id, kind=kind, case_id=None,
                       payload={"task_id": task.id, **(payload or {})},
                       dedupe_key=f"{kind}:{task.id}:{recipient_id}:{key}", now=now)

    # -- views --------------------------------------------------------------------------------------------

    @staticmethod
    def _text_for(task: Task, lang: str | None) -> str:
        texts = task.texts or {}
        return (texts.get(lang or "") or task.text or texts.get("zh") or next(iter(texts.values()), "")
                or ("🎙" if task.audio is not None or task.audio_file_id else ""))

    def _sheet(self, s: Session, task: Task, worker: Person) -> WorkerSheet:
        rows = s.scalars(select(TaskAnswer).where(TaskAnswer.task_id == task.id, TaskAnswer.worker_id == worker.id)
                         .order_by(TaskAnswer.id)).all()
        lang = worker.ui_language or (worker.unit.default_language if worker.unit else None)
        return WorkerSheet(
            task_id=task.id, state=task.state, text=self._text_for(task, lang),
            has_audio=task.audio is not None or bool(task.audio_file_id), issuer=ref(task.issuer),
            due_at=task.due_at, template=task.template,
            lines=tuple(self._line(r) for r in rows),
        )

    @staticmethod
    def _line(row: TaskAnswer) -> TaskLine:
        hh = row.household
        return TaskLine(line_id=row.id, household_id=row.household_id, household_code=hh.code if hh else None,
                        head_name=hh.head_name if hh else None, status=row.status, note=row.note,
                        case_id=row.case_id, answered_at=row.answered_at)

    def _targets(self, s: Session, task: Task) -> list[Unit]:
        ids = task.target_unit_ids or []
        if not ids:
            root = jurisdiction.area_root(s, task.issuer)
            ids = [root] if root is not None else []
        return [u for u in (s.get(Unit, i) for i in ids) if u is not None]

    def _view(self, s: Session, task: Task, viewer: Person, now: datetime) -> TaskView:
        rows = s.execute(
            select(TaskAnswer.status, TaskAnswer.unit_id, TaskAnswer.worker_id)
            .where(TaskAnswer.task_id == task.id)
        ).all()
        status = Counter(r.status for r in rows)
        by_grid: dict[int, Counter] = {}
        for r in rows:
            by_grid.setdefault(r.unit_id, Counter())[r.status] += 1
        progress = self._unit_progress(s, by_grid)
        pending_workers = sorted({r.worker_id for r in rows if r.status == "pending"})
        not_answered = tuple(ref(p) for p in (s.get(Person, i) for i in pending_workers) if p is not None)
        problem_rows = s.scalars(
            select(TaskAnswer).where(TaskAnswer.task_id == task.id,
                                     TaskAnswer.status.in_(("problem", "unreachable")))
            .order_by(TaskAnswer.status, TaskAnswer.id)
        ).all()
        problems = tuple(
            ProblemLine(household_code=r.household.code if r.household else None,
                        head_name=r.household.head_name if r.household else None, worker=ref(r.worker),
                        note=r.note, case_id=r.case_id, status=r.status)
            for r in problem_rows
        )
        lang = viewer.ui_language or task.language
        return TaskView(
            id=task.id, state=task.state, issuer=ref(task.issuer), text=self._text_for(task, lang),
            template=task.template, has_audio=task.audio is not None or bool(task.audio_file_id),
            target_names=tuple(u.name for u in self._targets(s, task)),
            target_ids=tuple(task.target_unit_ids or ()), due_at=task.due_at,
            created_at=task.created_at, sent_at=task.sent_at, closed_at=task.closed_at,
            overdue=task.state == "sent" and task.due_at is not None and task.due_at <= now and status["pending"] > 0,
            total=len(rows), done=status["done"], problem=status["problem"], unreachable=status["unreachable"],
            workers=len({r.worker_id for r in rows}), by_unit=progress, problems=problems,
            not_answered=not_answered, allowed_actions=self._allowed(s, task, viewer),
            min_urgency=task.min_urgency, problem_category=task.problem_category,
        )

    @staticmethod
    def _unit_progress(s: Session, by_grid: dict[int, Counter]) -> tuple[UnitProgress, ...]:
        """Villages (with their totals) each followed by their grids, in code order."""
        villages: dict[int, tuple[Unit, Counter]] = {}
        grids: dict[int, list[tuple[Unit, Counter]]] = {}
        for unit_id, counts in by_grid.items():
            unit = s.get(Unit, unit_id)
            if unit is None:
                continue
            village = next((u for u in ancestors(s, unit_id) if u.level == UnitLevel.village), unit)
            total = villages.setdefault(village.id, (village, Counter()))[1]
            total.update(counts)
            if unit.id != village.id:
                grids.setdefault(village.id, []).append((unit, counts))

        def row(unit: Unit, c: Counter) -> UnitProgress:
            return UnitProgress(unit.id, unit.name, getattr(unit.level, "value", unit.level), sum(c.values()),
                                c["done"], c["problem"], c["unreachable"])

        out: list[UnitProgress] = []
        for vid, (village, counts) in sorted(villages.items(), key=lambda kv: kv[1][0].code):
            out.append(row(village, counts))
            out += [row(g, c) for g, c in sorted(grids.get(vid, []), key=lambda gc: gc[0].code)]
        return tuple(out)

    @staticmethod
    def _households_of(s: Session, worker_ids: list[int], unit_ids: set[int]) -> dict[int, list[Household]]:
        out: dict[int, list[Household]] = {w: [] for w in worker_ids}
        if not worker_ids:
            return out
        for hh in s.scalars(select(Household).where(Household.liaison_id.in_(worker_ids)).order_by(Household.code)):
            if hh.unit_id in unit_ids:
                out[hh.liaison_id].append(hh)  # type: ignore[index]
        return out
