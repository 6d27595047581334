"""Org tree CSV import/export: the sample county, idempotent upsert, every validation error, round trip."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Household, HouseholdMember, Person, Role, Unit, UnitLevel
from storage.orgtree import (
    HOUSEHOLD_COLUMNS,
    PEOPLE_COLUMNS,
    SAMPLE_DIR,
    UNIT_COLUMNS,
    OrgImportError,
    export_org,
    import_org,
    import_org_dir,
)

UNITS = """code,name,name_bo,level,parent_code,default_language
C1,测试县,,county,,zh
T1,一乡,,township,C1,zh
V1,一村,,village,T1,bo
G1,一网格,,grid,V1,bo
"""
PEOPLE = """code,name,role,unit_code,department,phone,ui_language,speech_language
A1,管理员,admin,C1,,,zh,
L1,扎西,liaison_worker,G1,,,bo,bo
GL1,卓玛,grid_leader,V1,,,,
"""
HOUSEHOLDS = """code,head_name,unit_code,liaison_code,members,note
H1,多杰,G1,L1,4,低保户
"""


def write_tree(folder: Path, units: str = UNITS, people: str = PEOPLE, households: str = HOUSEHOLDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units.csv").write_text(units, encoding="utf-8")
    (folder / "people.csv").write_text(people, encoding="utf-8")
    (folder / "households.csv").write_text(households, encoding="utf-8")
    return folder


def problems_of(db: Database, folder: Path) -> list[str]:
    with pytest.raises(OrgImportError) as err, db.session() as s:
        import_org_dir(s, folder)
    return err.value.problems


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# ------------------------------------------------------------------------------------------- sample tree


def test_sample_tree_imports_with_the_expected_shape(sample_org, database: Database) -> None:
    with database.session() as s:
        levels = Counter(s.scalars(select(Unit.level)))
        roles = Counter(s.scalars(select(Person.role)))
        depts = set(s.scalars(select(Person.department).where(Person.role == Role.department_contact)))
        grids = s.scalars(select(Unit).where(Unit.level == UnitLevel.grid)).all()
        per_liaison = Counter(s.scalars(select(Household.liaison_id)))
        c01 = s.scalars(select(Unit).where(Unit.code == "C01")).one()
        assert c01.name == "尕玛示范县" and c01.name_bo
        assert all(g.parent.level is UnitLevel.village for g in grids)
        liaison_units = {p.unit.level for p in s.scalars(select(Person).where(Person.role == Role.liaison_worker))}
    assert levels == {UnitLevel.county: 1, UnitLevel.township: 2, UnitLevel.village: 4, UnitLevel.grid: 8}
    assert roles == {
        Role.admin: 1,
        Role.county_commander: 1,
        Role.governance_operator: 2,
        Role.department_contact: 8,
        Role.township_commander: 2,
        Role.grid_leader: 4,
        Role.liaison_worker: 16,
    }
    assert depts == {"health", "civil_affairs", "emergency", "water", "education", "agriculture", "housing",
                     "public_security"}
    assert liaison_units == {UnitLevel.grid}
    assert len(per_liaison) == 16 and all(5 <= n <= 8 for n in per_liaison.values())
    assert sample_org["P1111"] == sample_org.person("P1111")
    assert sample_org.unit("G010101") != sample_org.unit("V0101")
    with pytest.raises(KeyError, match="ZZZ"):
        sample_org["ZZZ"]


def test_reimporting_the_sample_changes_nothing(sample_org, database: Database) -> None:
    with database.session() as s:
        summary = import_org_dir(s, SAMPLE_DIR)
    assert (summary.units.created, summary.units.updated, summary.units.unchanged) == (0, 0, 15)
    assert (summary.people.created, summary.people.updated, summary.people.unchanged) == (0, 0, 34)
    assert summary.households.unchanged == 104 and summary.households.created == 0
    assert count(database, Unit) == 15 and count(database, Person) == 34 and count(database, Household) == 104


# ------------------------------------------------------------------------------------------- import


def test_import_creates_then_updates_by_code_and_keeps_telegram_binding(database: Database, tmp_path) -> None:
    folder = write_tree(tmp_path / "org")
    with database.session() as s:
        first = import_org_dir(s, folder)
    assert (first.units.created, first.people.created, first.households.created) == (4, 3, 1)
    with database.session() as s:
        s.scalars(select(Person).where(Person.code == "L1")).one().telegram_user_id = 777
    write_tree(folder, people=PEOPLE.replace("L1,扎西,", "L1,扎西才让,"), households=HOUSEHOLDS.replace(",4,", ",5,"))
    with database.session() as s:
        second = import_org_dir(s, folder)
    assert (second.people.updated, second.people.unchanged) == (1, 2)
    assert (second.households.updated, second.units.unchanged) == (1, 4)
    assert "1 updated" in str(second)
    with database.session() as s:
        l1 = s.scalars(select(Person).where(Person.code == "L1")).one()
        assert (l1.name, l1.telegram_user_id) == ("扎西才让", 777)
        assert s.scalars(select(Household.members)).one() == 5


def test_import_accepts_a_bom_and_blank_lines(database: Database, tmp_path) -> None:
    folder = write_tree(tmp_path / "org", units=UNITS + "\n")
    (folder / "units.csv").write_bytes(b"\xef\xbb\xbf" + UNITS.encode("utf-8"))
    with database.session() as s:
        summary = import_org_dir(s, folder)
    assert summary.units.created == 4


def test_people_and_households_files_are_optional(database: Database, tmp_path) -> None:
    folder = tmp_path / "org"
    folder.mkdir()
    (folder / "units.csv").write_text(UNITS, encoding="utf-8")
    with database.session() as s:
        summary = import_org_dir(s, folder)
    assert summary.units.created == 4 and summary.people.created == 0


def test_later_files_may_refer_to_units_already_in_the_database(database: Database, tmp_path) -> None:
    with database.session() as s:
        import_org_dir(s, write_tree(tmp_path / "one"))
    more = tmp_path / "two"
    more.mkdir()
    (more / "units.csv").write_text(
        "code,name,name_bo,level,parent_code,default_language\nG2,二网格,,grid,V1,\n", encoding="utf-8"
    )
    (more / "people.csv").write_text(
        "code,name,role,unit_code,department,phone,ui_language,speech_language\nL2,拉毛,liaison_worker,G2,,,,\n",
        encoding="utf-8",
    )
    with database.session() as s:
        summary = import_org_dir(s, more)
        g2 = s.scalars(select(Unit).where(Unit.code == "G2")).one()
        assert g2.parent.code == "V1" and g2.default_language == "zh"
    assert summary.units.created == 1 and summary.people.created == 1


BAD_CASES = [
    pytest.param(
        {"units": UNITS + "V2,二村,,village,T9,zh\n"}, "units.csv:6: parent_code: unknown unit 'T9'", id="unknown-parent"
    ),
    pytest.param(
        {"units": UNITS + "V2,二村,,hamlet,T1,zh\n"},
        "units.csv:6: level: 'hamlet' is not one of county, township, village, grid",
        id="bad-level",
    ),
    pytest.param(
        {"units": UNITS + "G2,二网格,,grid,T1,zh\n"},
        "units.csv:6: parent_code: a grid cannot sit under T1 (a township); it needs a village",
        id="level-does-not-fit",
    ),
    pytest.param(
        {"units": UNITS + "T2,二乡,,township,,zh\n"},
        "units.csv:6: parent_code: a township needs a parent county",
        id="missing-parent",
    ),
    pytest.param(
        {"units": UNITS.replace("C1,测试县,,county,,zh", "C1,测试县,,county,G1,zh")},
        "units.csv:2: parent_code: cycle in the tree: C1 -> G1 -> V1 -> T1 -> C1",
        id="cycle",
    ),
    pytest.param(
        {"units": UNITS + "T1,又一乡,,township,C1,zh\n"},
        "units.csv:6: code: duplicate code 'T1' (also on line 3)",
        id="duplicate-code",
    ),
    pytest.param(
        {"units": UNITS.replace("county,,zh", "county,,fr")},
        "units.csv:2: default_language: 'fr' is not one of zh, bo",
        id="bad-language",
    ),
    pytest.param(
        {"people": PEOPLE + "X1,某人,mayor,C1,,,,\n"},
        "people.csv:5: role: 'mayor' is not one of liaison_worker, grid_leader",
        id="bad-role",
    ),
    pytest.param(
        {"people": PEOPLE + "X1,某人,liaison_worker,G7,,,,\n"},
        "people.csv:5: unit_code: unknown unit 'G7'",
        id="person-unknown-unit",
    ),
    pytest.param(
        {"people": PEOPLE + "X1,某人,township_commander,V1,,,,\n"},
        "people.csv:5: unit_code: a township_commander belongs to a township unit, but V1 is a village",
        id="role-at-wrong-level",
    ),
    pytest.param(
        {"people": PEOPLE + "X1,某人,department_contact,C1,,,,\n"},
        "people.csv:5: department: is required for a department_contact",
        id="department-missing",
    ),
    pytest.param(
        {"households": HOUSEHOLDS + "H2,次仁,G1,GL1,3,\n"},
        "households.csv:3: liaison_code: GL1 is a grid_leader, not a liaison_worker",
        id="household-liaison-not-liaison",
    ),
    pytest.param(
        {"households": HOUSEHOLDS + "H2,次仁,G1,L9,3,\n"},
        "households.csv:3: liaison_code: unknown person 'L9'",
        id="household-unknown-liaison",
    ),
    pytest.param(
        {"households": HOUSEHOLDS + "H2,次仁,G1,L1,three,\n"},
        "households.csv:3: members: 'three' is not a number of people",
        id="household-bad-members",
    ),
    pytest.param(
        {"households": HOUSEHOLDS + "H2,,G1,L1,3,\n"},
        "households.csv:3: head_name: is required",
        id="required-value",
    ),
    pytest.param(
        {"units": UNITS.replace("parent_code,", "parent,")},
        "units.csv:1: missing column(s) parent_code",
        id="missing-column",
    ),
    pytest.param(
        {"people": PEOPLE.replace("speech_language", "speech_language,remark")},
        "people.csv:1: unknown column(s) remark",
        id="unknown-column",
    ),
    pytest.param(
        {"units": UNITS + "V2,二村,,village,T1,zh,extra\n"},
        "units.csv:6: more values than the 6 columns",
        id="extra-values",
    ),
]


@pytest.mark.parametrize(("files", "expected"), BAD_CASES)
def test_bad_files_are_rejected_with_file_line_and_column(database: Database, tmp_path, files, expected) -> None:
    folder = write_tree(tmp_path / "org", **files)
    problems = problems_of(database, folder)
    assert any(p.startswith(expected) for p in problems), problems
    # all-or-nothing: nothing at all was written
    assert count(database, Unit) == 0 and count(database, Person) == 0 and count(database, Household) == 0


def test_every_problem_is_listed_at_once(sqlite_database: Database, tmp_path) -> None:
    folder = write_tree(
        tmp_path / "org",
        units=UNITS + "V2,二村,,hamlet,T1,zh\n",
        people=PEOPLE + "X1,某人,mayor,C1,,,,\n",
        households=HOUSEHOLDS + "H2,次仁,G1,L9,3,\n",
    )
    with pytest.raises(OrgImportError) as err, sqlite_database.session() as s:
        import_org_dir(s, folder)
    assert len(err.value.problems) == 3
    assert "3 problem(s)" in str(err.value) and "nothing was imported" in str(err.value)


def test_not_utf8_is_a_clear_error(sqlite_database: Database, tmp_path) -> None:
    folder = write_tree(tmp_path / "org")
    (folder / "units.csv").write_bytes(UNITS.encode("gbk"))
    problems = problems_of(sqlite_database, folder)
    assert problems[0].startswith("units.csv: not UTF-8 text") and "CSV UTF-8" in problems[0]


def test_missing_folder_and_empty_file(sqlite_database: Database, tmp_path) -> None:
    assert "not a folder" in problems_of(sqlite_database, tmp_path / "nope")[0]
    folder = write_tree(tmp_path / "org", units="")
    assert problems_of(sqlite_database, folder)[0].startswith("units.csv: the file is empty")


def test_import_org_takes_explicit_paths(sqlite_database: Database, tmp_path) -> None:
    folder = write_tree(tmp_path / "org")
    with sqlite_database.session() as s:
        summary = import_org(s, folder / "units.csv", folder / "people.csv", folder / "households.csv")
    assert (summary.units.created, summary.people.created, summary.households.created) == (4, 3, 1)


# ------------------------------------------------------------------------------------------- export


def test_export_round_trips_the_sample(sample_org, database: Database, tmp_path) -> None:
    out = tmp_path / "export"
    with database.session() as s:
        counts = export_org(s, out)
    assert counts == {"units.csv": 15, "people.csv": 34, "households.csv": 104, "members.csv": 400}
    raw = (out / "units.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel/WPS show Chinese and Tibetan correctly
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header == ",".join(UNIT_COLUMNS)
    assert (out / "people.csv").read_text("utf-8-sig").splitlines()[0] == ",".join(PEOPLE_COLUMNS)
    assert (out / "households.csv").read_text("utf-8-sig").splitlines()[0] == ",".join(HOUSEHOLD_COLUMNS)

    # Same rows as the shipped sample (order aside) ...
    for name in ("units.csv", "people.csv", "households.csv", "members.csv"):
        shipped = set((SAMPLE_DIR / name).read_text("utf-8-sig").splitlines())
        exported = set((out / name).read_text("utf-8-sig").splitlines())
        assert exported == shipped, name
    # ... and re-importing the export changes nothing.
    with database.session() as s:
        summary = import_org_dir(s, out)
    assert summary.units.unchanged == 15 and summary.people.unchanged == 34 and summary.households.unchanged == 104
    assert summary.units.updated == summary.people.updated == summary.households.updated == 0
    assert (summary.members.unchanged, summary.members.created, summary.members.removed) == (400, 0, 0)


def test_export_then_import_into_an_empty_database(sample_org, database: Database, tmp_path) -> None:
    out = tmp_path / "export"
    with database.session() as s:
        export_org(s, out)
    shutil.copytree(out, tmp_path / "copy")
    with database.session() as s:
        for model in (HouseholdMember, Household, Person, Unit):
            s.execute(model.__table__.delete())
    with database.session() as s:
        summary = import_org_dir(s, tmp_path / "copy")
    assert (summary.units.created, summary.people.created, summary.households.created) == (15, 34, 104)
    assert summary.members.created == 400
