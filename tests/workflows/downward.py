"""Shared set-up for the task, visit and household tests: the sample county plus a third village in 扎西乡
(``tests/data/org-third-village``, imported on top, as a county would add one), and the services wired like
``runtime.wiring`` does (visits listen to the case service's life events)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.models import Notification
from storage.orgtree import import_org_dir
from tests.conftest import SampleOrg, load_sample_org
from workflows.scheduler import DueWork
from workflows.tasks import TaskService
from workflows.visits import VisitService

THIRD_VILLAGE = Path(__file__).resolve().parents[1] / "data" / "org-third-village"


def add_third_village(db, org: SampleOrg | None = None) -> SampleOrg:
    """Import the third village on top of the sample county; the ids of everything, by code."""
    with db.session() as s:
        import_org_dir(s, THIRD_VILLAGE)
    return load_sample_org(db)  # re-importing the sample changes nothing; it returns every code's id


@dataclass
class Down:
    world: object  # tests.workflows.conftest.World
    tasks: TaskService
    visits: VisitService

    def __getattr__(self, name: str):
        return getattr(self.world, name)

    def due(self) -> DueWork:
        return DueWork(self.world.db, self.world.clock, self.world.cases, sources=[self.tasks, self.visits],
                       hourly=[self.visits.generate_festivals])

    def task_notes(self, kind: str, task_id: int | None = None) -> list[Notification]:
        return [n for n in self.world.notes(kind) if task_id is None or n.payload.get("task_id") == task_id]

    def visit_notes(self, kind: str, visit_id: int | None = None) -> list[Notification]:
        return [n for n in self.world.notes(kind) if visit_id is None or n.payload.get("visit_id") == visit_id]


def build(world, *, task_config: dict | None = None, visit_config: dict | None = None) -> Down:
    world.org = add_third_village(world.db, world.org)
    visits = VisitService(world.db, world.clock, world.cases.router, visit_config)
    world.cases.life_event_listeners.append(visits.case_triaged)
    tasks = TaskService(world.db, world.clock, world.cases, task_config)
    return Down(world, tasks, visits)
