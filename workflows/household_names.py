"""Which household a report is about, when the worker's words name one.

A liaison worker looks after 5–12 households; "仁青家的牦牛病了" is about 仁青's household. When exactly one of
*the reporter's own* households is named in the text (its head's name, or a member's from the archive), the
case is linked to it, so the household archive lists it. Several matches, or a name that is also another of
the worker's households' names, link nothing: a wrong link is worse than none (the console can file for a
household explicitly).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import models
from storage.models import Household, Person, Role

MIN_NAME = 2  # one-character names would match everywhere


def named_household(session: Session, reporter: Person, text: str | None) -> int | None:
    if not text or reporter.role != Role.liaison_worker:
        return None
    households = session.execute(select(Household.id, Household.head_name)
                                 .where(Household.liaison_id == reporter.id)).all()
    if not households:
        return None
    names: dict[int, set[str]] = {hid: {head.strip()} for hid, head in households if head}
    member = getattr(models, "HouseholdMember", None)  # members.csv, when the archive has it
    if member is not None:
        for hid, name in session.execute(select(member.household_id, member.name)
                                         .where(member.household_id.in_(list(names)))):
            if name:
                names[hid].add(name.strip())
    owners: dict[str, set[int]] = {}
    for hid, ns in names.items():
        for n in ns:
            owners.setdefault(n, set()).add(hid)
    # every household any name in the text could mean; a name shared by two households makes both candidates
    hits = {hid for n, hids in owners.items() if len(n) >= MIN_NAME and n in text for hid in hids}
    return next(iter(hits)) if len(hits) == 1 else None
