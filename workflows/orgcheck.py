"""What an operator must fix in the org tree before the first report: ``lianhu check`` and the start-up log.

Why a check and not only routing's skip: routing passes over an official who cannot be reached (never
registered, switched off, blocked the bot, account gone) so no case waits on them, but then every case of
that village lands one level higher. The operator should see, before anyone reports, every post in every unit
that nobody reachable holds, and the other mistakes that quietly change where cases go:

- ``vacant``: nobody holds the post at all (a village without a grid leader, a township without a commander,
  the county without a commander or a governance centre, a department the routing config names without a
  contact, no admin);
- ``unreachable``: people hold it, but a notice reaches none of them (who and why);
- ``misplaced``: a person whose role does not fit the level of their unit (routing never looks for them there);
- ``tree``: a unit whose parent is not the level above (a grid under a township), which breaks the walk up.

Each :class:`Finding` is one line an operator can act on; ``problem`` ones make ``lianhu check`` exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, Role, Unit, UnitLevel
from workflows.routing import Router, unreachable_why

#: The post that must be held at each level for cases to reach someone there (the grid leader may sit at
#: the grid or at its village; the village is checked, a grid falls back to it).
POSTS: dict[UnitLevel, tuple[Role, ...]] = {
    UnitLevel.county: (Role.county_commander, Role.governance_operator),
    UnitLevel.township: (Role.township_commander,),
    UnitLevel.village: (Role.grid_leader,),
}
PARENT_LEVEL = {
    UnitLevel.township: UnitLevel.county,
    UnitLevel.village: UnitLevel.township,
    UnitLevel.grid: UnitLevel.village,
}
ROLE_LEVELS: dict[Role, tuple[UnitLevel, ...]] = {
    Role.grid_leader: (UnitLevel.grid, UnitLevel.village),
    Role.township_commander: (UnitLevel.township,),
    Role.county_commander: (UnitLevel.county,),
    Role.governance_operator: (UnitLevel.county,),
    Role.department_contact: (UnitLevel.county,),
    Role.liaison_worker: (UnitLevel.grid, UnitLevel.village),
}


@dataclass(frozen=True)
class Finding:
    kind: str  # vacant | unreachable | misplaced | tree
    unit_code: str
    unit_name: str
    role: str
    detail: str
    problem: bool = True  # False: worth knowing, not blocking (e.g. a second holder is reachable)

    def line(self) -> str:
        mark = "PROBLEM" if self.problem else "note"
        return f"{mark:<7} {self.unit_code} {self.unit_name}: {self.role}: {self.detail}"


def _people(s: Session) -> dict[tuple[int, Role], list[Person]]:
    out: dict[tuple[int, Role], list[Person]] = {}
    for p in s.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id)):
        out.setdefault((p.unit_id, p.role), []).append(p)
    return out


def _post(unit: Unit, role: str, holders: Iterable[Person], findings: list[Finding]) -> None:
    holders = list(holders)
    if not holders:
        findings.append(
            Finding("vacant", unit.code, unit.name, role, "nobody holds this post; cases go one level up")
        )
        return
    reasons = [(p, unreachable_why(p)) for p in holders]
    if all(why is not None for _, why in reasons):
        who = ", ".join(f"{p.code} {p.name} ({why.replace('_', ' ')})" for p, why in reasons if why)
        findings.append(
            Finding(
                "unreachable",
                unit.code,
                unit.name,
                role,
                f"nobody reachable holds it: {who}; cases skip to the next level "
                f"(fix: lianhu invite {holders[0].code})",
            )
        )


def check_org(s: Session, router: Router) -> list[Finding]:
    """Every post nobody reachable holds, and the misconfiguration that changes where cases go."""
    findings: list[Finding] = []
    units = list(s.scalars(select(Unit).order_by(Unit.id)))
    by_id = {u.id: u for u in units}
    people = _people(s)
    for unit in units:
        for role in POSTS.get(unit.level, ()):
            holders = list(people.get((unit.id, role), []))
            if role == Role.grid_leader:  # a grid leader of one of the village's grids also covers it
                holders += [p for g in units if g.parent_id == unit.id for p in people.get((g.id, role), [])]
            _post(unit, role.value, holders, findings)
        if unit.level == UnitLevel.county:
            for category, department in sorted(router.department_for_category.items()):
                contacts = [
                    p
                    for p in people.get((unit.id, Role.department_contact), [])
                    if p.department == department
                ]
                _post(unit, f"department_contact[{department}] (for {category})", contacts, findings)
        want = PARENT_LEVEL.get(unit.level)
        parent = by_id.get(unit.parent_id) if unit.parent_id is not None else None
        if want is not None and (parent is None or parent.level != want):
            where = (
                f"under {parent.code} (a {parent.level.value})" if parent is not None else "without a parent"
            )
            findings.append(
                Finding(
                    "tree",
                    unit.code,
                    unit.name,
                    unit.level.value,
                    f"a {unit.level.value} {where}; it needs a {want.value} above it",
                )
            )
    for (unit_id, role), holders in sorted(people.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        allowed = ROLE_LEVELS.get(role)
        unit = by_id.get(unit_id)
        if allowed is None or unit is None or unit.level in allowed:
            continue
        for p in holders:
            findings.append(
                Finding(
                    "misplaced",
                    unit.code,
                    unit.name,
                    role.value,
                    f"{p.code} {p.name} is a {role.value} in a {unit.level.value}; routing never "
                    f"looks for one there ({' or '.join(lv.value for lv in allowed)})",
                )
            )
    admins = [p for (_, role), ps in people.items() if role == Role.admin for p in ps]
    root = next((u for u in units if u.parent_id is None), None)
    if root is not None:
        _post(root, Role.admin.value, admins, findings)
    return findings


def unregistered_workers(s: Session) -> int:
    """Liaison workers without a Telegram chat: they cannot report yet (a note, not a problem)."""
    return len(
        list(
            s.scalars(
                select(Person.id).where(
                    Person.role == Role.liaison_worker,
                    Person.active.is_(True),
                    Person.telegram_chat_id.is_(None),
                )
            )
        )
    )
