"""Who owns a case, who is above them, and who must hear about an urgent one.

Why walk the org tree instead of a lookup table: org data comes from a CSV the county maintains, and posts are
often vacant. Walking up from the reporter's unit (grid → village → township → county) and taking the first
active person with the responsible role at each level means a vacancy never drops a case: it lands one level
higher. Only when even the county commander is missing is routing impossible (:class:`RoutingError`); the
caller then keeps the case in ``reported`` and tells the admins.

Why reachability counts too (``Router.skip_unreachable``, on whenever Telegram is the channel): an official who
never registered, whose Telegram account is gone or who blocked the bot cannot hear about a case. A case given
to them waits for nothing but its deadline (30 minutes for an urgent one). So the walk takes the first *reachable*
holder at each level and notes everyone it skipped and why (:class:`Skipped`); the case engine writes that to the
timeline and tells the admins and the county centre once per person. Only when nobody reachable is left does
the case go to the first active holder anyway, so it still has a named owner, and the admins are told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from storage.models import Case, Person, Role, UnitLevel
from workflows import orgcache
from workflows.errors import RoutingError
from workflows.orgcache import UnitNode

# The role that owns cases at each level of the tree.
OWNER_ROLE_AT_LEVEL: dict[UnitLevel, Role] = {
    UnitLevel.grid: Role.grid_leader,
    UnitLevel.village: Role.grid_leader,
    UnitLevel.township: Role.township_commander,
    UnitLevel.county: Role.county_commander,
}

# Rank in the chain of command; used for escalation and for "is this person above the owner?".
CHAIN_RANK: dict[Role, int] = {
    Role.grid_leader: 1,
    Role.township_commander: 2,
    Role.department_contact: 2,
    Role.county_commander: 3,
}
CHAIN_ROLES = frozenset({Role.grid_leader, Role.township_commander, Role.county_commander})
OFFICIAL_ROLES = frozenset(CHAIN_RANK)


def ancestors(session: Session, unit_id: int) -> list[UnitNode]:
    """The unit itself, then its parent, ... up to the root (the tree is at most four levels deep). From the
    process's in-memory org tree (:mod:`workflows.orgcache`): no query once the transaction has its snapshot."""
    return list(orgcache.snapshot(session).chain(unit_id))


def unit_at_level(session: Session, unit_id: int, level: UnitLevel) -> UnitNode | None:
    return next((u for u in orgcache.snapshot(session).chain(unit_id) if u.level == level), None)


def in_subtree(session: Session, unit_id: int, root_id: int) -> bool:
    return any(u.id == root_id for u in orgcache.snapshot(session).chain(unit_id))


def subtree_ids(session: Session, root_id: int) -> set[int]:
    """All unit ids under ``root_id`` (inclusive), from the in-memory tree."""
    return set(orgcache.snapshot(session).subtree(root_id))


def active_admins(session: Session) -> list[Person]:
    """The active admins, by id: they hear about whatever the system could not do on its own (a case routing
    could not place, a case the scheduler keeps failing on, a notification that could not be delivered)."""
    return list(
        session.scalars(select(Person).where(Person.role == Role.admin, Person.active.is_(True)).order_by(Person.id))
    )


def unreachable_why(person: Person) -> str | None:
    """Why a notice to ``person`` cannot arrive now, or ``None`` when it can: ``not_registered`` (no Telegram
    chat bound yet), ``inactive`` (switched off in the org tree), or what Telegram said (``blocked`` — blocked
    the bot, ``gone`` — account deleted or chat not found), recorded by the outbox in
    ``Person.unreachable_reason`` until the person writes to the bot again."""
    if not person.active:
        return "inactive"
    if person.telegram_chat_id is None:
        return "not_registered"
    if person.unreachable_since is not None:
        return person.unreachable_reason or "blocked"
    return None


def unreachable_marker(person: Person) -> str:
    """One spell of being unreachable: the admins hear once per marker (someone who blocks the bot again next
    month is reported again; one who never registered, once)."""
    why = unreachable_why(person) or "reachable"
    if why in ("blocked", "gone") and person.unreachable_since is not None:
        return f"{why}@{person.unreachable_since.isoformat(timespec='seconds')}"
    return why


def unreachable_dedupe_key(person_id: int, marker: str, recipient_id: int) -> str:
    """The one outbox key per (unreachable person, spell, recipient): shared by the outbox's "blocked the
    bot" notice and the case engine's "cases skip them" notice, so an admin gets one of the two, not both."""
    return f"unreachable:{person_id}:{marker}:{recipient_id}"


def reachable_clause() -> ColumnElement[bool]:
    """SQL form of ``unreachable_why(p) is None`` (for the scheduler's and ``lianhu check``'s queries)."""
    return and_(Person.active.is_(True), Person.telegram_chat_id.is_not(None), Person.unreachable_since.is_(None))


def unreachable_clause() -> ColumnElement[bool]:
    return or_(Person.active.is_not(True), Person.telegram_chat_id.is_(None), Person.unreachable_since.is_not(None))


@dataclass(frozen=True)
class Skipped:
    """An official the walk passed over because a notice could not reach them (``why``: see
    :func:`unreachable_why`). ``fallback``: nobody reachable was left, so the case went to them anyway."""

    person_id: int
    name: str
    role: str
    why: str
    fallback: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.person_id, "name": self.name, "role": self.role, "why": self.why,
                "fallback": self.fallback}


def _holder_ids(session: Session, role: Role, unit_id: int, department: str | None = None) -> tuple[int, ...]:
    """Active holders of ``role`` in the unit, by id, from the in-memory org tree (no query)."""
    snap = orgcache.snapshot(session)
    if department is not None:
        return snap.contacts.get((unit_id, department), ())
    return snap.officials.get((role, unit_id), ())


def people_by_id(session: Session, ids: Iterable[int]) -> dict[int, Person]:
    """The people with ``ids``: those already in this session for free, the rest in one query. Their
    reachability (chat, blocked since) is read fresh from the rows: the org cache holds only who holds a post."""
    wanted = set(ids)
    found: dict[int, Person] = {}
    missing = []
    for pid in wanted:
        person = session.identity_map.get(session.identity_key(Person, pid))  # type: ignore[arg-type]
        if person is not None:
            found[pid] = person  # type: ignore[assignment]
        else:
            missing.append(pid)
    if missing:
        found.update({p.id: p for p in session.scalars(select(Person).where(Person.id.in_(missing)))})
    return found


def _holders(session: Session, role: Role, unit_id: int, department: str | None = None) -> list[Person]:
    ids = _holder_ids(session, role, unit_id, department)
    people = people_by_id(session, ids)
    return [people[i] for i in ids if i in people]


def _first_person(session: Session, role: Role, unit_id: int, department: str | None = None) -> Person | None:
    people = _holders(session, role, unit_id, department)
    return people[0] if people else None


@dataclass(frozen=True)
class Router:
    """Routing rules from config: ``department_for_category`` maps a triage category to the ``department`` of
    a county-level ``department_contact`` (e.g. ``{"medical": "health"}``)."""

    department_for_category: Mapping[str, str] = field(default_factory=dict)
    # Pass over officials a notice cannot reach (see the module docstring). Off for the engine without
    # Telegram (the CLI, the console alone), where nobody has a chat and every case would go to the top.
    skip_unreachable: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Router | None) -> Router:
        if isinstance(config, Router):
            return config
        config = config or {}
        return cls(department_for_category=dict(config.get("department_for_category") or {}),
                   skip_unreachable=bool(config.get("skip_unreachable", False)))

    def _pick(self, people: list[Person], skipped: list[Skipped] | None) -> Person | None:
        """The first reachable of ``people`` (the first at all without ``skip_unreachable``); the others
        passed over are appended to ``skipped``."""
        for person in people:
            why = unreachable_why(person) if self.skip_unreachable else None
            if why is None:
                return person
            if skipped is not None:
                skipped.append(Skipped(person.id, person.name, person.role.value, why))
        return None

    def _walk(self, people_per_level: list[list[Person]], skipped: list[Skipped] | None) -> Person | None:
        """The first reachable person level by level; when nobody is reachable, the first holder at all
        (marked ``fallback`` in ``skipped``) so the case still has a named owner."""
        found: list[Skipped] = []
        for people in people_per_level:
            person = self._pick(people, found)
            if person is not None:
                if skipped is not None:
                    skipped.extend(found)
                return person
        first = next((p for people in people_per_level for p in people), None)
        if first is not None and skipped is not None:
            # nobody reachable at any level: the case stays at the bottom, and only that holder is reported
            # (the ones above are reported when a case would reach them)
            skipped.append(Skipped(first.id, first.name, first.role.value, unreachable_why(first) or "", True))
        return first

    def department_for(self, category: str | None) -> str | None:
        return self.department_for_category.get(category or "")

    # -- owners ---------------------------------------------------------------------------------------------

    def owner_for(self, session: Session, unit_id: int, category: str | None,
                  skipped: list[Skipped] | None = None) -> Person:
        """The department contact for the category if one exists in the county; otherwise the nearest
        responsible official above ``unit_id`` (vacancies and unreachable people skip up, appended to
        ``skipped``). :class:`RoutingError` if nobody holds any of the posts."""
        chain = ancestors(session, unit_id)
        department = self.department_for(category)
        county = next((u for u in chain if u.level == UnitLevel.county), None)
        level_ids: list[tuple[int, ...]] = []
        if department and county is not None:
            level_ids.append(_holder_ids(session, Role.department_contact, county.id, department))
        for unit in chain:
            role = OWNER_ROLE_AT_LEVEL.get(unit.level)
            if role is not None:
                level_ids.append(_holder_ids(session, role, unit.id))
        people = people_by_id(session, (i for ids in level_ids for i in ids))  # one query for the whole walk
        levels = [[people[i] for i in ids if i in people] for ids in level_ids]
        person = self._walk(levels, skipped)
        if person is not None:
            return person
        raise RoutingError(
            "nobody can own this case: no active grid leader, township commander or county commander above "
            f"unit {unit_id}",
            params={"unit_id": unit_id},
        )

    def escalation_target(self, session: Session, case: Case, skipped: list[Skipped] | None = None) -> Person | None:
        """The next official up from the current owner, or ``None`` at the top (keep reminding there).
        grid leader → township commander → county commander; department contact → county commander.
        Unreachable people are passed over (appended to ``skipped``); when nobody above is reachable, the
        next holder up anyway (a reachable owner is never handed to an unreachable one: ``None`` then)."""
        owner = case.owner
        rank = CHAIN_RANK.get(owner.role, 0) if owner is not None else 0
        levels: list[list[Person]] = []
        for unit in ancestors(session, case.unit_id):
            role = OWNER_ROLE_AT_LEVEL.get(unit.level)
            if role is None or role not in CHAIN_ROLES or CHAIN_RANK[role] <= rank:
                continue
            people = [p for p in _holders(session, role, unit.id) if owner is None or p.id != owner.id]
            if people:
                levels.append(people)
        found: list[Skipped] = []
        person = self._walk(levels, found)
        if person is not None and found and found[-1].fallback and owner is not None \
                and self.skip_unreachable and unreachable_why(owner) is None:
            person = None  # moving a case from someone who can hear to someone who cannot helps nobody
            found = [x for x in found if not x.fallback]
        if skipped is not None:
            skipped.extend(found)
        return person

    # -- urgent alert ---------------------------------------------------------------------------------------

    def urgent_alert_recipients(self, session: Session, unit_id: int) -> list[Person]:
        """Every active governance operator in the county and the township commander(s) of the unit's
        township — told at once, in parallel with the owner, who does not change."""
        snap = orgcache.snapshot(session)
        chain = snap.chain(unit_id)
        county = next((u for u in chain if u.level == UnitLevel.county), None)
        township = next((u for u in chain if u.level == UnitLevel.township), None)
        ids: list[int] = []
        if county is not None:
            ids += snap.all(Role.governance_operator, snap.subtree(county.id))
        if township is not None:
            ids += snap.all(Role.township_commander, (township.id,))
        found = people_by_id(session, ids)
        return [found[i] for i in ids if i in found]
