"""A report that names one of the worker's own households is linked to it; ambiguous or foreign names are not."""

from __future__ import annotations


def test_a_named_household_is_linked(world):
    case = world.cases.file_report(world.id("P1111"), text="加措家的牦牛病了，站不起来")
    assert case.household_id == world.id("H111102")


def test_no_name_two_names_or_another_workers_household_link_nothing(world):
    plain = world.cases.file_report(world.id("P1111"), text="村里的路灯坏了")
    both = world.cases.file_report(world.id("P1111"), text="加措和曲珍两家的围栏被风吹倒了")
    assert plain.household_id is None and both.household_id is None
    # 加措 is a household of P1111, not of P1112: P1112's report names none of *its* households
    other = world.cases.file_report(world.id("P1112"), text="加措家的羊丢了")
    assert other.household_id is None


def test_an_explicit_household_wins(world):
    case = world.cases.file_report(world.id("P1111"), text="加措家的牦牛病了", household_id=world.id("H111103"))
    assert case.household_id == world.id("H111103")
