"""The case workflow domain: lifecycle, routing, deadlines, cases, people, outbox and scheduler.

Imports go one way: ``bot`` → ``workflows`` → ``storage``; nothing here imports Telegram or speech code.
"""

from workflows.cases import AudioIn, CaseService, PendingTranscription
from workflows.errors import (
    ConcurrentUpdate,
    DomainError,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RoutingError,
    ValidationError,
)
from workflows.notifications import Kind
from workflows.outbox import OutboxDispatcher, OutboxItem
from workflows.people import InviteError, PeopleService
from workflows.policy import DeadlinePolicy, Policies
from workflows.routing import Router
from workflows.views import CaseView, PersonRef, PersonView, TimelineEntry

__all__ = [
    "AudioIn",
    "CaseService",
    "CaseView",
    "ConcurrentUpdate",
    "DeadlinePolicy",
    "DomainError",
    "InvalidTransition",
    "InviteError",
    "Kind",
    "NotFound",
    "NotPermitted",
    "OutboxDispatcher",
    "OutboxItem",
    "PendingTranscription",
    "PeopleService",
    "PersonRef",
    "PersonView",
    "Policies",
    "Router",
    "RoutingError",
    "TimelineEntry",
    "ValidationError",
]
