"""A household's facts as the visit card shows them: members with ages, the responsible cadre (named, else the
grid leader; vacancies skip up), and who may see the household."""

from __future__ import annotations

import pytest

from storage.models import Household, Person
from tests.workflows.downward import build
from workflows.households import household_view, may_see, responsible_cadre


@pytest.fixture
def down(world):
    return build(world)


def view_of(down, code: str):
    with down.db.session() as s:
        return household_view(s, down.cases.router, s.get(Household, down.id(code)), 2026)


def test_a_household_with_members_ages_certificates_and_cadre(down) -> None:
    view = view_of(down, "H131102")
    assert (view.code, view.head_name, view.unit_name) == ("H131102", "卓玛吉", "桑科村第一网格")
    assert view.unit_path == ("尕玛示范县", "扎西乡", "桑科村", "桑科村第一网格")
    assert [(m.name, m.relation, m.age) for m in view.members] == [("卓玛吉", "head", 2026 - 1962),
                                                                    ("旦正", "son", 2026 - 1990)]
    assert view.certificates == ("dibao",) and view.festival_marks == ("hardship",)
    assert view.livestock == {"yaks": 6, "sheep": 30, "goats": None, "horses": None}
    assert view.cadre.id == down.id("P130") and view.cadre_is_default and view.liaison.id == down.id("P1311")
    named = view_of(down, "H111106")
    assert named.cadre.id == down.id("P100") and not named.cadre_is_default


def test_a_vacant_grid_leader_post_skips_up_to_the_township_commander(down) -> None:
    with down.db.session() as s:
        s.get(Person, down.id("P130")).active = False
    assert view_of(down, "H131101").cadre.id == down.id("P100")
    with down.db.session() as s:
        for code in ("P100", "P002"):
            s.get(Person, down.id(code)).active = False
        assert responsible_cadre(s, down.cases.router, s.get(Household, down.id("H131101")), 0) is None


def test_who_may_see_a_household(down) -> None:
    with down.db.session() as s:
        hh = s.get(Household, down.id("H131101"))
        for viewer in ("P1311", "P130", "P100", "P002", "P003", "P010", "P001"):
            assert may_see(s, s.get(Person, down.id(viewer)), hh), viewer
        for outsider in ("P1312", "P110", "P200", "P2111"):
            assert not may_see(s, s.get(Person, down.id(outsider)), hh), outsider
