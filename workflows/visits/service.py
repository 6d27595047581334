"""The six must-visits (六必访): created from life events in reports and from the festival calendar, owned by
the household's responsible cadre, reminded, escalated when overdue (like a case), recorded when done.

Why visits are their own rows and not cases: a visit is owed *by* a cadre *to* a family, whatever the report's
urgency; it has no reporter waiting for a fix, and its only outcome is "visited" with a note. It reuses what
cases have: the outbox, the durable scheduler, the tree walk for owners and escalation, a ``transitions``
machine and an event table as audit trail, the same area rules.

Rights: the owner acts; a chain official above the owner whose area holds the visit (the county commander: the
whole county) may do the same; admins too. Officials whose area holds the visit see it.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session, selectinload

from storage.db import Database
from storage.models import Case, CaseEvent, Household, Person, Role, Visit, VisitAttachment, VisitEvent
from workflows import jurisdiction, records
from workflows.errors import ConcurrentUpdate, InvalidTransition, NotFound, NotPermitted, ValidationError
from workflows.households import household_view, responsible_cadre
from workflows.outbox import enqueue
from workflows.ports import Clock
from workflows.routing import CHAIN_RANK, CHAIN_ROLES, OWNER_ROLE_AT_LEVEL, Router, active_admins, ancestors
from workflows.views import PersonRef
from workflows.visits import lifecycle
from workflows.visits.settings import LIFE_EVENTS, VisitSettings
from workflows.visits.views import VISIT_ACTIONS, VisitEntry, VisitView

log = logging.getLogger(__name__)

MAX_NOTE = 2000
# An operator or admin owning a visit escalates to the county commander (ranked like a township official).
_RANK_OFF_CHAIN = {Role.governance_operator: 2, Role.admin: 2}


@dataclass(frozen=True)
class VisitMedia:
    """A voice note or photo recorded with a visit."""

    kind: str  # voice | photo
    content: bytes
    mime_type: str | None = None
    telegram_file_id: str | None = None


def _ref(person: Person | None) -> PersonRef | None:
    return PersonRef(person.id, person.name, getattr(person.role, "value", person.role)) if person else None


def _rank(person: Person | None) -> int:
    if person is None:
        return 0
    return CHAIN_RANK.get(person.role, _RANK_OFF_CHAIN.get(person.role, 0))


class VisitService:
    def __init__(self, db: Database, clock: Clock, router: Router | dict[str, Any] | None = None,
                 settings: VisitSettings | dict[str, Any] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.router = Router.from_config(router)
        self.settings = VisitSettings.from_config(settings)

    # -- plumbing -----------------------------------------------------------------------------------------

    def _tx(self, visit_id: int | None = None) -> AbstractContextManager[Session]:
        return records.guarded(self.db, lambda: ConcurrentUpdate(f"someone else changed visit #{visit_id}",
                                                                 params={"visit_id": visit_id}))

    @staticmethod
    def _visit(s: Session, visit_id: int) -> Visit:
        visit = s.get(Visit, visit_id)
        if visit is None:
            raise NotFound(f"no visit #{visit_id}", code="visit_not_found", params={"visit_id": visit_id})
        return visit

    _person = staticmethod(records.person)

    @staticmethod
    def _event(s: Session, visit: Visit, now: datetime, kind: str, **fields: Any) -> VisitEvent:
        return records.add_event(s, VisitEvent, "visit_id", visit.id, now, kind, **fields)

    def _transition(self, s: Session, visit: Visit, trigger: str, now: datetime, *, actor: Person | None,
                    note: str | None = None, data: dict[str, Any] | None = None) -> VisitEvent:
        source = visit.state
        visit.state = lifecycle.next_state(source, trigger)
        visit.updated_at = now
        return self._event(s, visit, now, trigger, actor=actor, from_state=source, to_state=visit.state, note=note,
                           data=data)

    @staticmethod
    def _notify(s: Session, now: datetime, kind: str, recipient: Person | int | None, visit: Visit, anchor: Any,
                payload: dict[str, Any] | None = None) -> None:
        rid = recipient.id if isinstance(recipient, Person) else recipient
        if rid is None:
            return
        enqueue(s, recipient_id=rid, kind=kind, case_id=visit.case_id,
                payload={"visit_id": visit.id, "visit_kind": visit.kind, **(payload or {})},
                dedupe_key=f"{kind}:v{visit.id}:{rid}:{anchor}", now=now)

    # -- rights -------------------------------------------------------------------------------------------

    def _may_act(self, s: Session, visit: Visit, person: Person) -> bool:
        if not person.active:
            return False
        if person.role == Role.admin or visit.owner_id == person.id:
            return True
        if person.role not in CHAIN_ROLES or not jurisdiction.covers(s, person, visit.unit_id):
            return False
        return person.role == Role.county_commander or _rank(visit.owner) < CHAIN_RANK[person.role]

    def _may_see(self, s: Session, visit: Visit, person: Person) -> bool:
        return self._may_act(s, visit, person) or (person.active and jurisdiction.covers(s, person, visit.unit_id))

    def _require(self, s: Session, visit: Visit, person: Person, action: str) -> None:
        if not self._may_act(s, visit, person):
            raise NotPermitted(f"{person.name} may not {action} visit #{visit.id}",
                               params={"visit_id": visit.id, "action": action})
        if visit.state != "open":
            raise InvalidTransition(f"visit #{visit.id} is {visit.state}", code="visit_closed",
                                              params={"visit_id": visit.id, "state": visit.state, "action": action})

    # -- deadlines ----------------------------------------------------------------------------------------

    def _reminder_points(self, visit: Visit) -> list[datetime]:
        """Half-way, and a day before the deadline when there are at least three days."""
        start = visit.assigned_at or visit.created_at
        window = visit.due_at - start
        points = [start + window / 2]
        if window >= timedelta(days=3):
            points.append(visit.due_at - timedelta(days=1))
        return sorted(points)

    def _arm(self, visit: Visit, now: datetime) -> None:
        upcoming = [p for p in self._reminder_points(visit)[visit.reminders_sent:] if p > now]
        visit.next_reminder_at = min([*upcoming, visit.due_at]) if visit.due_at > now else now

    def _give(self, s: Session, visit: Visit, owner: Person | None, now: datetime, *, due_at: datetime) -> None:
        visit.owner = owner
        visit.owner_id = owner.id if owner else None
        visit.assigned_at = now
        visit.due_at = due_at
        visit.reminders_sent = 0
        self._arm(visit, now)

    # -- creation -----------------------------------------------------------------------------------------

    def case_triaged(self, s: Session, case: Case, life_event: str | None, now: datetime) -> Visit | None:
        """Called inside the case's triage transaction: a life event in a report opens a visit (or adds the
        report to the open visit of the same kind for the same household or grid)."""
        if life_event not in LIFE_EVENTS:
            return None  # None, or "festival" (the calendar makes those), or something unknown
        household = s.get(Household, case.household_id) if case.household_id is not None else None
        same = select(Visit).where(Visit.kind == life_event, Visit.state == "open")
        same = (same.where(Visit.household_id == household.id) if household is not None
                else same.where(Visit.household_id.is_(None), Visit.unit_id == case.unit_id))
        existing = s.scalars(same.order_by(Visit.id).limit(1)).first()
        if existing is not None:
            if existing.case_id != case.id:
                self._event(s, existing, now, "also_reported", data={"case_id": case.id})
            return existing
        unit_id = household.unit_id if household is not None else case.unit_id
        owner = responsible_cadre(s, self.router, household, unit_id)
        visit = Visit(kind=life_event, household_id=household.id if household else None, unit_id=unit_id,
                      state="open", case_id=case.id, due_at=now + self.settings.due_within(life_event),
                      reminders_sent=0, escalation_level=0, created_at=now, updated_at=now)
        s.add(visit)
        self._give(s, visit, owner, now, due_at=visit.due_at)
        s.flush()
        self._opened(s, visit, now, source={"case_id": case.id})
        s.add(CaseEvent(case_id=case.id, at=now, kind="visit_opened",
                        data={"visit_id": visit.id, "visit_kind": life_event,
                              "owner_id": visit.owner_id}))
        return visit

    def relink_case(self, case_id: int) -> list[int]:
        """The case's household became known after the report (the worker tapped one of their households): its
        open visits that had none move to that household and to its responsible cadre (told, with the card).
        For the adapter that links the household (the receipt's household buttons); returns the visit ids."""
        now = self.clock.now()
        moved: list[int] = []
        with self.db.session() as s:
            case = s.get(Case, case_id)
            if case is None or case.household_id is None:
                return moved
            household = s.get(Household, case.household_id)
            visits = s.scalars(select(Visit).where(Visit.case_id == case.id, Visit.state == "open",
                                                   Visit.household_id.is_(None))).all()
            for visit in visits:
                duplicate = s.scalars(select(Visit.id).where(Visit.kind == visit.kind, Visit.state == "open",
                                                             Visit.household_id == household.id)).first()
                if duplicate is not None:  # the household already has this visit: this one joins it
                    self._transition(s, visit, "cancel", now, actor=None, note=f"#{duplicate}",
                                     data={"merged_into": duplicate})
                    visit.next_reminder_at = None
                    continue
                old = visit.owner
                owner = responsible_cadre(s, self.router, household, household.unit_id)
                visit.household_id = household.id
                visit.household = household
                visit.unit_id = household.unit_id
                event = self._event(s, visit, now, "household_linked", data={"household_id": household.id,
                                                                           "from": old.id if old else None})
                if owner is not None and (old is None or owner.id != old.id):
                    visit.owner, visit.owner_id = owner, owner.id
                    self._notify(s, now, "visit_assigned", owner, visit, event.id)
                moved.append(visit.id)
        return moved

    def _opened(self, s: Session, visit: Visit, now: datetime, *, source: dict[str, Any]) -> None:
        self._event(s, visit, now, "created", to_state="open",
                    data={**source, "owner_id": visit.owner_id, "due_at": visit.due_at.isoformat()})
        if visit.owner_id is not None:
            self._notify(s, now, "visit_assigned", visit.owner_id, visit, "created")
        else:
            log.warning("visit %s has nobody to own it (no cadre, no grid leader or commander above)", visit.id)
            for admin in active_admins(s):
                self._notify(s, now, "visit_assigned", admin, visit, "unowned", {"unowned": True})

    def generate_festivals(self, now: datetime | None = None) -> int:
        """Create the visits of every festival inside its lead time for each marked household without one
        (idempotent: unique per household and festival; households marked later get theirs at the next run)."""
        now = now or self.clock.now()
        created = 0
        for festival in self.settings.festivals:
            start = festival.starts_at()
            if not (start - self.settings.festival_lead <= now < start):
                continue
            with self.db.session() as s:
                has = select(Visit.id).where(Visit.household_id == Household.id, Visit.festival == festival.key)
                rows = s.scalars(
                    select(Household).where(Household.festival_marks.is_not(None), not_(has.exists()))
                    .order_by(Household.id)
                ).all()
                for household in rows:
                    if not household.festival_marks:
                        continue
                    owner = responsible_cadre(s, self.router, household, household.unit_id)
                    visit = Visit(kind="festival", household_id=household.id, unit_id=household.unit_id,
                                  state="open", festival=festival.key, due_at=start, reminders_sent=0,
                                  escalation_level=0, created_at=now, updated_at=now)
                    s.add(visit)
                    self._give(s, visit, owner, now, due_at=start)
                    s.flush()
                    self._opened(s, visit, now, source={"festival": festival.key,
                                                        "marks": list(household.festival_marks)})
                    created += 1
        if created:
            log.info("festival visits: %d created", created)
        return created

    # -- actions ------------------------------------------------------------------------------------------

    def complete(self, visit_id: int, actor_id: int, *, note: str | None = None,
                 media: VisitMedia | None = None) -> VisitView:
        """Mark the visit made, with a one-line note, a voice note or a photo (at least one)."""
        note = (note or "").strip()[:MAX_NOTE] or None
        if note is None and media is None:
            raise ValidationError("say how the visit went", code="note_required")
        now = self.clock.now()
        with self._tx(visit_id) as s:
            visit = self._visit(s, visit_id)
            actor = self._person(s, actor_id)
            self._require(s, visit, actor, "complete")
            visit.note = note or ("🎙" if media and media.kind == "voice" else "📷")
            visit.done_at = now
            visit.done_by_id = actor.id
            visit.next_reminder_at = None
            event = self._transition(s, visit, "complete", now, actor=actor, note=visit.note,
                                     data={"media": media.kind if media else None})
            if media is not None:
                s.add(VisitAttachment(visit_id=visit.id, kind=media.kind, mime_type=media.mime_type,
                                      size=len(media.content), sha256=hashlib.sha256(media.content).hexdigest(),
                                      content=media.content, telegram_file_id=media.telegram_file_id,
                                      created_at=now))
            told: set[int] = {actor.id}
            if visit.case_id is not None:
                case = s.get(Case, visit.case_id)
                if case is not None:
                    s.add(CaseEvent(case_id=case.id, at=now, actor_id=actor.id, kind="visit_done", note=visit.note,
                                    data={"visit_id": visit.id, "visit_kind": visit.kind}))
                    if case.reporter_id not in told:
                        self._notify(s, now, "visit_done", case.reporter_id, visit, event.id,
                                     {"by": {"id": actor.id, "name": actor.name}, "note": visit.note,
                                      "household": visit.household.head_name if visit.household else None})
                        told.add(case.reporter_id)
            if visit.owner_id is not None and visit.owner_id not in told:
                self._notify(s, now, "visit_done", visit.owner_id, visit, event.id,
                             {"by": {"id": actor.id, "name": actor.name}, "note": visit.note,
                              "household": visit.household.head_name if visit.household else None})
            return self._view(s, visit, actor, now)

    def hand_on(self, visit_id: int, actor_id: int, to_person_id: int) -> VisitView:
        """Give the visit to another official who covers the household: a colleague in the actor's area or
        someone above the actor (the deadline stays: the family's need has not changed)."""
        now = self.clock.now()
        with self._tx(visit_id) as s:
            visit = self._visit(s, visit_id)
            actor = self._person(s, actor_id)
            self._require(s, visit, actor, "hand_on")
            target = self._person(s, to_person_id)
            if target.id == visit.owner_id:
                raise ValidationError("already theirs", code="same_owner")
            if not self._may_own(s, target, actor, visit):
                raise NotPermitted(f"{target.name} cannot take visit #{visit.id}", code="target_not_in_jurisdiction",
                                   params={"visit_id": visit.id, "person_id": target.id})
            old = visit.owner
            self._give(s, visit, target, now, due_at=visit.due_at)
            event = self._transition(s, visit, "hand_on", now, actor=actor,
                                     data={"from": old.id if old else None, "to": target.id})
            payload = {"from_owner": {"id": old.id, "name": old.name} if old else None,
                       "to_owner": {"id": target.id, "name": target.name}, "by": {"id": actor.id, "name": actor.name}}
            self._notify(s, now, "visit_handed_on", target, visit, event.id, payload)
            if old is not None and old.id != actor.id:
                self._notify(s, now, "visit_handed_on", old, visit, event.id, payload)
            return self._view(s, visit, actor, now)

    def hand_on_choices(self, visit_id: int, actor_id: int) -> list[PersonRef]:
        """Officials the actor may hand this visit to (active, covering the visit; in the actor's area or above)."""
        with self.db.session() as s:
            visit = self._visit(s, visit_id)
            actor = self._person(s, actor_id)
            self._require(s, visit, actor, "hand_on")
            roles = tuple(jurisdiction.UNIT_ROLES | jurisdiction.COUNTY_ROLES)
            people = s.scalars(select(Person).where(Person.active.is_(True), Person.role.in_(roles))
                               .order_by(Person.code)).all()
            return [_ref(p) for p in people if p.id != visit.owner_id and self._may_own(s, p, actor, visit)]

    @staticmethod
    def _may_own(s: Session, target: Person, actor: Person, visit: Visit) -> bool:
        if not target.active or target.role in (Role.liaison_worker, Role.admin):
            return False
        if not jurisdiction.covers(s, target, visit.unit_id):
            return False
        # a colleague inside the actor's area, or someone above the actor (a grid leader may pass it up)
        return (actor.role == Role.admin or jurisdiction.covers(s, actor, target.unit_id)
                or jurisdiction.covers(s, target, actor.unit_id))

    def cancel(self, visit_id: int, actor_id: int, reason: str) -> VisitView:
        """No visit is owed after all (the family moved away, a mistaken report): a reason is required."""
        reason = (reason or "").strip()[:MAX_NOTE]
        if len(reason) < 2:
            raise ValidationError("a reason is required", code="reason_required")
        now = self.clock.now()
        with self._tx(visit_id) as s:
            visit = self._visit(s, visit_id)
            actor = self._person(s, actor_id)
            self._require(s, visit, actor, "cancel")
            visit.note = reason
            visit.next_reminder_at = None
            event = self._transition(s, visit, "cancel", now, actor=actor, note=reason)
            if visit.owner_id != actor.id:
                self._notify(s, now, "visit_cancelled", visit.owner_id, visit, event.id,
                             {"reason": reason, "by": {"id": actor.id, "name": actor.name}})
            return self._view(s, visit, actor, now)

    # -- due work -----------------------------------------------------------------------------------------

    def due_ids(self, now: datetime, limit: int = 200) -> list[int]:
        with self.db.session() as s:
            return list(s.scalars(select(Visit.id).where(Visit.next_reminder_at <= now, Visit.state == "open")
                                  .order_by(Visit.id).limit(limit)))

    def process_due(self, visit_id: int) -> str | None:
        """"visit_escalated", "visit_overdue_reminder", "visit_reminder", or None (nothing due)."""
        now = self.clock.now()
        with self._tx(visit_id) as s:
            visit = self._visit(s, visit_id)
            if visit.state != "open":
                visit.next_reminder_at = None
                return None
            if visit.next_reminder_at is None or visit.next_reminder_at > now:
                return None
            if visit.due_at <= now:
                target = self._escalation_target(s, visit)
                if target is not None:
                    old = visit.owner
                    visit.escalation_level += 1
                    self._give(s, visit, target, now, due_at=now + self.settings.due_within(visit.kind))
                    event = self._transition(s, visit, "escalate", now, actor=None,
                                             data={"from": old.id if old else None, "to": target.id,
                                                   "reason": "overdue", "level": visit.escalation_level})
                    payload = {"from_owner": {"id": old.id, "name": old.name} if old else None,
                               "to_owner": {"id": target.id, "name": target.name}, "reason": "overdue"}
                    self._notify(s, now, "visit_escalated", target, visit, event.id, payload)
                    self._notify(s, now, "visit_escalated", old, visit, event.id, payload)
                    return "visit_escalated"
                visit.reminders_sent += 1
                visit.next_reminder_at = now + self.settings.remind_every
                event = self._event(s, visit, now, "reminder", data={"overdue": True, "count": visit.reminders_sent})
                self._notify(s, now, "visit_reminder", visit.owner_id, visit, event.id,
                             {"overdue": True, "due_at": visit.due_at.isoformat()})
                return "visit_overdue_reminder"
            points = self._reminder_points(visit)
            visit.reminders_sent = max(visit.reminders_sent + 1, sum(1 for p in points if p <= now))
            self._arm(visit, now)
            event = self._event(s, visit, now, "reminder", data={"overdue": False, "count": visit.reminders_sent})
            self._notify(s, now, "visit_reminder", visit.owner_id, visit, event.id,
                         {"overdue": False, "due_at": visit.due_at.isoformat()})
            return "visit_reminder"

    def _escalation_target(self, s: Session, visit: Visit) -> Person | None:
        """The next chain official above the owner (grid leader → township → county commander), or None."""
        rank = _rank(visit.owner)
        for unit in ancestors(s, visit.unit_id):
            role = OWNER_ROLE_AT_LEVEL.get(unit.level)
            if role is None or role not in CHAIN_ROLES or CHAIN_RANK[role] <= rank:
                continue
            person = s.scalars(select(Person).where(Person.role == role, Person.unit_id == unit.id,
                                                    Person.active.is_(True)).order_by(Person.id).limit(1)).first()
            if person is not None and person.id != visit.owner_id:
                return person
        return None

    # -- reads --------------------------------------------------------------------------------------------

    def _view(self, s: Session, visit: Visit, viewer: Person | None, now: datetime) -> VisitView:
        chain = ancestors(s, visit.unit_id)
        case = s.get(Case, visit.case_id) if visit.case_id is not None else None
        festival = self.settings.festival(visit.festival)
        lang = (viewer.ui_language if viewer is not None else None) or "zh"
        kinds = tuple(s.scalars(select(VisitAttachment.kind).where(VisitAttachment.visit_id == visit.id)
                                .order_by(VisitAttachment.id)))
        allowed = (VISIT_ACTIONS if viewer is not None and visit.state == "open" and self._may_act(s, visit, viewer)
                   else ())
        return VisitView(
            id=visit.id, kind=visit.kind, state=visit.state,
            household=household_view(s, self.router, visit.household, now.year) if visit.household else None,
            unit_id=visit.unit_id, unit_name=chain[0].name if chain else "",
            unit_path=tuple(u.name for u in reversed(chain)), owner=_ref(visit.owner), due_at=visit.due_at,
            overdue=visit.state == "open" and visit.due_at <= now, created_at=visit.created_at,
            escalation_level=visit.escalation_level, reminders_sent=visit.reminders_sent, case_id=visit.case_id,
            case_text=(case.text or "")[:300] if case is not None else None, festival=visit.festival,
            festival_name=festival.name(lang) if festival else visit.festival, note=visit.note,
            done_at=visit.done_at, done_by=_ref(s.get(Person, visit.done_by_id)) if visit.done_by_id else None,
            attachment_kinds=kinds, allowed_actions=tuple(allowed),
        )

    def get(self, visit_id: int, viewer_id: int) -> VisitView:
        now = self.clock.now()
        with self.db.session() as s:
            visit = self._visit(s, visit_id)
            viewer = self._person(s, viewer_id)
            if not self._may_see(s, visit, viewer):
                raise NotPermitted(f"{viewer.name} may not see visit #{visit.id}",
                                   params={"visit_id": visit.id, "action": "view"})
            return self._view(s, visit, viewer, now)

    def timeline(self, visit_id: int, viewer_id: int) -> list[VisitEntry]:
        self.get(visit_id, viewer_id)
        with self.db.session() as s:
            events = s.scalars(select(VisitEvent).where(VisitEvent.visit_id == visit_id).order_by(VisitEvent.id))
            return [VisitEntry(e.at, e.kind, e.actor.name if e.actor else None, e.note, dict(e.data or {}))
                    for e in events]

    def _listing(self, s: Session, viewer: Person, *, scope: str, open_only: bool, overdue_only: bool, now: datetime):
        q = select(Visit)
        if scope == "mine":
            q = q.where(Visit.owner_id == viewer.id)
        elif viewer.role != Role.admin:
            q = q.where(Visit.unit_id.in_(jurisdiction.area_unit_ids(s, viewer) or {-1}))
        if open_only or overdue_only:
            q = q.where(Visit.state == "open")
        if overdue_only:
            q = q.where(Visit.due_at <= now)
        return q

    def list_visits(self, viewer_id: int, *, scope: str = "area", open_only: bool = True, overdue_only: bool = False,
                    limit: int = 10, offset: int = 0) -> list[VisitView]:
        """Visits the viewer owns (``mine``) or in their area (``area``), most overdue (earliest due) first."""
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._listing(s, viewer, scope=scope, open_only=open_only, overdue_only=overdue_only, now=now)
            rows = s.scalars(q.options(selectinload(Visit.household)).order_by(Visit.due_at, Visit.id)
                             .limit(limit).offset(offset)).all()
            return [self._view(s, v, viewer, now) for v in rows]

    def count_visits(self, viewer_id: int, *, scope: str = "area", open_only: bool = True,
                     overdue_only: bool = False) -> int:
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            q = self._listing(s, viewer, scope=scope, open_only=open_only, overdue_only=overdue_only, now=now)
            return int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)

    def of_household(self, household_id: int, viewer_id: int) -> list[VisitView]:
        """Every visit of one household, newest first (the archive shows them beside its cases)."""
        from workflows.households import may_see

        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._person(s, viewer_id)
            household = s.get(Household, household_id)
            if household is None:
                raise NotFound(f"no household {household_id}", code="household_not_found")
            if not may_see(s, viewer, household):
                raise NotPermitted("not in your area", params={"household_id": household_id, "action": "view"})
            rows = s.scalars(select(Visit).where(Visit.household_id == household_id).order_by(Visit.id.desc())).all()
            return [self._view(s, v, viewer, now) for v in rows]

    def audio_of(self, visit_id: int, viewer_id: int) -> list[tuple[str, bytes, str | None, str | None]]:
        """The visit's media (kind, bytes, mime type, Telegram file id), for the archive and the bot."""
        self.get(visit_id, viewer_id)
        with self.db.session() as s:
            rows = s.scalars(select(VisitAttachment).where(VisitAttachment.visit_id == visit_id)
                             .order_by(VisitAttachment.id))
            return [(a.kind, a.content, a.mime_type, a.telegram_file_id) for a in rows]

    def ledger_rows(self, viewer_id: int | None, *, unit_ids: set[int] | None = None) -> list[dict[str, Any]]:
        """The ledger's visits sheet: one row per visit in the viewer's area (None: everything; ``unit_ids``:
        only those units, e.g. ``lianhu ledger --unit``), oldest first. Keys are those of
        :data:`LEDGER_COLUMNS` (codes for kind and state: the writer puts words; the festival by its Chinese
        name); datetimes naive UTC (the writer localizes)."""
        now = self.clock.now()
        with self.db.session() as s:
            q = select(Visit).options(selectinload(Visit.household), selectinload(Visit.owner))
            if unit_ids is not None:
                q = q.where(Visit.unit_id.in_(unit_ids or {-1}))
            if viewer_id is not None:
                viewer = self._person(s, viewer_id)
                if viewer.role != Role.admin:
                    q = q.where(Visit.unit_id.in_(jurisdiction.area_unit_ids(s, viewer) or {-1}))
            rows = []
            for v in s.scalars(q.order_by(Visit.id)):
                chain = ancestors(s, v.unit_id)
                rows.append({
                    "visit_id": v.id, "kind": v.kind, "festival": self._festival_name(v.festival),
                    "unit": " / ".join(u.name for u in reversed(chain[:-1] or chain)),
                    "household_code": v.household.code if v.household else "",
                    "head_name": v.household.head_name if v.household else "",
                    "owner": v.owner.name if v.owner else "", "state": v.state, "created_at": v.created_at,
                    "due_at": v.due_at, "done_at": v.done_at,
                    "on_time": (v.done_at <= v.due_at) if v.done_at else (None if v.due_at > now else False),
                    "escalation_level": v.escalation_level, "note": v.note or "", "case_id": v.case_id or "",
                })
            return rows


    def _festival_name(self, key: str | None) -> str:
        festival = self.settings.festival(key)
        return festival.name("zh") if festival else (key or "")


#: The ledger's visits sheet: (key, Chinese header).
LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("visit_id", "走访编号"),
    ("kind", "走访事由"),
    ("festival", "节日"),
    ("unit", "乡镇/村/网格"),
    ("household_code", "户编号"),
    ("head_name", "户主"),
    ("owner", "责任干部"),
    ("state", "状态"),
    ("created_at", "生成时间"),
    ("due_at", "应访时间"),
    ("done_at", "走访时间"),
    ("on_time", "按时"),
    ("escalation_level", "上报级数"),
    ("note", "走访情况"),
    ("case_id", "来源案件"),
)
KIND_WORDS = {"dropout": "辍学", "idle_youth": "青年闲散在家", "illness_poverty": "因病因灾致贫",
              "death": "老人去世", "troubled_mind": "思想困扰", "festival": "节日走访"}
STATE_WORDS = {"open": "待走访", "done": "已走访", "cancelled": "已取消"}

