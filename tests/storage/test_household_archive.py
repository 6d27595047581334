"""The household archive in the org CSVs: the responsible cadre, certificates, festival-visit marks, livestock,
phone (households.csv) and members with relation and birth year (members.csv) — imported all-or-nothing with
``file:line: column`` problems, exported in the words a clerk types, and older files still importing."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Household, HouseholdMember, Person, Unit
from storage.orgtree import MEMBER_COLUMNS, OrgImportError, export_org, import_org_dir

UNITS = """code,name,name_bo,level,parent_code,default_language
C1,测试县,,county,,zh
T1,一乡,,township,C1,zh
T2,二乡,,township,C1,zh
V1,一村,,village,T1,bo
V2,二村,,village,T2,zh
G1,一网格,,grid,V1,bo
"""
PEOPLE = """code,name,role,unit_code,department,phone,ui_language,speech_language
A1,管理员,admin,C1,,,zh,
L1,扎西,liaison_worker,G1,,,bo,bo
GL1,卓玛,grid_leader,V1,,,,
GL2,多杰,grid_leader,V2,,,,
TC1,索南,township_commander,T1,,,,
"""
HEADER = "code,head_name,unit_code,liaison_code,members,note,phone,cadre_code,certificates,festival_visit,yaks,sheep,goats,horses\n"
HOUSEHOLDS = HEADER + (
    "H1,多杰,G1,L1,3,,139 0000 1111,TC1,低保、残疾,独居老人,12,80,,2\n"
    "H2,拉毛,G1,L1,1,,,,五保户,是,0,0,0,0\n"
    "H3,次仁,G1,L1,2,,,,,否,,,,\n"
)
MEMBERS = """household_code,name,relation,birth_year,gender,note
H1,多杰,户主,1958,男,
H1,卓玛,妻子,1961,女,残疾证 二级
H1,扎西,son,1990,m,
H2,拉毛,户主,1941,女,
"""


def write(folder: Path, *, units: str = UNITS, people: str = PEOPLE, households: str = HOUSEHOLDS,
          members: str | None = MEMBERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units.csv").write_text(units, encoding="utf-8")
    (folder / "people.csv").write_text(people, encoding="utf-8")
    (folder / "households.csv").write_text(households, encoding="utf-8")
    if members is not None:
        (folder / "members.csv").write_text(members, encoding="utf-8")
    return folder


def problems(db: Database, folder: Path) -> list[str]:
    with pytest.raises(OrgImportError) as err, db.session() as s:
        import_org_dir(s, folder)
    return err.value.problems


def household(db: Database, code: str) -> dict:
    with db.session() as s:
        h = s.scalars(select(Household).where(Household.code == code)).one()
        return {
            "phone": h.phone, "cadre": h.cadre.code if h.cadre else None, "certificates": h.certificates,
            "festival": h.festival_marks, "livestock": (h.yaks, h.sheep, h.goats, h.horses),
            "members": [(m.name, m.relation, m.birth_year, m.gender, m.note) for m in h.member_rows],
        }


def test_archive_columns_and_members_are_imported_as_codes(database: Database, tmp_path) -> None:
    with database.session() as s:
        summary = import_org_dir(s, write(tmp_path / "org"))
    assert summary.households.created == 3 and summary.members.created == 4
    h1 = household(database, "H1")
    assert h1["phone"] == "139 0000 1111" and h1["cadre"] == "TC1"
    assert h1["certificates"] == ["dibao", "disability"] and h1["festival"] == ["elderly_alone"]
    assert h1["livestock"] == (12, 80, None, 2)
    assert h1["members"] == [("多杰", "head", 1958, "m", None), ("卓玛", "spouse", 1961, "f", "残疾证 二级"),
                             ("扎西", "son", 1990, "m", None)]
    h2, h3 = household(database, "H2"), household(database, "H3")
    assert h2["certificates"] == ["wubao"] and h2["festival"] == ["other"] and h2["livestock"] == (0, 0, 0, 0)
    assert h3["certificates"] is None and h3["festival"] is None and h3["members"] == [] and h3["cadre"] is None


def test_reimport_changes_nothing_and_a_members_file_sets_exactly_those_members(database: Database, tmp_path) -> None:
    folder = write(tmp_path / "org")
    with database.session() as s:
        import_org_dir(s, folder)
    with database.session() as s:
        again = import_org_dir(s, folder)
    assert (again.households.unchanged, again.members.unchanged, again.members.created) == (3, 4, 0)
    # 扎西 moved away, 卓玛's note corrected, a grandchild born: only H1 is listed, H2 keeps its member
    write(folder, members="household_code,name,relation,birth_year,gender,note\n"
                          "H1,多杰,户主,1958,男,\nH1,卓玛,配偶,1961,女,残疾证 一级\nH1,才让,孙子,2020,男,\n")
    with database.session() as s:
        changed = import_org_dir(s, folder)
    assert (changed.members.created, changed.members.updated, changed.members.unchanged,
            changed.members.removed) == (1, 1, 1, 1)
    assert "1 removed" in str(changed)
    assert [m[0] for m in household(database, "H1")["members"]] == ["多杰", "卓玛", "才让"]
    assert household(database, "H1")["members"][1][4] == "残疾证 一级"
    assert household(database, "H2")["members"] == [("拉毛", "head", 1941, "f", None)]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(HouseholdMember)) == 4


def test_an_older_households_file_still_imports_and_keeps_the_archive_facts(database: Database, tmp_path) -> None:
    folder = write(tmp_path / "org")
    with database.session() as s:
        import_org_dir(s, folder)
    old = "code,head_name,unit_code,liaison_code,members,note\nH1,多杰,G1,L1,4,搬到镇上\n"
    write(folder, households=old, members=None)
    (folder / "members.csv").unlink()
    with database.session() as s:
        summary = import_org_dir(s, folder)
    assert summary.households.updated == 1 and summary.members.created == 0
    h1 = household(database, "H1")
    assert h1["cadre"] == "TC1" and h1["certificates"] == ["dibao", "disability"] and len(h1["members"]) == 3
    # a fresh database takes the older file too (facts simply empty)
    with database.session() as s:
        for model in (HouseholdMember, Household, Person, Unit):
            s.execute(model.__table__.delete())
    with database.session() as s:
        assert import_org_dir(s, folder).households.created == 1
    assert household(database, "H1")["phone"] is None


def test_export_writes_the_words_a_clerk_types_and_round_trips(database: Database, tmp_path) -> None:
    with database.session() as s:
        import_org_dir(s, write(tmp_path / "org"))
    out = tmp_path / "out"
    with database.session() as s:
        counts = export_org(s, out)
    assert counts["members.csv"] == 4
    households = (out / "households.csv").read_text("utf-8-sig").splitlines()
    assert households[1] == "H1,多杰,G1,L1,3,,139 0000 1111,TC1,低保、残疾,独居老人,12,80,,2"
    assert households[2] == "H2,拉毛,G1,L1,1,,,,五保,是,0,0,0,0"
    members = (out / "members.csv").read_text("utf-8-sig").splitlines()
    assert members[0] == ",".join(MEMBER_COLUMNS)
    assert members[1:3] == ["H1,多杰,户主,1958,男,", "H1,卓玛,配偶,1961,女,残疾证 二级"]
    with database.session() as s:
        summary = import_org_dir(s, out)
    assert summary.households.updated == 0 and summary.members.updated == summary.members.created == 0


def test_the_sample_county_carries_a_realistic_archive(sample_org, database: Database) -> None:
    with database.session() as s:
        households = s.scalars(select(Household)).all()
        members = s.scalars(select(HouseholdMember)).all()
        marked = [h for h in households if h.festival_marks]
        relations = Counter(m.relation for m in members)
        certificates = Counter(c for h in households for c in (h.certificates or []))
        cadres = {h.cadre.role.value for h in households if h.cadre is not None}
        heads = Counter(m.household_id for m in members if m.relation == "head")
        with_members = {m.household_id for m in members}
    assert len(households) == 104 and len(with_members) == 104  # every household lists its members
    assert all(n == 1 for n in heads.values()) and len(heads) == 104
    assert {"dibao", "wubao", "disability"} <= set(certificates)
    assert len(marked) >= 20 and cadres == {"township_commander"}
    assert relations["head"] == 104 and relations["spouse"] > 40
    assert all(1900 <= (m.birth_year or 1900) <= date.today().year for m in members)
    assert all(h.phone is None or h.phone.isdigit() for h in households)


BAD = [
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,GL9,,,,,,\n"},
                 "households.csv:5: cadre_code: unknown person 'GL9'", id="unknown-cadre"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,L1,,,,,,\n"},
                 "households.csv:5: cadre_code: L1 is a liaison_worker; the responsible cadre must be an official",
                 id="cadre-not-official"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,GL2,,,,,,\n"},
                 "households.csv:5: cadre_code: GL2 works in V2, which does not include G1", id="cadre-elsewhere"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,,低保、富裕,,,,,\n"},
                 "households.csv:5: certificates: 富裕 not known; use 低保 (dibao), 五保 (wubao)",
                 id="unknown-certificate"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,,,大概,,,,\n"},
                 "households.csv:5: festival_visit: 大概 not known", id="unknown-festival-mark"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,,,,三十,,,\n"},
                 "households.csv:5: yaks: '三十' is not a number of animals", id="bad-livestock"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,,,,,,-5,,\n"},
                 "households.csv:5: sheep: '-5' is not a number of animals", id="negative-livestock"),
    pytest.param({"households": HOUSEHOLDS + "H4,某,G1,L1,1,,电话坏了,,,,,,,\n"},
                 "households.csv:5: phone: '电话坏了' is not a phone number", id="bad-phone"),
    pytest.param({"members": MEMBERS + "H9,某,户主,1970,男,\n"},
                 "members.csv:6: household_code: unknown household 'H9'", id="member-unknown-household"),
    pytest.param({"members": MEMBERS + "H3,某,表哥,1970,男,\n"},
                 "members.csv:6: relation: '表哥' not known; use 户主 (head)", id="member-bad-relation"),
    pytest.param({"members": MEMBERS + "H1,某,户主,1970,男,\n"},
                 "members.csv:6: relation: a second head of household H1 (the first is on line 2)", id="two-heads"),
    pytest.param({"members": MEMBERS + f"H3,某,儿子,{date.today().year + 1},男,\n"},
                 "members.csv:6: birth_year:", id="born-in-the-future"),
    pytest.param({"members": MEMBERS + "H3,某,儿子,九零年,男,\n"},
                 "members.csv:6: birth_year: '九零年' is not a year of birth", id="birth-year-not-a-number"),
    pytest.param({"members": MEMBERS + "H3,某,儿子,1990,公,\n"},
                 "members.csv:6: gender: '公' not known; use 男 (m) or 女 (f)", id="bad-gender"),
    pytest.param({"members": MEMBERS + "H1,扎西,儿子,1990,男,\n"},
                 "members.csv:6: name: 扎西 born 1990 is listed twice in household H1 (also on line 4)",
                 id="member-twice"),
    pytest.param({"members": MEMBERS + "H3,,儿子,1990,男,\n"}, "members.csv:6: name: is required",
                 id="member-name-required"),
    pytest.param({"members": "household_code,name,relation\nH1,多杰,户主\n"},
                 "members.csv:1: missing column(s) birth_year", id="members-missing-column"),
]


@pytest.mark.parametrize(("files", "expected"), BAD)
def test_bad_archive_data_is_rejected_with_file_line_and_column(database: Database, tmp_path, files, expected) -> None:
    listed = problems(database, write(tmp_path / "org", **files))
    assert any(p.startswith(expected) for p in listed), listed
    with database.session() as s:  # all-or-nothing
        assert s.scalar(select(func.count()).select_from(Household)) == 0
        assert s.scalar(select(func.count()).select_from(HouseholdMember)) == 0


def test_members_may_name_households_already_in_the_database(database: Database, tmp_path) -> None:
    folder = write(tmp_path / "org", members=None)
    with database.session() as s:
        import_org_dir(s, folder)
    later = tmp_path / "later"
    later.mkdir()
    (later / "units.csv").write_text(UNITS, encoding="utf-8")
    (later / "members.csv").write_text("household_code,name,relation,birth_year\nH3,次仁,户主,\n", encoding="utf-8")
    with database.session() as s:
        assert import_org_dir(s, later).members.created == 1
    assert household(database, "H3")["members"] == [("次仁", "head", None, None, None)]


def test_every_vocabulary_code_has_a_label_in_every_language() -> None:
    from i18n import UI_LANGUAGES, catalogue
    from storage import household_fields as hf

    groups = {"certificate": hf.CERTIFICATES, "festival_mark": hf.FESTIVAL_MARKS, "relation": hf.RELATIONS,
              "gender": hf.GENDERS, "livestock": dict.fromkeys(hf.LIVESTOCK)}
    for lang in UI_LANGUAGES:
        missing = [f"{g}.{c}" for g, codes in groups.items() for c in codes if f"{g}.{c}" not in catalogue(lang)]
        assert missing == [], (lang, missing)
