"""Build the service objects from a :class:`~runtime.config.Config`, in one place.

For the bot engineer: ``bot.app.run(config)`` should call ``build_services(config)`` too, so the CLI and the
bot construct the domain identically (same policies, routing, classifier, clock). The CLI passes a fake
clock in tests; the bot uses the default system clock.

Why one place: the domain's constructors take plain values (``workflows`` never sees ``Config``); this module
is the only one that knows how config sections map onto them, so a new setting is wired once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.config import Config, ConfigError
from storage.db import Database
from workflows.policy import Policies
from workflows.ports import Clock, SystemClock

if TYPE_CHECKING:  # the domain services are imported lazily: the CLI's storage commands need none of them
    from workflows.cases import CaseService
    from workflows.people import PeopleService
    from workflows.tasks import TaskService
    from workflows.triage.base import Classifier
    from workflows.visits import VisitService


@dataclass
class Services:
    config: Config
    db: Database
    clock: Clock
    classifier: Classifier
    policies: Policies
    routing: Mapping[str, Any]
    case_service: CaseService
    people_service: PeopleService
    task_service: TaskService
    visit_service: VisitService

    def due_work(self, clock: Clock | None = None) -> Any:
        """``workflows.scheduler.DueWork`` over these services (run_once() processes what is due now): cases,
        tasks and visits, and the festival visits once an hour."""
        from workflows.scheduler import DueWork

        return DueWork(self.db, clock or self.clock, self.case_service,
                       sources=[self.task_service, self.visit_service],
                       hourly=[self.visit_service.generate_festivals])

    def close(self) -> None:
        self.db.dispose()


def open_database(config: Config, *, migrate: bool = True) -> Database:
    """The configured database, migrated to the newest schema (idempotent, so a fresh machine just works)."""
    db = Database(config.database.url)
    if migrate:
        db.migrate()
    return db


def build_policies(config: Config) -> Policies:
    try:
        return Policies.from_config(config.policy)
    except ValueError as exc:  # load_config validated it already; this guards hand-built configs
        raise ConfigError(f"policy.{exc}") from None


def routing_for(config: Config) -> dict[str, Any]:
    """``[routing]`` with ``skip_unreachable = "auto"`` settled: on when Telegram is on (a bot token), since
    then a chat is how an official hears about a case; off for the engine alone (CLI, console), where nobody
    has a chat and passing over everyone would send every case to the top."""
    routing = dict(config.routing)
    skip = routing.get("skip_unreachable", "auto")
    routing["skip_unreachable"] = bool(config.bot.token) if skip == "auto" else bool(skip)
    return routing


def build_services(config: Config, *, clock: Clock | None = None, db: Database | None = None) -> Services:
    """Everything the CLI and the bot need. ``db`` defaults to :func:`open_database` (migrated)."""
    from workflows.cases import CaseService
    from workflows.people import PeopleService
    from workflows.tasks import TaskService
    from workflows.triage import default_classifier
    from workflows.visits import VisitService

    clock = clock or SystemClock()
    db = db or open_database(config)
    policies = build_policies(config)
    classifier = default_classifier(config.triage)
    case_service = CaseService(db, clock, classifier, policies, routing_for(config))
    people_service = PeopleService(db, clock)
    visit_service = VisitService(db, clock, case_service.router, config.visits)
    case_service.life_event_listeners.append(visit_service.case_triaged)  # the six must-visits
    task_service = TaskService(db, clock, case_service, config.tasks)
    return Services(
        config=config,
        db=db,
        clock=clock,
        classifier=classifier,
        policies=policies,
        routing=config.routing,
        case_service=case_service,
        people_service=people_service,
        task_service=task_service,
        visit_service=visit_service,
    )
