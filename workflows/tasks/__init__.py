"""Tasks sent down the hierarchy (任务下达) and answered household by household.

An official (grid leader and up; the governance centre for the whole county) sends a task to every liaison
worker in their area or in some of its villages/grids; each worker answers per household (✅ done, ⚠️ problem →
a case at once, 🚫 not reachable); workers who have not answered are reminded on the same durable scheduler as
cases; the issuer sees completion by village and grid, gets a summary at the deadline and exports the answers.

The package, one module per concern, each a layer over the one before (like :mod:`workflows.cases`):
:mod:`~workflows.tasks.core` (transactions, rights, audit trail, views) → :mod:`~workflows.tasks.issuing`
(drafts, send, close, cancel) → :mod:`~workflows.tasks.answers` → :mod:`~workflows.tasks.due` (scheduler) →
:mod:`~workflows.tasks.queries` (reads, export). :mod:`~workflows.tasks.lifecycle` is the state machine,
:mod:`~workflows.tasks.settings` the ``[tasks]`` config and templates.
"""

from __future__ import annotations

from workflows.tasks.issuing import TaskAudio, UnitChoice
from workflows.tasks.queries import ANSWER_WORDS, EXPORT_COLUMNS, TaskQueries
from workflows.tasks.settings import TaskSettings, Template
from workflows.tasks.views import (
    ANSWERS,
    AnswerResult,
    TaskLine,
    TaskSummary,
    TaskView,
    UnitProgress,
    WorkerSheet,
)

__all__ = [
    "ANSWERS",
    "ANSWER_WORDS",
    "EXPORT_COLUMNS",
    "AnswerResult",
    "TaskAudio",
    "TaskLine",
    "TaskService",
    "TaskSettings",
    "TaskSummary",
    "TaskView",
    "Template",
    "UnitChoice",
    "UnitProgress",
    "WorkerSheet",
]


class TaskService(TaskQueries):
    """Tasks drafted, sent, answered, reminded, summarized, closed and read. See the package docstring."""
