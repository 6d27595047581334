"""The lists of :mod:`workflows.scopes` agree with each other for every role: /overdue ⊆ /cases, the counts are
the list sizes, the ledger is the desk in every state, and every listed case can be opened.

The finding (issue 10, #4): after his cases escalated, a grid leader's /cases said "nothing to do" while
/overdue listed three overdue urgent cases in his village.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.scheduler import DueWork
from workflows.scopes import DeskCounts

ROLES = ("P110", "P120", "P100", "P200", "P002", "P003", "P010", "P001", "P1111")


def _desk(world, code: str, **kw) -> list[int]:
    return [c.id for c in world.cases.list_cases(world.id(code), scope="desk", limit=1000, **kw)]


def test_cases_escalated_away_stay_on_the_grid_leaders_desk_and_overdue_agrees(world):
    leader, commander = world.id("P110"), world.id("P100")
    urgent = [world.cases.file_report(world.id("P1111"), text=f"{n}号羊圈着火了").id for n in range(3)]
    world.clock.advance(timedelta(minutes=31))  # the 30-minute accept deadline passes: all three escalate
    assert DueWork(world.db, world.clock, world.cases).run_once().escalations == 3
    assert {world.cases.get_case(i, leader).owner.id for i in urgent} == {commander}
    world.clock.advance(timedelta(hours=25))  # and the resolve deadline passes too: overdue everywhere

    desk = _desk(world, "P110")
    overdue = _desk(world, "P110", overdue_only=True)
    assert set(desk) == set(urgent)  # /cases is no longer empty
    assert set(overdue) == set(urgent)
    assert world.cases.desk_counts(leader) == DeskCounts(mine=0, watched=3, other=0, overdue=3)
    assert {c.id for c in world.cases.list_cases(leader, scope="watched", limit=10)} == set(urgent)
    assert world.cases.list_cases(leader, scope="mine") == []
    # the commander has them as his own
    assert world.cases.desk_counts(commander).mine == 3
    assert _desk(world, "P100")[:3] == sorted(_desk(world, "P100")[:3])


def test_a_department_contact_watches_its_escalated_case(world):
    contact = world.id("P010")  # health
    case = world.cases.file_report(world.id("P1111"), text="孩子病了 很急")  # urgent medical → health contact
    assert world.cases.get_case(case.id, contact).owner.id == contact
    world.cases.escalate(case.id, contact, "需要县里协调")
    assert _desk(world, "P010") == [case.id]
    assert world.cases.desk_counts(contact).watched == 1
    assert world.cases.get_case(case.id, contact).allowed_actions == ()  # sees it, no longer handles it


def _scenario(world) -> None:
    """A mixed county: owned, escalated, accepted, overdue, resolved, closed, rejected, another township."""
    w = world.cases
    a = w.file_report(world.id("P1111"), text="路灯坏了").id
    w.file_report(world.id("P1112"), text="着火了")
    c = w.file_report(world.id("P1211"), text="孩子病了")
    w.file_report(world.id("P2111"), text="路灯坏了")
    e = w.file_report(world.id("P1121"), text="水管冻裂了").id
    w.accept(a, world.id("P110"))
    w.escalate(e, w.get_case(e, world.id("P1121")).owner.id, "村里修不了")
    world.clock.advance(timedelta(minutes=40))
    DueWork(world.db, world.clock, w).run_once()
    w.resolve(a, world.id("P110"), "修好了")
    w.file_report(world.id("P1222"), text="想问问政策")
    r = w.file_report(world.id("P1221"), text="他家的狗叫").id
    w.reject(r, w.get_case(r, world.id("P1221")).owner.id, "不是我们管的")
    world.clock.advance(timedelta(days=8))
    assert c


@pytest.mark.parametrize("code", ROLES)
def test_every_list_agrees_for_every_role(world, code):
    _scenario(world)
    viewer = world.id(code)
    desk = _desk(world, code)
    overdue = _desk(world, code, overdue_only=True)
    everything = _desk(world, code, open_only=False)
    counts = world.cases.desk_counts(viewer)
    assert set(overdue) <= set(desk) <= set(everything)
    assert counts.total == len(desk) == world.cases.count_cases(viewer, scope="desk")
    assert counts.overdue == len(overdue) == world.cases.count_cases(viewer, scope="desk", overdue_only=True)
    mine = {c.id for c in world.cases.list_cases(viewer, scope="mine", limit=1000)}
    watched = {c.id for c in world.cases.list_cases(viewer, scope="watched", limit=1000)}
    assert mine | watched <= set(desk) and not mine & watched
    assert (counts.mine, counts.watched) == (len(mine), len(watched))
    assert sorted(r["case_id"] for r in world.cases.ledger(viewer)) == sorted(everything)
    for case_id in everything:  # nothing listed that the viewer cannot open
        assert world.cases.get_case(case_id, viewer).id == case_id
    groups = [0 if i in mine else 1 if i in watched else 2 for i in desk]
    assert groups == sorted(groups)  # mine, then watched, then the rest of the area


def test_unknown_scope_is_refused_and_the_old_name_still_works(world):
    from workflows.errors import ValidationError

    assert world.cases.list_cases(world.id("P002"), scope="jurisdiction") == []
    with pytest.raises(ValidationError):
        world.cases.count_cases(world.id("P002"), scope="everything")
