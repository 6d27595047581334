"""The visit lifecycle: one shared, model-less ``transitions`` machine (:class:`workflows.records.Lifecycle`).

open → done (complete: the owner or a supervisor, with a note, a voice note or a photo)
open → open (hand_on: to another official; escalate: automatically when overdue, one level up)
open → cancelled (cancel: with a reason, e.g. the family moved away)
"""

from __future__ import annotations

from workflows.records import Lifecycle

STATES: tuple[str, ...] = ("open", "done", "cancelled")
TRANSITIONS: tuple[dict, ...] = (
    {"trigger": "complete", "source": "open", "dest": "done"},
    {"trigger": "hand_on", "source": "open", "dest": "open"},
    {"trigger": "escalate", "source": "open", "dest": "open"},
    {"trigger": "cancel", "source": "open", "dest": "cancelled"},
)
LIFECYCLE = Lifecycle("visit", STATES, TRANSITIONS, "open", ended_code="visit_closed", ended=("done", "cancelled"))
next_state = LIFECYCLE.next_state
