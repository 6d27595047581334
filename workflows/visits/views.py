"""Plain, frozen views of visits (never ORM objects; see :mod:`workflows.views`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.households import HouseholdView
from workflows.views import PersonRef

#: What the owner (or a supervisor) may do to an open visit, in button order.
VISIT_ACTIONS: tuple[str, ...] = ("complete", "hand_on", "cancel")


@dataclass(frozen=True)
class VisitView:
    id: int
    kind: str  # dropout | idle_youth | illness_poverty | death | troubled_mind | festival
    state: str  # open | done | cancelled
    household: HouseholdView | None
    unit_id: int
    unit_name: str
    unit_path: tuple[str, ...]
    owner: PersonRef | None
    due_at: datetime
    overdue: bool
    created_at: datetime
    escalation_level: int
    reminders_sent: int
    case_id: int | None  # the report that flagged it
    case_text: str | None  # a preview of that report
    festival: str | None
    festival_name: str | None
    note: str | None
    done_at: datetime | None
    done_by: PersonRef | None
    attachment_kinds: tuple[str, ...]  # voice | photo, in order
    allowed_actions: tuple[str, ...]


@dataclass(frozen=True)
class VisitEntry:
    at: datetime
    kind: str
    actor_name: str | None
    note: str | None
    data: dict
