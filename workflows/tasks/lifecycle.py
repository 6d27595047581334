"""The task lifecycle: one shared, model-less ``transitions`` machine (:class:`workflows.records.Lifecycle`; the
task row holds its ``state``).

draft → sent (send) → closed (close: the issuer, or automatically after the deadline)
draft | sent → cancelled (cancel: the issuer; workers who got it are told)
"""

from __future__ import annotations

from workflows.records import Lifecycle

STATES: tuple[str, ...] = ("draft", "sent", "closed", "cancelled")
TRANSITIONS: tuple[dict, ...] = (
    {"trigger": "send", "source": "draft", "dest": "sent"},
    {"trigger": "close", "source": "sent", "dest": "closed"},
    {"trigger": "cancel", "source": ["draft", "sent"], "dest": "cancelled"},
)
LIFECYCLE = Lifecycle("task", STATES, TRANSITIONS, "draft", ended_code="task_closed", ended=("closed", "cancelled"))
next_state = LIFECYCLE.next_state
can_fire = LIFECYCLE.can_fire
