"""The case workflow domain: lifecycle, routing, deadlines, cases, people, outbox and scheduler.

Imports go one way: ``bot`` → ``workflows`` → ``storage``; nothing here imports Telegram or speech code.
The names below are exported lazily (PEP 562), so ``import workflows.durations`` stays light and cannot
create import cycles through this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AudioIn": "workflows.cases",
    "CaseService": "workflows.cases",
    "PendingTranscription": "workflows.cases",
    "ConcurrentUpdate": "workflows.errors",
    "DomainError": "workflows.errors",
    "InvalidTransition": "workflows.errors",
    "NotFound": "workflows.errors",
    "NotPermitted": "workflows.errors",
    "RoutingError": "workflows.errors",
    "ValidationError": "workflows.errors",
    "Kind": "workflows.notifications",
    "OutboxDispatcher": "workflows.outbox",
    "OutboxItem": "workflows.outbox",
    "InviteError": "workflows.people",
    "PeopleService": "workflows.people",
    "DeadlinePolicy": "workflows.policy",
    "Policies": "workflows.policy",
    "Router": "workflows.routing",
    "CaseScheduler": "workflows.scheduler",
    "DueWork": "workflows.scheduler",
    "CaseView": "workflows.views",
    "PersonRef": "workflows.views",
    "PersonView": "workflows.views",
    "TimelineEntry": "workflows.views",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workflows' has no attribute {name!r}")
    return getattr(import_module(module), name)
