"""Small pieces the task and visit services share: a state machine over plain state strings, the audit-trail row,
a transaction whose lost optimistic-lock race becomes :class:`ConcurrentUpdate`, and loading a person.

Why shared: tasks and visits each have their own little lifecycle and event table (like cases), but the
mechanics — a model-less ``transitions.Machine`` that only answers "may this fire, and where to?", an event row
with actor, time, from/to state, note and data, a version-checked transaction — are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from transitions import Machine

from storage.db import Database
from storage.models import Person
from workflows.errors import ConcurrentUpdate, InvalidTransition, NotFound


class Lifecycle:
    """One shared, model-less machine: the row holds its state; nothing here is mutated after construction."""

    def __init__(self, what: str, states: Sequence[str], transitions: Sequence[dict], initial: str, *,
                 ended_code: str, ended: Sequence[str]) -> None:
        self.what = what
        self.states = tuple(states)
        self.transitions = tuple(dict(t) for t in transitions)
        self.ended_code = ended_code  # the error code when acting on an ended row ("task_closed", "visit_closed")
        self.ended = frozenset(ended)
        self.machine = Machine(model=None, states=list(states), transitions=[dict(t) for t in transitions],
                               initial=initial, auto_transitions=False)

    def next_state(self, state: str, trigger: str) -> str:
        found = self.machine.get_transitions(trigger=trigger, source=state) if trigger in self.machine.events else []
        if not found:
            code = self.ended_code if state in self.ended else "invalid_transition"
            raise InvalidTransition(f"cannot {trigger} a {self.what} that is {state}", code=code,
                                    params={"state": state, "action": trigger})
        return found[0].dest

    def can_fire(self, state: str, trigger: str) -> bool:
        try:
            self.next_state(state, trigger)
        except InvalidTransition:
            return False
        return True


def add_event(s: Session, model: type, parent: str, parent_id: int, now: datetime, kind: str, *,
              actor: Person | None = None, from_state: str | None = None, to_state: str | None = None,
              note: str | None = None, data: dict[str, Any] | None = None) -> Any:
    """Append one audit-trail row (``model`` is TaskEvent or VisitEvent, ``parent`` its foreign key column)."""
    event = model(**{parent: parent_id}, at=now, actor_id=actor.id if actor is not None else None, kind=kind,
                  from_state=from_state, to_state=to_state, note=note, data=data or None)
    s.add(event)
    s.flush()  # the id anchors notification dedupe keys
    return event


@contextmanager
def guarded(db: Database, on_conflict: Callable[[], ConcurrentUpdate]) -> Iterator[Session]:
    """A transaction; someone else's change committed in between (a stale version) becomes ``on_conflict()``."""
    try:
        with db.session() as s:
            yield s
    except StaleDataError:
        raise on_conflict() from None


def person(s: Session, person_id: int) -> Person:
    found = s.get(Person, person_id)
    if found is None:
        raise NotFound(f"no person {person_id}", code="person_not_found", params={"person_id": person_id})
    return found
