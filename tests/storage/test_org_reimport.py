"""A re-import cannot silently break routing (issue 10, finding 7), on SQLite and PostgreSQL.

In the field run a one-row ``units.csv`` that turned a village into a township imported cleanly; its grids and
its grid leader became invalid and the next report went to the county commander. Over-long names imported on
SQLite and failed on PostgreSQL with a bare "value too long". Both are now caught with file, line and column,
before anything changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Person, Unit, UnitLevel
from storage.orgtree import OrgImportError, import_org


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_turning_a_village_into_a_township_is_refused_with_what_breaks(database, sample_org, tmp_path) -> None:
    units = _write(tmp_path, "units.csv", "code,name,name_bo,level,parent_code,default_language\n"
                                          "V0101,多卡乡,,township,C01,zh\n")
    with database.session() as s, pytest.raises(OrgImportError) as err:
        import_org(s, units)
    problems = "\n".join(err.value.problems)
    assert "units.csv:2: level: V0101 would become a township" in problems
    assert "G010101 (a grid)" in problems and "G010102 (a grid)" in problems
    assert "P110 王建国 (grid_leader)" in problems
    with database.session() as s:  # nothing changed
        assert s.scalars(select(Unit.level).where(Unit.code == "V0101")).one() == UnitLevel.village


def test_a_level_change_that_moves_its_children_and_people_too_is_accepted(database, sample_org, tmp_path) -> None:
    """The same change is fine when the file also fixes what would break (grids and people move with it)."""
    units = _write(tmp_path, "units.csv", "code,name,name_bo,level,parent_code,default_language\n"
                                          "V0101,多卡村,,village,T02,zh\n")
    with database.session() as s:
        import_org(s, units)  # a parent change with the level kept breaks nothing


@pytest.mark.parametrize(("file", "header", "row", "column"), [
    ("units.csv", "code,name,name_bo,level,parent_code,default_language", "V0101,{long},,village,T01,zh", "name"),
    ("people.csv", "code,name,role,unit_code,department,phone,ui_language,speech_language",
     "P110,{long},grid_leader,V0101,,,zh,zh", "name"),
])
def test_over_long_names_are_caught_with_file_line_and_column(database, sample_org, tmp_path, file, header, row,
                                                             column) -> None:
    long = "很" * 201
    units = _write(tmp_path, "units.csv", "code,name,name_bo,level,parent_code,default_language\n"
                   + (row.format(long=long) + "\n" if file == "units.csv" else ""))
    people = _write(tmp_path, "people.csv", header + "\n" + row.format(long=long) + "\n") if file == "people.csv" \
        else None
    with database.session() as s, pytest.raises(OrgImportError) as err:
        import_org(s, units, people)
    assert f"{file}:2: {column}: 201 characters, at most 200 fit" in "\n".join(err.value.problems)
    with database.session() as s:
        assert s.scalars(select(Person.name).where(Person.code == "P110")).one() == "王建国"
