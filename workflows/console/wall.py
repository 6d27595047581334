"""The case wall (问题销号墙): open cases as cards, most urgent and most overdue first, live counts per township
and village, and recently settled cases crossed off (销号) for a while.

Why this shape (it must stay fast with 100k cases in the database):
- the cards of one page come from ONE ordered, limited query over columns (no ORM objects, no per-card
  queries); names come from a :class:`~workflows.console.units.UnitMap` built once per request;
- the counts per unit are one ``GROUP BY unit_id`` over the open cases of the viewer's jurisdiction, rolled
  up to villages and townships in Python (a county has hundreds of units, not thousands of cases);
- visibility is the viewer's *desk* from :mod:`workflows.scopes` (mine ∪ watched ∪ area) — the same set as the
  bot's ``/cases`` and the ledger — so the wall never shows a card its viewer could not open. Only the order
  differs on purpose: a wall screen is read by place and urgency, not "mine first".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from storage.models import Case, CaseState, Person, Urgency
from workflows import lifecycle, scopes
from workflows.console.units import UnitInfo, UnitMap
from workflows.errors import NotPermitted, ValidationError
from workflows.policy import URGENCY_ORDER

OPEN = [CaseState(s) for s in sorted(lifecycle.OPEN_STATES)]
SETTLED = [CaseState.closed, CaseState.rejected, CaseState.duplicate]
#: How long a settled case stays on the wall, crossed off.
SETTLED_WINDOW = timedelta(days=3)
MAX_LIMIT = 200
TEXT_PREVIEW = 160


@dataclass(frozen=True)
class WallFilter:
    """What the wall shows; every field optional. ``state``: a state name, ``"open"`` (default) or
    ``"settled"`` or ``"all"``; ``unit_id`` narrows to one unit's subtree (inside the viewer's jurisdiction)."""

    urgency: str | None = None
    category: str | None = None
    state: str | None = None
    unit_id: int | None = None
    owner_id: int | None = None
    overdue: bool = False
    needs_review: bool = False
    household_id: int | None = None

    def validate(self, categories: tuple[str, ...]) -> WallFilter:
        if self.urgency and self.urgency not in URGENCY_ORDER:
            raise ValidationError(f"unknown urgency {self.urgency!r}", code="unknown_urgency")
        if self.category and self.category not in categories:
            raise ValidationError(f"unknown category {self.category!r}", code="unknown_category")
        if self.state and self.state not in ("open", "settled", "all", *lifecycle.STATES):
            raise ValidationError(f"unknown state {self.state!r}", code="unknown_state")
        return self


@dataclass(frozen=True)
class WallCard:
    id: int
    urgency: str
    category: str
    state: str
    text: str
    unit: UnitInfo | None
    township: UnitInfo | None
    village: UnitInfo | None
    owner_id: int | None
    owner_name: str | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    needs_review: bool
    settled_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.state in ("closed", "rejected", "duplicate")


@dataclass(frozen=True)
class UnitCount:
    unit: UnitInfo
    open: int = 0
    overdue: int = 0
    urgent: int = 0
    children: tuple[UnitCount, ...] = ()


@dataclass(frozen=True)
class WallGroup:
    """Cards of one township → village, in wall order."""

    township: UnitInfo | None
    village: UnitInfo | None
    cards: tuple[WallCard, ...]


@dataclass(frozen=True)
class WallPage:
    cards: tuple[WallCard, ...]
    settled: tuple[WallCard, ...]
    total: int
    limit: int
    offset: int
    counts: tuple[UnitCount, ...]  # townships (with their villages), most open first
    totals: dict[str, int] = field(default_factory=dict)  # open / overdue / urgent in the whole jurisdiction
    generated_at: datetime | None = None

    def groups(self) -> list[WallGroup]:
        """The page's cards grouped by township → village, groups in the order of their first card (so the
        most urgent group leads), settled cards after the open ones of their group."""
        order: dict[tuple[int | None, int | None], list[WallCard]] = {}
        for card in (*self.cards, *self.settled):
            key = (card.township.id if card.township else None, card.village.id if card.village else None)
            order.setdefault(key, []).append(card)
        return [WallGroup(cards[0].township, cards[0].village, tuple(cards)) for cards in order.values()]


overdue_clause = scopes.is_overdue


def ordering() -> tuple[Any, ...]:
    urgency_rank = sql_case({u: i for i, u in enumerate(URGENCY_ORDER)}, value=Case.urgency, else_=len(URGENCY_ORDER))
    due = sql_case((Case.state == CaseState.assigned, Case.ack_due_at), else_=Case.resolve_due_at)
    return (urgency_rank, due.asc().nulls_last(), Case.created_at, Case.id)


class CaseWall:
    """Read-only queries behind the wall, the ledger download and the Open311 list, over a ``CaseService``."""

    def __init__(self, cases: Any) -> None:
        self.cases = cases  # workflows.cases.CaseService: its db, clock, router and jurisdiction rule
        self.db, self.clock = cases.db, cases.clock

    def scope(self, s: Session, viewer: Person, units: UnitMap, filt: WallFilter) -> list[Any]:
        """WHERE clauses for what ``viewer`` may see through ``filt`` (jurisdiction always applies)."""
        clauses = [scopes.desk(s, viewer, self.cases.router)]
        if filt.unit_id is not None:
            if units.get(filt.unit_id) is None:
                raise ValidationError(f"unknown unit {filt.unit_id}", code="unit_not_found")
            clauses.append(Case.unit_id.in_(units.subtree(filt.unit_id)))
        if filt.urgency:
            clauses.append(Case.urgency == Urgency(filt.urgency))
        if filt.category:
            clauses.append(Case.category == filt.category)
        if filt.owner_id is not None:
            clauses.append(Case.owner_id == filt.owner_id)
        if filt.needs_review:
            clauses.append(Case.needs_review.is_(True))
        if filt.household_id is not None:
            clauses.append(Case.household_id == filt.household_id)
        return clauses

    def page(self, viewer_id: int, filt: WallFilter | None = None, *, limit: int = 60, offset: int = 0,
             settled_window: timedelta = SETTLED_WINDOW, lang: str = "zh") -> WallPage:
        filt = (filt or WallFilter()).validate(self.cases.categories)
        limit, offset = max(1, min(int(limit), MAX_LIMIT)), max(0, int(offset))
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._viewer(s, viewer_id)
            units = UnitMap(s)
            base = self.scope(s, viewer, units, filt)
            state = filt.state or "open"
            states = (OPEN if state == "open" else SETTLED if state == "settled" else list(CaseState) if state == "all"
                      else [CaseState(state)])
            where = [*base, Case.state.in_(states)]
            if filt.overdue:
                where.append(overdue_clause(now))
            total = s.scalar(select(func.count(Case.id)).where(*where)) or 0
            cards = self._cards(s, units, where, now, ordering(), limit, offset)
            settled: list[WallCard] = []
            if state == "open" and not filt.overdue and offset == 0:
                # the recently closed ones by the closed_at index first (a few days are a sliver of the table),
                # then the viewer's scope on those ids only
                recent_ids = list(s.scalars(select(Case.id).where(Case.closed_at >= now - settled_window)
                                            .order_by(Case.closed_at.desc()).limit(2000)))
                if recent_ids:
                    recent = [*base, Case.id.in_(recent_ids), Case.state.in_(SETTLED)]
                    settled = self._cards(s, units, recent, now, (Case.closed_at.desc(), Case.id.desc()), 30, 0)
            # the counts beside the wall cover the whole jurisdiction (with the other filters), so a click on a
            # village narrows the cards without emptying the list of villages
            everywhere = self.scope(s, viewer, units, replace(filt, unit_id=None))
            counts, totals = self._counts(s, units, everywhere, now)
            return WallPage(tuple(cards), tuple(settled), total, limit, offset, counts, totals, now)

    def ids(self, viewer_id: int, filt: WallFilter | None = None) -> set[int]:
        """Ids of the cases ``filt`` selects in the viewer's view, in every state unless ``filt.state`` says
        otherwise (the ledger's rows for a wall filter)."""
        filt = (filt or WallFilter()).validate(self.cases.categories)
        now = self.clock.now()
        with self.db.session() as s:
            viewer = self._viewer(s, viewer_id)
            where = self.scope(s, viewer, UnitMap(s), filt)
            state = filt.state or "all"
            if state != "all":
                where.append(Case.state.in_(OPEN if state == "open" else SETTLED if state == "settled"
                                            else [CaseState(state)]))
            if filt.overdue:
                where.append(overdue_clause(now))
            return set(s.scalars(select(Case.id).where(*where)))

    # -------------------------------------------------------------------------------------------- helpers

    def _viewer(self, s: Session, viewer_id: int) -> Person:
        viewer = s.get(Person, viewer_id)
        if viewer is None or not viewer.active:
            raise NotPermitted("no such active person", params={"action": "view"})
        return viewer

    def _cards(self, s: Session, units: UnitMap, where: list[Any], now: datetime, order: tuple[Any, ...],
               limit: int, offset: int) -> list[WallCard]:
        # Two steps: the page's ids from the index alone (ix_cases_wall covers filter and order), then the rows
        # of those ids only — never the text of 15k open cases to sort them.
        ids = list(s.scalars(select(Case.id).where(*where).order_by(*order).limit(limit).offset(offset)))
        if not ids:
            return []
        owner = aliased(Person)
        found = {r[0]: r for r in s.execute(
            select(Case.id, Case.urgency, Case.category, Case.state, func.substr(Case.text, 1, TEXT_PREVIEW + 1),
                   Case.unit_id, Case.owner_id, owner.name, Case.created_at, Case.ack_due_at, Case.resolve_due_at,
                   Case.needs_review, Case.closed_at)
            .outerjoin(owner, owner.id == Case.owner_id).where(Case.id.in_(ids)))}
        rows = [found[i] for i in ids if i in found]
        cards = []
        for (cid, urgency, category, state, text, unit_id, owner_id, owner_name, created, ack_due, resolve_due,
             review, closed_at) in rows:
            state = getattr(state, "value", state)
            due = ack_due if state == "assigned" else resolve_due if state == "accepted" else None
            overdue = (state == "assigned" and ack_due is not None and ack_due <= now) or (
                state in ("assigned", "accepted") and resolve_due is not None and resolve_due <= now)
            text = (text or "").replace("\n", " ")
            if len(text) > TEXT_PREVIEW:
                text = text[:TEXT_PREVIEW - 1] + "…"
            cards.append(WallCard(
                id=cid, urgency=getattr(urgency, "value", urgency), category=category, state=state, text=text,
                unit=units.get(unit_id), township=units.at_level(unit_id, "township"),
                village=units.at_level(unit_id, "village"), owner_id=owner_id, owner_name=owner_name,
                created_at=created, due_at=due, overdue=overdue, needs_review=bool(review), settled_at=closed_at,
            ))
        return cards

    def _counts(self, s: Session, units: UnitMap, base: list[Any], now: datetime) -> tuple[tuple[UnitCount, ...], dict[str, int]]:
        # grouped by (state, unit) — the order of ix_cases_wall — so the database walks that index alone; grouping
        # by unit only made SQLite walk the unit index and read every case row of the jurisdiction
        rows = s.execute(
            select(Case.unit_id, func.count(Case.id),
                   func.sum(sql_case((overdue_clause(now), 1), else_=0)),
                   func.sum(sql_case((Case.urgency == Urgency.urgent, 1), else_=0)))
            .where(*base, Case.state.in_(OPEN)).group_by(Case.state, Case.unit_id)
        ).all()
        per_unit: dict[int, list[int]] = {}
        totals = {"open": 0, "overdue": 0, "urgent": 0}
        for unit_id, n, late, urgent in rows:
            totals["open"] += n
            totals["overdue"] += int(late or 0)
            totals["urgent"] += int(urgent or 0)
            township = units.at_level(unit_id, "township")
            village = units.at_level(unit_id, "village")
            for key in {township.id if township else 0, village.id if village else -1} - {0, -1}:
                acc = per_unit.setdefault(key, [0, 0, 0])
                acc[0] += n
                acc[1] += int(late or 0)
                acc[2] += int(urgent or 0)
        townships = []
        for tid in [k for k in per_unit if units.units[k].level == "township"]:
            villages = tuple(sorted(
                (UnitCount(units.units[v], *per_unit[v]) for v in units.children.get(tid, []) if v in per_unit),
                key=lambda c: (-c.open, c.unit.name)))
            townships.append(UnitCount(units.units[tid], *per_unit[tid], children=villages))
        townships.sort(key=lambda c: (-c.open, c.unit.name))
        return tuple(townships), totals
