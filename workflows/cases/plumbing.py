"""The base of :class:`~workflows.cases.CaseService`: construction, and the steps every operation uses.

- ``_tx`` / ``_act``: one transaction per step; a lost optimistic-lock race becomes ``ConcurrentUpdate``, and
  ``_act`` wraps load → permission check → apply → view for every button.
- ``_event`` / ``_transition``: the audit trail (and :data:`EVENT_KIND`, the event written per trigger).
- deadlines: the policy copied onto the case, fresh deadlines, the next wake-up.
- hand-overs shared by reporting, actions and due work: ``_hand_to``, ``_first_assignment``, ``_escalate``,
  ``_alert_if_urgent``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from storage.db import Database
from storage.models import Case, CaseEvent, CaseState, Person, Role, Urgency
from workflows import lifecycle, permissions
from workflows.durations import parse_duration
from workflows.errors import ConcurrentUpdate, NotFound
from workflows.notifications import Kind, iso, mark_fresh, notify, person_ref
from workflows.orgnames import OrgNames
from workflows.outbox import enqueue
from workflows.policy import DeadlinePolicy, Policies, fresh_deadlines, next_wakeup
from workflows.ports import Clock
from workflows.routing import (
    Router,
    Skipped,
    active_admins,
    unreachable_dedupe_key,
    unreachable_marker,
    unreachable_why,
)
from workflows.triage.base import DEFAULT_CATEGORIES, Classifier
from workflows.views import CaseView, case_view

log = logging.getLogger(__name__)

# Event kinds written for each transition trigger.
EVENT_KIND = {
    "assign": "assigned",
    "accept": "accepted",
    "resolve": "resolved",
    "confirm": "closed",
    "auto_close": "closed",
    "reopen": "reopened",
    "escalate": "escalated",
    "reassign": "reassigned",
    "reject": "rejected",
    "mark_duplicate": "duplicate",
}


def _v(x: Any) -> Any:
    return getattr(x, "value", x)


def text_source(case: Case) -> str:
    """"speech" when the case's text is (or starts with) a transcript, else "text": triage then also matches
    its cues by sound, so a misheard keyword (羊圈 heard as 洋剑) still counts."""
    return "speech" if case.transcript_status is not None else "text"


class CaseCore:
    """Construction and the shared steps; no public operation of its own except ``case_policy``."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        classifier: Classifier,
        policies: Policies | Mapping[str, Any] | None = None,
        routing_config: Router | Mapping[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.classifier = classifier
        use_names = getattr(classifier, "use_names", None)
        if callable(use_names):  # triage masks the org tree's names before it builds features
            use_names(OrgNames(db).names)
        # What a category may be (button data is checked against this): the classifier's own list when it
        # has one (the rules classifier includes categories added in [triage]), else the shipped list.
        self.categories: tuple[str, ...] = tuple(getattr(classifier, "categories", None) or DEFAULT_CATEGORIES)
        self.policies = policies if isinstance(policies, Policies) else Policies.from_config(policies)
        self.router = Router.from_config(routing_config)
        # A photo or place sent without words waits this long for the answer to "what happened?" before the
        # scheduler routes it anyway, flagged for a person to look at ([routing] media_words_wait).
        wait = routing_config.get("media_words_wait") if isinstance(routing_config, Mapping) else None
        self.media_wait: timedelta = parse_duration(wait) if wait else timedelta(minutes=10)
        # Called inside the triage transaction when triage flags a life event (the six must-visits):
        # ``listener(session, case, life_event, now)``; the visits service registers itself here.
        self.life_event_listeners: list[Callable[[Session, Case, str, datetime], Any]] = []

    @contextmanager
    def _tx(self, case_id: int | None = None) -> Iterator[Session]:
        """A transaction; a lost optimistic-lock race becomes :class:`ConcurrentUpdate` with the new state."""
        try:
            with self.db.session() as s:
                yield s
        except StaleDataError:
            raise self._concurrent(case_id) from None

    def _concurrent(self, case_id: int | None) -> ConcurrentUpdate:
        state = None
        if case_id is not None:
            with self.db.session() as s:
                state = s.scalar(select(Case.state).where(Case.id == case_id))
        state = _v(state)
        return ConcurrentUpdate(
            f"someone else already acted on case #{case_id}; it is now {state}",
            params={"case_id": case_id, "state": state},
        )

    @staticmethod
    def _case(s: Session, case_id: int) -> Case:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case #{case_id}", code="case_not_found", params={"case_id": case_id})
        return case

    @staticmethod
    def _person(s: Session, person_id: int) -> Person:
        person = s.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person {person_id}", code="person_not_found", params={"person_id": person_id})
        return person

    def _view(self, s: Session, case: Case, viewer: Person | None, now: datetime) -> CaseView:
        allowed = permissions.allowed_actions(s, self.router, case, viewer) if viewer is not None else []
        return case_view(s, case, now=now, allowed=allowed)

    def _act(self, case_id: int, actor_id: int, action: str, apply: Callable[[Session, Case, Person, datetime], None]) -> CaseView:
        """Load, check permission and state, apply, and return the case as the actor now sees it."""
        now = self.clock.now()
        with self._tx(case_id) as s:
            case = self._case(s, case_id)
            actor = self._person(s, actor_id)
            permissions.require(s, self.router, case, actor, action)
            apply(s, case, actor, now)
            case.updated_at = now
            s.flush()
            return self._view(s, case, actor, now)

    @staticmethod
    def _event(
        s: Session,
        case: Case,
        now: datetime,
        kind: str,
        *,
        actor: Person | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        event = CaseEvent(
            case_id=case.id,
            at=now,
            actor_id=actor.id if actor is not None else None,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            note=note,
            data=data or None,
        )
        s.add(event)
        s.flush()  # event id anchors notification dedupe keys; also flushes the case (version check)
        mark_fresh(s, event)
        return event

    def _transition(
        self,
        s: Session,
        case: Case,
        trigger: str,
        now: datetime,
        *,
        actor: Person | None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        source = _v(case.state)
        dest = lifecycle.next_state(source, trigger)
        case.state = CaseState(dest)
        case.updated_at = now
        return self._event(
            s, case, now, EVENT_KIND[trigger], actor=actor, from_state=source, to_state=dest, note=note, data=data
        )

    def case_policy(self, case: Case) -> DeadlinePolicy:
        """The copy stored on the case; config only for a case that never had one."""
        if case.policy:
            return DeadlinePolicy.from_json(case.policy)
        return self.policies.for_urgency(case.urgency)

    def _copy_policy(self, case: Case) -> DeadlinePolicy:
        policy = self.policies.for_urgency(case.urgency)
        case.policy = {"urgency": _v(case.urgency), **policy.to_json()}
        return policy

    @staticmethod
    def _set_fresh_deadlines(case: Case, policy: DeadlinePolicy, now: datetime) -> None:
        d = fresh_deadlines(policy, now)
        case.ack_due_at, case.resolve_due_at, case.next_reminder_at = d.ack_due_at, d.resolve_due_at, d.next_reminder_at
        case.autoclose_at = None

    def _rearm(self, case: Case, now: datetime) -> None:
        """Recompute the next wake-up of an active case from its deadlines (after accept, triage change ...)."""
        if _v(case.state) not in lifecycle.ACTIVE_STATES:
            case.next_reminder_at = None
            return
        case.next_reminder_at = next_wakeup(
            self.case_policy(case),
            now,
            accepted=_v(case.state) == "accepted",
            ack_due=case.ack_due_at,
            resolve_due=case.resolve_due_at,
        )

    def _redeadline(self, case: Case, now: datetime) -> None:
        """New urgency: copy its policy and restart the clock from now (keeping an accepted case accepted)."""
        policy = self._copy_policy(case)
        d = fresh_deadlines(policy, now)
        case.ack_due_at, case.resolve_due_at = d.ack_due_at, d.resolve_due_at
        self._rearm(case, now)

    def _hand_to(
        self,
        s: Session,
        case: Case,
        owner: Person,
        trigger: str,
        now: datetime,
        *,
        actor: Person | None,
        fresh_policy: bool,
        note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> CaseEvent:
        """Give the case to ``owner`` via ``trigger`` (assign/escalate/reassign/reopen) with fresh deadlines."""
        previous = case.owner
        case.owner = owner
        case.owner_id = owner.id
        policy = self._copy_policy(case) if (fresh_policy or not case.policy) else self.case_policy(case)
        self._set_fresh_deadlines(case, policy, now)
        payload = {
            "owner_id": owner.id,
            "owner_name": owner.name,
            "previous_owner_id": previous.id if previous is not None else None,
            "ack_due_at": iso(case.ack_due_at),
            "resolve_due_at": iso(case.resolve_due_at),
            **(data or {}),
        }
        return self._transition(s, case, trigger, now, actor=actor, note=note, data=payload)

    def _escalate(
        self, s: Session, case: Case, target: Person, now: datetime, *, actor: Person | None, reason: str,
        note: str | None = None,
    ) -> CaseEvent:
        old = case.owner
        case.escalation_level = (case.escalation_level or 0) + 1
        case.accepted_at = None
        event = self._hand_to(
            s, case, target, "escalate", now, actor=actor, fresh_policy=False, note=note,
            data={"reason": reason, "level": case.escalation_level},
        )
        # the reporter hears "now handled by X, because ..." once, at the first move up; further steps up the
        # chain are the officials' business (the worker sees who has it in /my) — one message per real change
        reporter = [case.reporter_id] if case.escalation_level == 1 else []
        notify(
            s, now=now, kind=Kind.case_escalated, recipients=[*reporter, old, target], case=case,
            event=event, card=True,
            payload={"reason": reason, "note": note, "from_owner": person_ref(old), "to_owner": person_ref(target),
                     "by": person_ref(actor), "automatic": actor is None},
            exclude=[actor.id] if actor is not None else (),
        )
        return event

    def _note_skipped(self, s: Session, case: Case, skipped: list[Skipped], now: datetime) -> None:
        """Routing or escalation passed over people a notice cannot reach: say so on the timeline (one
        ``skipped_unreachable`` event naming them and why), and tell the admins and the county centre — once
        per unreachable person (and per spell of being unreachable), never once per case."""
        if not skipped:
            return
        passed = [x for x in skipped if not x.fallback]
        if passed:
            self._event(s, case, now, "skipped_unreachable",
                        data={"skipped": [x.to_json() for x in passed],
                              "names": "、".join(x.name for x in passed),
                              "owner_name": case.owner.name if case.owner is not None else None})
        for x in skipped:
            if x.fallback:  # nobody reachable was left: the case went to them anyway
                self._event(s, case, now, "unreachable_stays", data={"owner_name": x.name, "why": x.why})
        for item in skipped:
            person = s.get(Person, item.person_id)
            if person is None:
                continue
            tell_unreachable(s, person, case, now, owner=case.owner, fallback=item.fallback)

    def _alert_if_urgent(self, s: Session, case: Case, event: CaseEvent, now: datetime) -> None:
        if case.urgency != Urgency.urgent:
            return
        recipients = self.router.urgent_alert_recipients(s, case.unit_id)
        if self.router.skip_unreachable:  # an alert that cannot arrive: the admins hear once per person
            for person in recipients:
                if person.id != case.owner_id and unreachable_why(person) is not None:
                    tell_unreachable(s, person, case, now, owner=case.owner)
        notify(
            s,
            now=now,
            kind=Kind.urgent_alert,
            recipients=recipients,
            case=case,
            event=event,
            card=True,
            exclude=[case.owner_id],
        )

    def _life_event(self, s: Session, case: Case, life_event: str | None, now: datetime) -> None:
        """Tell the listeners (visits) about a life event in the report. A listener's failure is logged and
        rolled back to a savepoint: it must never cost the report its routing."""
        if not life_event:
            return
        for listener in self.life_event_listeners:
            try:
                with s.begin_nested():
                    listener(s, case, life_event, now)
            except Exception:  # noqa: BLE001 - the case is routed regardless; the log names the failure
                log.exception("case %s: life event %r listener failed", case.id, life_event)

    def _first_assignment(self, s: Session, case: Case, owner: Person, now: datetime, actor: Person | None) -> None:
        event = self._hand_to(s, case, owner, "assign", now, actor=actor, fresh_policy=True)
        notify(s, now=now, kind=Kind.case_assigned, recipients=[owner], case=case, event=event, card=True)
        # the receipt names everyone an urgent case reached at once (the county centre *and* the township
        # commander), and the deadline the worker can hold them to
        alerted = (self.router.urgent_alert_recipients(s, case.unit_id) if case.urgency == Urgency.urgent else [])
        notify(
            s,
            now=now,
            kind=Kind.case_received,
            recipients=[case.reporter_id],
            case=case,
            event=event,
            payload={
                "urgency": _v(case.urgency),
                "category": case.category,
                "owner": person_ref(owner),
                "needs_review": bool(case.needs_review),
                "ack_due_at": iso(case.ack_due_at),
                "resolve_due_at": iso(case.resolve_due_at),
                "alerted": [person_ref(p) for p in alerted if p.id != owner.id],
            },
        )
        self._alert_if_urgent(s, case, event, now)


def tell_unreachable(s: Session, person: Person, case: Case | None, now: datetime, *, owner: Person | None = None,
                     fallback: bool = False) -> int:
    """Queue ``official_unreachable`` about ``person`` to every active admin and the county centre
    (governance operators), deduplicated per person and spell, so the twentieth case that skips them
    sends nothing new. Returns how many notices were queued."""
    recipients = active_admins(s) + list(s.scalars(
        select(Person).where(Person.role == Role.governance_operator, Person.active.is_(True)).order_by(Person.id)))
    why = unreachable_why(person) or "not_registered"
    payload = {
        "case_id": case.id if case is not None else None,
        "person": person_ref(person),
        "code": person.code,
        "unit_name": person.unit.name if person.unit is not None else None,
        "phone": person.phone,
        "why": why,
        "owner": person_ref(owner),
        "fallback": fallback,
    }
    queued = 0
    for r in recipients:
        if r.id == person.id:
            continue
        queued += enqueue(s, recipient_id=r.id, kind=Kind.official_unreachable.value,
                          case_id=case.id if case is not None else None, payload=payload,
                          dedupe_key=unreachable_dedupe_key(person.id, unreachable_marker(person), r.id), now=now)
    return queued
