"""Plain, frozen views of tasks for the adapters (never ORM objects; see :mod:`workflows.views`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.views import PersonRef

#: What a worker may answer per line, and the order the buttons come in.
ANSWERS: tuple[str, ...] = ("done", "problem", "unreachable")
STATUSES: tuple[str, ...] = ("pending", *ANSWERS)


@dataclass(frozen=True)
class TaskLine:
    """One household line of a worker's sheet (``household_id`` None: the worker's own line)."""

    line_id: int  # the answer row (a pending prompt names the line by it)
    household_id: int | None
    household_code: str | None
    head_name: str | None
    status: str  # pending | done | problem | unreachable
    note: str | None
    case_id: int | None
    answered_at: datetime | None


@dataclass(frozen=True)
class WorkerSheet:
    """What one liaison worker sees: the task in their language and their lines."""

    task_id: int
    state: str
    text: str
    has_audio: bool
    issuer: PersonRef
    due_at: datetime | None
    template: str | None
    lines: tuple[TaskLine, ...]

    @property
    def open_lines(self) -> int:
        return sum(1 for line in self.lines if line.status == "pending")


@dataclass(frozen=True)
class UnitProgress:
    """Counts for one village or grid (``level``); grids follow their village."""

    unit_id: int
    name: str
    level: str
    total: int
    done: int
    problem: int
    unreachable: int

    @property
    def answered(self) -> int:
        return self.done + self.problem + self.unreachable

    @property
    def pending(self) -> int:
        return self.total - self.answered


@dataclass(frozen=True)
class ProblemLine:
    household_code: str | None
    head_name: str | None
    worker: PersonRef
    note: str | None
    case_id: int | None
    status: str  # problem | unreachable


@dataclass(frozen=True)
class TaskView:
    """The issuer's picture of a task: live completion by village and grid, problems, who has not answered."""

    id: int
    state: str
    issuer: PersonRef
    text: str
    template: str | None
    has_audio: bool
    target_names: tuple[str, ...]
    target_ids: tuple[int, ...]  # empty: the issuer's whole area
    due_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    total: int
    done: int
    problem: int
    unreachable: int
    workers: int
    by_unit: tuple[UnitProgress, ...]
    problems: tuple[ProblemLine, ...]
    not_answered: tuple[PersonRef, ...]  # workers with at least one open line
    allowed_actions: tuple[str, ...]  # send | close | cancel | export (what the viewer may do now)
    min_urgency: str | None = None
    problem_category: str | None = None

    @property
    def answered(self) -> int:
        return self.done + self.problem + self.unreachable

    @property
    def pending(self) -> int:
        return self.total - self.answered


@dataclass(frozen=True)
class TaskSummary:
    """One row of ``/tasks``."""

    id: int
    state: str
    text: str
    due_at: datetime | None
    total: int
    answered: int
    problem: int


@dataclass(frozen=True)
class AnswerResult:
    sheet: WorkerSheet
    changed: bool  # False: the same answer again (a double tap, a redelivered update) — counted once
    case_id: int | None = None  # the case a problem answer became (or was added to)
