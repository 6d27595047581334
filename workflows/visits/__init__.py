"""The six must-visits (六必访): a cadre owes a family a visit when a child drops out of school, a young person
sits idle at home, illness or disaster pushes the family into poverty, an elder dies, someone is in serious
distress, and at the major festivals. See :mod:`workflows.visits.service`."""

from __future__ import annotations

from workflows.visits.service import KIND_WORDS, LEDGER_COLUMNS, STATE_WORDS, VisitMedia, VisitService
from workflows.visits.settings import KINDS, LIFE_EVENTS, Festival, VisitSettings
from workflows.visits.views import VISIT_ACTIONS, VisitEntry, VisitView

__all__ = [
    "KINDS",
    "KIND_WORDS",
    "LEDGER_COLUMNS",
    "LIFE_EVENTS",
    "STATE_WORDS",
    "VISIT_ACTIONS",
    "Festival",
    "VisitEntry",
    "VisitMedia",
    "VisitService",
    "VisitSettings",
    "VisitView",
]
