"""Statistics (数据分析) for one viewer's jurisdiction: per township, village and department; by category and
urgency over weeks; liaison workers' reporting (who reports, who has gone silent).

Definitions (kept here, shown on the page, the same for the console and the bot's ``/stats``):
- *opened*: cases reported in the period; *open now* / *overdue now*: at the moment of the query;
- *accepted on time*: accepted no later than the acknowledgement deadline in force when it was accepted;
- *resolved on time*: resolved no later than the resolution deadline in force; *on-time rate* = resolved on
  time / resolved (cases reported in the period);
- *median time to accept / to resolve*: from the report to acceptance / resolution, in hours;
- *reopen rate*: cases reopened at least once / cases resolved at least once.

Why in Python over a column-only query: medians are not portable SQL (PostgreSQL has percentile_cont,
SQLite nothing), and one period of one jurisdiction is thousands of rows, not millions. The page is not on the
wall's 300 ms budget, and it loads only the columns it needs.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, or_, select

from storage.models import Case, CaseEvent, CaseState, Person, Role
from workflows import lifecycle, scopes
from workflows.console.units import UnitInfo, UnitMap
from workflows.errors import NotPermitted
from workflows.policy import URGENCY_ORDER
from workflows.routing import subtree_ids

DEFAULT_WEEKS = 12
SILENT_AFTER = timedelta(days=30)
OPEN = [CaseState(s) for s in sorted(lifecycle.OPEN_STATES)]


@dataclass
class UnitStats:
    key: str
    label: str
    unit: UnitInfo | None = None
    opened: int = 0
    open_now: int = 0
    overdue_now: int = 0
    accepted: int = 0
    accepted_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    reopened: int = 0
    accept_hours: list[float] = field(default_factory=list, repr=False)
    resolve_hours: list[float] = field(default_factory=list, repr=False)

    @property
    def on_time_rate(self) -> float | None:
        return self.resolved_on_time / self.resolved if self.resolved else None

    @property
    def accept_on_time_rate(self) -> float | None:
        return self.accepted_on_time / self.accepted if self.accepted else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None

    @property
    def median_accept_hours(self) -> float | None:
        return statistics.median(self.accept_hours) if self.accept_hours else None

    @property
    def median_resolve_hours(self) -> float | None:
        return statistics.median(self.resolve_hours) if self.resolve_hours else None

    def row(self) -> dict[str, Any]:
        """One table / CSV row (rates as fractions, hours rounded)."""
        def r(x: float | None, nd: int = 3) -> float | None:
            return round(x, nd) if x is not None else None
        return {"unit": self.label, "opened": self.opened, "open_now": self.open_now, "overdue_now": self.overdue_now,
                "accepted_on_time": self.accepted_on_time, "accepted": self.accepted,
                "resolved_on_time": self.resolved_on_time, "resolved": self.resolved,
                "on_time_rate": r(self.on_time_rate), "median_accept_hours": r(self.median_accept_hours, 1),
                "median_resolve_hours": r(self.median_resolve_hours, 1), "reopen_rate": r(self.reopen_rate)}


@dataclass(frozen=True)
class WorkerStats:
    person_id: int
    name: str
    unit: str
    reports: int
    last_report_at: datetime | None
    silent: bool


@dataclass(frozen=True)
class Stats:
    since: datetime
    until: datetime
    total: UnitStats
    townships: list[UnitStats]
    villages: list[UnitStats]
    departments: list[UnitStats]
    weeks: list[date]
    by_category: dict[str, list[int]]  # category -> count per week (same order as ``weeks``)
    by_urgency: dict[str, list[int]]
    workers: list[WorkerStats]


def week_start(d: datetime) -> date:
    day = d.date()
    return day - timedelta(days=day.weekday())


class CaseStats:
    def __init__(self, cases: Any) -> None:
        self.cases = cases
        self.db, self.clock = cases.db, cases.clock

    def compute(self, viewer_id: int, *, weeks: int = DEFAULT_WEEKS, unit_id: int | None = None,
                silent_after: timedelta = SILENT_AFTER, lang: str = "zh") -> Stats:
        now = self.clock.now()
        weeks = max(1, min(int(weeks), 104))
        first_week = week_start(now) - timedelta(weeks=weeks - 1)
        since = datetime.combine(first_week, datetime.min.time())
        router = self.cases.router
        with self.db.session() as s:
            viewer = s.get(Person, viewer_id)
            if viewer is None or not viewer.active:
                raise NotPermitted("no such active person", params={"action": "stats"})
            units = UnitMap(s)
            scope = [scopes.desk(s, viewer, router)]
            if unit_id is not None:
                scope.append(Case.unit_id.in_(units.subtree(unit_id)))
            rows = s.execute(
                select(Case.id, Case.unit_id, Case.category, Case.urgency, Case.state, Case.created_at,
                       Case.accepted_at, Case.resolved_at, Case.ack_due_at, Case.resolve_due_at)
                .where(*scope, or_(Case.created_at >= since, Case.state.in_(OPEN)))
            ).all()
            reopened = set(s.scalars(
                select(distinct(CaseEvent.case_id)).join(Case, Case.id == CaseEvent.case_id)
                .where(*scope, CaseEvent.kind == "reopened", Case.created_at >= since)
            ))
            workers = self._workers(s, viewer, units, unit_id, since, now, silent_after, lang)

        total = UnitStats("all", "")
        per_township: dict[int, UnitStats] = {}
        per_village: dict[int, UnitStats] = {}
        per_dept: dict[str, UnitStats] = {}
        week_list = [first_week + timedelta(weeks=i) for i in range(weeks)]
        index = {w: i for i, w in enumerate(week_list)}
        by_category: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
        by_urgency: dict[str, list[int]] = {u: [0] * weeks for u in URGENCY_ORDER}
        for row in rows:
            buckets = [total]
            town = units.at_level(row.unit_id, "township")
            village = units.at_level(row.unit_id, "village")
            if town is not None:
                buckets.append(per_township.setdefault(town.id, UnitStats(str(town.id), town.label(lang), town)))
            if village is not None:
                buckets.append(per_village.setdefault(village.id, UnitStats(str(village.id), village.label(lang), village)))
            dept = router.department_for(row.category)
            if dept:
                buckets.append(per_dept.setdefault(dept, UnitStats(dept, dept)))
            self._count(row, buckets, now, since, row.id in reopened)
            if row.created_at >= since:
                i = index.get(week_start(row.created_at))
                if i is not None:
                    by_category[row.category][i] += 1
                    by_urgency[getattr(row.urgency, "value", row.urgency)][i] += 1
        order = lambda st: (-st.opened, -st.open_now, st.label)  # noqa: E731
        categories = dict(sorted(by_category.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
        return Stats(since, now, total, sorted(per_township.values(), key=order), sorted(per_village.values(), key=order),
                     sorted(per_dept.values(), key=order), week_list, categories, by_urgency, workers)

    @staticmethod
    def _count(row: Any, buckets: list[UnitStats], now: datetime, since: datetime, reopened: bool) -> None:
        state = getattr(row.state, "value", row.state)
        is_open = state in lifecycle.OPEN_STATES
        late = (state == "assigned" and row.ack_due_at is not None and row.ack_due_at <= now) or (
            state in ("assigned", "accepted") and row.resolve_due_at is not None and row.resolve_due_at <= now)
        in_period = row.created_at >= since
        for b in buckets:
            b.open_now += is_open
            b.overdue_now += late
            if not in_period:
                continue
            b.opened += 1
            if row.accepted_at is not None:
                b.accepted += 1
                b.accepted_on_time += row.ack_due_at is None or row.accepted_at <= row.ack_due_at
                b.accept_hours.append((row.accepted_at - row.created_at).total_seconds() / 3600)
            if row.resolved_at is not None:
                b.resolved += 1
                b.resolved_on_time += row.resolve_due_at is None or row.resolved_at <= row.resolve_due_at
                b.resolve_hours.append((row.resolved_at - row.created_at).total_seconds() / 3600)
                b.reopened += reopened

    @staticmethod
    def _workers(s: Any, viewer: Person, units: UnitMap, unit_id: int | None, since: datetime, now: datetime,
                 silent_after: timedelta, lang: str) -> list[WorkerStats]:
        """Liaison workers inside the viewer's area (and ``unit_id``): reports in the period, the last report."""
        q = select(Person.id, Person.name, Person.unit_id).where(Person.role == Role.liaison_worker,
                                                                 Person.active.is_(True))
        if viewer.role != Role.admin:
            q = q.where(Person.unit_id.in_(subtree_ids(s, viewer.unit_id)))
        if unit_id is not None:
            q = q.where(Person.unit_id.in_(units.subtree(unit_id)))
        people = s.execute(q).all()
        if not people:
            return []
        ids = [p.id for p in people]
        counts = Counter(dict(s.execute(
            select(Case.reporter_id, func.count(Case.id))
            .where(Case.reporter_id.in_(ids), Case.created_at >= since).group_by(Case.reporter_id)).all()))
        last = dict(s.execute(select(Case.reporter_id, func.max(Case.created_at))
                              .where(Case.reporter_id.in_(ids)).group_by(Case.reporter_id)).all())
        out = [WorkerStats(p.id, p.name, units.path(p.unit_id, lang), counts.get(p.id, 0), last.get(p.id),
                           last.get(p.id) is None or last[p.id] < now - silent_after) for p in people]
        return sorted(out, key=lambda w: (not w.silent, w.reports, w.name))
