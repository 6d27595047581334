"""Import and export the org tree (units, people, households and their members) as four CSV files.

Why CSV: county staff keep these lists in spreadsheets (Excel/WPS); CSV is what they can produce and check.
Hence:
- files may be UTF-8 with or without a BOM (Excel writes one); we *export* with a BOM so Excel opens the
  Chinese and Tibetan text correctly;
- every problem is reported as ``file:line: column: problem`` and *all* problems are listed at once, so one
  round of fixes is enough;
- the import is all-or-nothing: everything is validated before anything is written, and the caller's
  session/transaction holds all writes;
- it is an idempotent upsert by ``code``: importing the same files twice changes nothing; rows missing from
  the files are left alone (never deleted: cases point at them); people's Telegram bindings are kept.

Columns (see docs/design.md):
- ``units.csv``: code,name,name_bo,level,parent_code,default_language
- ``people.csv``: code,name,role,unit_code,department,phone,ui_language,speech_language
- ``households.csv``: code,head_name,unit_code,liaison_code,members,note, then the archive columns
  phone,cadre_code,certificates,festival_visit,yaks,sheep,goats,horses (each may be left out of the header:
  an older file without them still imports, and leaves those facts as they are)
- ``members.csv``: household_code,name,relation,birth_year[,gender,note] — one row per person, so a clerk adds
  a family member by adding a line rather than a column; a household listed there gets exactly those members.
Multi-valued cells (certificates, festival_visit) take Chinese words or codes separated by 、 or ; (see
:mod:`storage.household_fields`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage import household_fields as hf
from storage.models import Household, HouseholdMember, Person, Role, Unit, UnitLevel

SAMPLE_DIR = Path(__file__).with_name("sample")

UNITS_FILE, PEOPLE_FILE, HOUSEHOLDS_FILE = "units.csv", "people.csv", "households.csv"
MEMBERS_FILE = "members.csv"
UNIT_COLUMNS = ("code", "name", "name_bo", "level", "parent_code", "default_language")
PEOPLE_COLUMNS = ("code", "name", "role", "unit_code", "department", "phone", "ui_language", "speech_language")
#: The archive columns may be missing from an older households.csv header (then those facts are left alone).
HOUSEHOLD_ARCHIVE_COLUMNS = ("phone", "cadre_code", "certificates", "festival_visit", *hf.LIVESTOCK)
HOUSEHOLD_COLUMNS = ("code", "head_name", "unit_code", "liaison_code", "members", "note", *HOUSEHOLD_ARCHIVE_COLUMNS)
MEMBER_COLUMNS = ("household_code", "name", "relation", "birth_year", "gender", "note")
MEMBER_OPTIONAL_COLUMNS = ("gender", "note")

#: Who may be a household's responsible cadre (the one who owes it the six must-visits).
CADRE_ROLES = frozenset({Role.grid_leader, Role.township_commander, Role.county_commander,
                         Role.department_contact, Role.governance_operator})
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]*$")
OLDEST_BIRTH_YEAR = 1900

LEVEL_ORDER = (UnitLevel.county, UnitLevel.township, UnitLevel.village, UnitLevel.grid)
SPEECH_LANGUAGES = ("zh", "bo")
UI_LANGUAGES = ("zh", "bo", "en")

# Where each role may sit. Routing depends on it (a grid leader is looked up at the grid, then the village;
# commanders at their township/county), so a misplaced person would silently break routing.
ROLE_LEVELS: dict[Role, tuple[UnitLevel, ...]] = {
    Role.liaison_worker: (UnitLevel.grid, UnitLevel.village),
    Role.grid_leader: (UnitLevel.grid, UnitLevel.village),
    Role.township_commander: (UnitLevel.township,),
    Role.county_commander: (UnitLevel.county,),
    Role.governance_operator: (UnitLevel.county,),
    Role.department_contact: (UnitLevel.county,),
    Role.admin: tuple(LEVEL_ORDER),
}


class OrgImportError(ValueError):
    """The files are not a valid org tree. ``problems`` lists every ``file:line: column: problem``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in the org tree files, nothing was imported:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # only members: a household listed in members.csv gets exactly the members listed

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return text + (f", {self.removed} removed" if self.removed else "")


@dataclass
class ImportSummary:
    units: Counts = field(default_factory=Counts)
    people: Counts = field(default_factory=Counts)
    households: Counts = field(default_factory=Counts)
    members: Counts = field(default_factory=Counts)

    def __str__(self) -> str:
        return (f"units: {self.units}; people: {self.people}; households: {self.households}; "
                f"members: {self.members}")


@dataclass
class _Row:
    file: str
    line: int
    values: dict[str, str | None]

    def get(self, column: str) -> str | None:
        return self.values.get(column)

    def has(self, column: str) -> bool:
        """Whether the file has this column at all (an optional column may be left out of the header)."""
        return column in self.values

    def where(self, column: str) -> str:
        return f"{self.file}:{self.line}: {column}"


# ----------------------------------------------------------------------------------------------- reading


def _read_csv(
    path: Path,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    problems: list[str],
    optional: tuple[str, ...] = (),
) -> list[_Row]:
    """Rows of one file; ``optional`` columns may be missing from the header (every other one must be there)."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{name}: cannot read {path}: {exc.strerror or exc}")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(
            f"{name}: not UTF-8 text (bad byte at position {exc.start}); save it as 'CSV UTF-8' and retry"
        )
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        problems.append(f"{name}: the file is empty; the first line must be: {','.join(columns)}")
        return []
    reader.fieldnames = header
    missing = [c for c in columns if c not in header and c not in optional]
    unknown = [c for c in header if c not in columns]
    if missing:
        problems.append(f"{name}:1: missing column(s) {', '.join(missing)} (expected: {','.join(columns)})")
    if unknown:
        problems.append(f"{name}:1: unknown column(s) {', '.join(unknown)} (expected: {','.join(columns)})")
    if missing or unknown:
        return []
    rows: list[_Row] = []
    try:
        for rec in reader:
            line = reader.line_num
            if "\0extra" in rec:
                problems.append(f"{name}:{line}: more values than the {len(header)} columns")
                continue
            values = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in rec.items()}
            if not any(values.values()):
                continue  # blank line
            row = _Row(name, line, values)
            bad = [c for c in required if not values.get(c)]
            for c in bad:
                problems.append(f"{row.where(c)}: is required")
            if not bad:
                rows.append(row)
    except csv.Error as exc:
        problems.append(f"{name}:{reader.line_num}: not valid CSV: {exc}")
    return rows


def _check_duplicates(rows: list[_Row], problems: list[str]) -> list[_Row]:
    seen: dict[str, _Row] = {}
    out = []
    for row in rows:
        code = row.get("code") or ""
        if code in seen:
            problems.append(f"{row.where('code')}: duplicate code {code!r} (also on line {seen[code].line})")
        else:
            seen[code] = row
            out.append(row)
    return out


def _enum_value(row: _Row, column: str, allowed: Iterable[str], problems: list[str]) -> str | None:
    value = row.get(column)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        problems.append(f"{row.where(column)}: {value!r} is not one of {', '.join(allowed)}")
        return None
    return value


# ----------------------------------------------------------------------------------------------- import


def import_org(
    session: Session,
    units_csv: str | Path,
    people_csv: str | Path | None = None,
    households_csv: str | Path | None = None,
    members_csv: str | Path | None = None,
) -> ImportSummary:
    """Validate the files against each other *and* the rows already in the database, then upsert by code.

    Raises :class:`OrgImportError` (listing every problem) before writing anything. Writes go into
    ``session``; the caller commits (``Database.session()`` does), so the import is one transaction.
    """
    problems: list[str] = []
    unit_rows = _check_duplicates(
        _read_csv(Path(units_csv), UNIT_COLUMNS, ("code", "name", "level"), problems), problems
    )
    people_rows = (
        _check_duplicates(
            _read_csv(Path(people_csv), PEOPLE_COLUMNS, ("code", "name", "role", "unit_code"), problems),
            problems,
        )
        if people_csv is not None
        else []
    )
    household_rows = (
        _check_duplicates(
            _read_csv(Path(households_csv), HOUSEHOLD_COLUMNS, ("code", "head_name", "unit_code"), problems,
                      optional=HOUSEHOLD_ARCHIVE_COLUMNS),
            problems,
        )
        if households_csv is not None
        else []
    )
    member_rows = (
        _read_csv(Path(members_csv), MEMBER_COLUMNS, ("household_code", "name", "relation"), problems,
                  optional=MEMBER_OPTIONAL_COLUMNS)
        if members_csv is not None
        else []
    )

    # The tree as it will be after the import: existing rows, overridden by the files.
    db_units = {u.code: u for u in session.scalars(select(Unit))}
    db_people = {p.code: p for p in session.scalars(select(Person))}
    levels: dict[str, str | None] = {c: u.level.value for c, u in db_units.items()}
    parents: dict[str, str | None] = {c: (u.parent.code if u.parent else None) for c, u in db_units.items()}
    for row in unit_rows:
        code = row.get("code") or ""
        levels[code] = _enum_value(row, "level", (lv.value for lv in UnitLevel), problems)
        parents[code] = row.get("parent_code")
        _enum_value(row, "default_language", SPEECH_LANGUAGES, problems)

    for row in unit_rows:
        _check_unit_place(row, levels, parents, problems)
    _check_changed_levels(unit_rows, db_units, db_people, levels, parents, {r.get("code") for r in people_rows},
                          problems)
    _check_lengths(unit_rows, UNIT_LENGTHS, problems)
    _check_lengths(people_rows, PEOPLE_LENGTHS, problems)
    _check_lengths(household_rows, HOUSEHOLD_LENGTHS, problems)
    _check_lengths(member_rows, MEMBER_LENGTHS, problems)

    roles: dict[str, str | None] = {c: p.role.value for c, p in db_people.items()}
    for row in people_rows:
        roles[row.get("code") or ""] = _enum_value(row, "role", (r.value for r in Role), problems)
    for row in people_rows:
        _check_person(row, levels, problems)

    person_units: dict[str, str | None] = {c: (p.unit.code if p.unit else None) for c, p in db_people.items()}
    for row in people_rows:
        person_units[row.get("code") or ""] = row.get("unit_code")
    for row in household_rows:
        _check_household(row, levels, roles, problems)
        _check_archive(row, roles, person_units, parents, problems)

    household_codes = set(session.scalars(select(Household.code))) | {r.get("code") or "" for r in household_rows}
    _check_members(member_rows, household_codes, problems)

    if problems:
        raise OrgImportError(problems)
    return _write(session, unit_rows, people_rows, household_rows, member_rows, db_units, db_people, parents)


def import_org_dir(session: Session, folder: str | Path) -> ImportSummary:
    """Import ``units.csv`` (required), ``people.csv``, ``households.csv`` and ``members.csv`` (each optional)
    from a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OrgImportError([f"{folder}: not a folder (expected one holding {UNITS_FILE}, {PEOPLE_FILE}, ...)"])
    people, households, members = folder / PEOPLE_FILE, folder / HOUSEHOLDS_FILE, folder / MEMBERS_FILE
    return import_org(
        session,
        folder / UNITS_FILE,
        people if people.exists() else None,
        households if households.exists() else None,
        members if members.exists() else None,
    )


def _check_unit_place(
    row: _Row, levels: dict[str, str | None], parents: dict[str, str | None], problems: list[str]
) -> None:
    code, level, parent = row.get("code") or "", levels.get(row.get("code") or ""), row.get("parent_code")
    if level is None:
        return  # bad level already reported
    depth = [lv.value for lv in LEVEL_ORDER].index(level)
    if parent is None:
        if depth > 0:
            above = LEVEL_ORDER[depth - 1].value
            problems.append(f"{row.where('parent_code')}: a {level} needs a parent {above}")
        return
    if parent not in levels:
        problems.append(f"{row.where('parent_code')}: unknown unit {parent!r}")
        return
    # Cycle: follow parents from this unit; coming back to it means a loop.
    path, seen, cur = [code], {code}, parent
    while cur is not None:
        path.append(cur)
        if cur in seen:
            problems.append(f"{row.where('parent_code')}: cycle in the tree: {' -> '.join(path)}")
            return
        seen.add(cur)
        cur = parents.get(cur)
    parent_level = levels.get(parent)
    if parent_level is None:
        return
    if depth == 0 or parent_level != LEVEL_ORDER[depth - 1].value:
        want = f"a {LEVEL_ORDER[depth - 1].value}" if depth > 0 else "no parent"
        problems.append(
            f"{row.where('parent_code')}: a {level} cannot sit under {parent} (a {parent_level}); "
            f"it needs {want} (county > township > village > grid)"
        )


def _column_length(column: Any) -> int | None:
    return getattr(column.type, "length", None)


#: CSV column -> the length of the database column it is stored in. PostgreSQL refuses a longer value with a
#: bare "value too long" (SQLite stores it), so the import checks it first, on both databases alike.
UNIT_LENGTHS = {c: _column_length(Unit.__table__.c[c]) for c in ("code", "name", "name_bo")}
PEOPLE_LENGTHS = {c: _column_length(Person.__table__.c[c]) for c in ("code", "name", "department", "phone")}
HOUSEHOLD_LENGTHS = {c: _column_length(Household.__table__.c[c]) for c in ("code", "head_name", "phone")}
MEMBER_LENGTHS = {"name": _column_length(HouseholdMember.__table__.c["name"])}


def _check_lengths(rows: list[_Row], lengths: dict[str, int | None], problems: list[str]) -> None:
    for row in rows:
        for column, limit in lengths.items():
            value = row.get(column)
            if limit is not None and value is not None and len(value) > limit:
                problems.append(f"{row.where(column)}: {len(value)} characters, at most {limit} fit "
                                f"({value[:20]}…)")


def _check_changed_levels(
    unit_rows: list[_Row], db_units: dict[str, Unit], db_people: dict[str, Person], levels: dict[str, str | None],
    parents: dict[str, str | None], people_in_file: set[str | None], problems: list[str],
) -> None:
    """A unit whose level (or parent) the file changes must still fit the units and people already in the
    database that the file does not move: a village turned township would leave its grids under a township
    and its grid leader in a township, and the next report would route to the county. Reported at the row and
    column that caused it, with what breaks, before anything is written."""
    child_codes: dict[str, list[str]] = {}
    for code, parent in parents.items():
        if parent is not None:
            child_codes.setdefault(parent, []).append(code)
    order = [lv.value for lv in LEVEL_ORDER]
    in_file = {r.get("code") for r in unit_rows}  # children in the file are checked at their own row
    for row in unit_rows:
        code = row.get("code") or ""
        old = db_units.get(code)
        level = levels.get(code)
        if old is None or level is None or level == old.level.value:
            continue
        depth = order.index(level)
        want_child = order[depth + 1] if depth + 1 < len(order) else None
        broken = [c for c in sorted(child_codes.get(code, [])) if c not in in_file and levels.get(c) is not None
                  and levels.get(c) != want_child]
        if broken:
            problems.append(
                f"{row.where('level')}: {code} would become a {level} ({old.level.value} now), but "
                f"{', '.join(f'{c} (a {levels[c]})' for c in broken[:5])}{' …' if len(broken) > 5 else ''} "
                f"sit(s) under it and cannot sit under a {level}; move or change them in the same import"
            )
        misplaced = [
            p for p in db_people.values()
            if p.unit is not None and p.unit.code == code and p.code not in people_in_file
            and UnitLevel(level) not in ROLE_LEVELS[p.role]
        ]
        if misplaced:
            names = ", ".join(f"{p.code} {p.name} ({p.role.value})" for p in misplaced[:5])
            problems.append(
                f"{row.where('level')}: {code} would become a {level}, but {names}"
                f"{' …' if len(misplaced) > 5 else ''} cannot belong to a {level}; routing would pass them "
                "over — move them in people.csv in the same import"
            )


def _check_person(row: _Row, levels: dict[str, str | None], problems: list[str]) -> None:
    role, unit = row.get("role"), row.get("unit_code") or ""
    _enum_value(row, "ui_language", UI_LANGUAGES, problems)
    _enum_value(row, "speech_language", SPEECH_LANGUAGES, problems)
    if unit not in levels:
        problems.append(f"{row.where('unit_code')}: unknown unit {unit!r}")
        return
    if role is None or role not in Role.__members__:
        return  # bad role already reported
    allowed = ROLE_LEVELS[Role(role)]
    if levels[unit] is not None and levels[unit] not in {lv.value for lv in allowed}:
        problems.append(
            f"{row.where('unit_code')}: a {role} belongs to a {' or '.join(lv.value for lv in allowed)} unit, "
            f"but {unit} is a {levels[unit]}"
        )
    if role == Role.department_contact.value and not row.get("department"):
        problems.append(f"{row.where('department')}: is required for a department_contact (e.g. health)")


def _check_household(
    row: _Row, levels: dict[str, str | None], roles: dict[str, str | None], problems: list[str]
) -> None:
    unit, liaison, members = row.get("unit_code") or "", row.get("liaison_code"), row.get("members")
    if unit not in levels:
        problems.append(f"{row.where('unit_code')}: unknown unit {unit!r}")
    if liaison is not None:
        if liaison not in roles:
            problems.append(f"{row.where('liaison_code')}: unknown person {liaison!r}")
        elif roles[liaison] is not None and roles[liaison] != Role.liaison_worker.value:
            problems.append(
                f"{row.where('liaison_code')}: {liaison} is a {roles[liaison]}, not a liaison_worker"
            )
    if members is not None and (not members.isdigit() or int(members) > 1000):
        problems.append(f"{row.where('members')}: {members!r} is not a number of people")


def _inside(unit: str | None, root: str | None, parents: dict[str, str | None]) -> bool:
    """Whether ``unit`` is ``root`` or below it (the tree as it will be after the import)."""
    seen: set[str] = set()
    while unit is not None and unit not in seen:
        if unit == root:
            return True
        seen.add(unit)
        unit = parents.get(unit)
    return False


def _count(row: _Row, column: str, limit: int, what: str, problems: list[str]) -> None:
    value = row.get(column)
    if value is not None and (not value.isdigit() or int(value) > limit):
        problems.append(f"{row.where(column)}: {value!r} is not a number of {what}")


def _check_archive(
    row: _Row,
    roles: dict[str, str | None],
    person_units: dict[str, str | None],
    parents: dict[str, str | None],
    problems: list[str],
) -> None:
    """The archive columns: the responsible cadre (an official whose area holds the household, so they can see
    it), certificates and festival marks from the vocabularies, livestock counts, a phone."""
    cadre, unit = row.get("cadre_code"), row.get("unit_code")
    if cadre is not None:
        if cadre not in roles:
            problems.append(f"{row.where('cadre_code')}: unknown person {cadre!r}")
        elif roles[cadre] is not None and roles[cadre] not in {r.value for r in CADRE_ROLES}:
            problems.append(
                f"{row.where('cadre_code')}: {cadre} is a {roles[cadre]}; the responsible cadre must be an "
                f"official ({', '.join(sorted(r.value for r in CADRE_ROLES))})"
            )
        elif unit in parents and not _inside(unit, person_units.get(cadre), parents):
            problems.append(
                f"{row.where('cadre_code')}: {cadre} works in {person_units.get(cadre)}, which does not include "
                f"{unit}; pick an official of this household's grid, village, township or county"
            )
    for column, codes, aliases, no in (
        ("certificates", hf.CERTIFICATES, hf.CERTIFICATE_ALIASES, frozenset()),
        ("festival_visit", hf.FESTIVAL_MARKS, hf.FESTIVAL_ALIASES, hf.FESTIVAL_NO),
    ):
        _, unknown = hf.parse_list(row.get(column), codes, aliases, no)
        if unknown:
            problems.append(
                f"{row.where(column)}: {'、'.join(unknown)} not known; use {hf.accepted(codes)}"
            )
    for column in hf.LIVESTOCK:
        _count(row, column, hf.MAX_LIVESTOCK, "animals", problems)
    phone = row.get("phone")
    if phone is not None:
        digits = sum(ch.isdigit() for ch in phone)
        if not _PHONE.match(phone) or not 5 <= digits <= 20:
            problems.append(f"{row.where('phone')}: {phone!r} is not a phone number (digits, spaces, - or +)")


def _check_members(rows: list[_Row], household_codes: set[str], problems: list[str]) -> None:
    this_year = date.today().year
    seen: dict[tuple[str, str, str | None], int] = {}
    heads: dict[str, int] = {}
    for row in rows:
        household = row.get("household_code") or ""
        if household not in household_codes:
            problems.append(f"{row.where('household_code')}: unknown household {household!r}")
        relation = hf.parse_one(row.get("relation"), hf.RELATIONS, hf.RELATION_ALIASES)
        if relation is None:
            problems.append(f"{row.where('relation')}: {row.get('relation')!r} not known; "
                            f"use {hf.accepted(hf.RELATIONS)}")
        elif relation == "head":
            if household in heads:
                problems.append(f"{row.where('relation')}: a second head of household {household} "
                                f"(the first is on line {heads[household]})")
            else:
                heads[household] = row.line
        year = row.get("birth_year")
        if year is not None and (not year.isdigit() or not OLDEST_BIRTH_YEAR <= int(year) <= this_year):
            problems.append(f"{row.where('birth_year')}: {year!r} is not a year of birth "
                            f"({OLDEST_BIRTH_YEAR}-{this_year})")
        gender = row.get("gender")
        if gender is not None and hf.parse_one(gender, hf.GENDERS, hf.GENDER_ALIASES) is None:
            problems.append(f"{row.where('gender')}: {gender!r} not known; use 男 (m) or 女 (f)")
        key = (household, row.get("name") or "", year)
        if key in seen:
            problems.append(f"{row.where('name')}: {key[1]} born {year or '?'} is listed twice in household "
                            f"{household} (also on line {seen[key]})")
        else:
            seen[key] = row.line


def _apply(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _upsert(session: Session, existing: object | None, model: type, values: dict[str, object], counts: Counts):
    if existing is None:
        obj = model(**values)
        session.add(obj)
        counts.created += 1
        return obj
    if _apply(existing, values):
        counts.updated += 1
    else:
        counts.unchanged += 1
    return existing


def _write(
    session: Session,
    unit_rows: list[_Row],
    people_rows: list[_Row],
    household_rows: list[_Row],
    member_rows: list[_Row],
    db_units: dict[str, Unit],
    db_people: dict[str, Person],
    parents: dict[str, str | None],
) -> ImportSummary:
    summary = ImportSummary()
    units = dict(db_units)
    # Parents first: sort by depth so a parent row exists (and has an id) before its children point at it.
    depth = {lv.value: i for i, lv in enumerate(LEVEL_ORDER)}
    for row in sorted(unit_rows, key=lambda r: depth[r.get("level") or ""]):
        code = row.get("code") or ""
        parent_code = parents.get(code)
        values = {
            "code": code,
            "name": row.get("name"),
            "name_bo": row.get("name_bo"),
            "level": UnitLevel(row.get("level")),
            "parent": units[parent_code] if parent_code else None,
            "default_language": row.get("default_language") or "zh",
        }
        units[code] = _upsert(session, units.get(code), Unit, values, summary.units)
    session.flush()

    people = dict(db_people)
    for row in people_rows:
        code = row.get("code") or ""
        values = {
            "code": code,
            "name": row.get("name"),
            "role": Role(row.get("role")),
            "unit_id": units[row.get("unit_code") or ""].id,
            "department": row.get("department"),
            "phone": row.get("phone"),
            "ui_language": row.get("ui_language"),
            "speech_language": row.get("speech_language"),
        }
        people[code] = _upsert(session, people.get(code), Person, values, summary.people)
    session.flush()

    db_households = {
        h.code: h for h in session.scalars(select(Household).options(selectinload(Household.member_rows)))
    }
    for row in household_rows:
        code, liaison = row.get("code") or "", row.get("liaison_code")
        members = row.get("members")
        values = {
            "code": code,
            "head_name": row.get("head_name"),
            "unit_id": units[row.get("unit_code") or ""].id,
            "liaison_id": people[liaison].id if liaison else None,
            "members": int(members) if members else None,
            "note": row.get("note"),
        }
        values.update(_archive_values(row, people))
        db_households[code] = _upsert(session, db_households.get(code), Household, values, summary.households)
    session.flush()
    _write_members(session, member_rows, db_households, summary.members)
    return summary


def _archive_values(row: _Row, people: dict[str, Person]) -> dict[str, object]:
    """The archive columns the file has (a column left out of the header leaves that fact as it is)."""
    values: dict[str, object] = {}
    if row.has("phone"):
        values["phone"] = row.get("phone")
    if row.has("cadre_code"):
        cadre = row.get("cadre_code")
        values["cadre_id"] = people[cadre].id if cadre else None
    if row.has("certificates"):
        values["certificates"] = hf.parse_list(row.get("certificates"), hf.CERTIFICATES, hf.CERTIFICATE_ALIASES)[0]
    if row.has("festival_visit"):
        values["festival_marks"] = hf.parse_list(
            row.get("festival_visit"), hf.FESTIVAL_MARKS, hf.FESTIVAL_ALIASES, hf.FESTIVAL_NO
        )[0]
    for column in hf.LIVESTOCK:
        if row.has(column):
            value = row.get(column)
            values[column] = int(value) if value else None
    return values


def _write_members(
    session: Session, rows: list[_Row], households: dict[str, Household], counts: Counts
) -> None:
    """Each household named in members.csv gets exactly the members listed, in file order. A member is matched
    by name and birth year, so re-importing the same file changes nothing and a corrected row is an update."""
    by_household: dict[str, list[_Row]] = {}
    for row in rows:
        by_household.setdefault(row.get("household_code") or "", []).append(row)
    for code, listed in by_household.items():
        household = households[code]
        existing = {(m.name, m.birth_year): m for m in household.member_rows}
        keep: list[HouseholdMember] = []
        for position, row in enumerate(listed):
            year = row.get("birth_year")
            values: dict[str, object] = {
                "position": position,
                "name": row.get("name"),
                "relation": hf.parse_one(row.get("relation"), hf.RELATIONS, hf.RELATION_ALIASES),
                "birth_year": int(year) if year else None,
            }
            if row.has("gender"):
                values["gender"] = hf.parse_one(row.get("gender"), hf.GENDERS, hf.GENDER_ALIASES)
            if row.has("note"):
                values["note"] = row.get("note")
            member = existing.pop((values["name"], values["birth_year"]), None)  # type: ignore[arg-type]
            if member is None:
                member = HouseholdMember(**values)
                counts.created += 1
            elif _apply(member, values):
                counts.updated += 1
            else:
                counts.unchanged += 1
            keep.append(member)
        counts.removed += len(existing)
        household.member_rows = keep
    session.flush()


# ----------------------------------------------------------------------------------------------- export


def export_org(session: Session, folder: str | Path) -> dict[str, int]:
    """Write ``units.csv``, ``people.csv``, ``households.csv`` and ``members.csv`` into ``folder`` (created if
    needed), in the import format, parents before children; certificates, marks and relations as the Chinese
    words a clerk types. Returns the row count per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    depth = {lv: i for i, lv in enumerate(LEVEL_ORDER)}
    units = sorted(session.scalars(select(Unit)), key=lambda u: (depth[u.level], u.code))
    code_of = {u.id: u.code for u in units}
    people = sorted(session.scalars(select(Person)), key=lambda p: p.code)
    person_code = {p.id: p.code for p in people}
    households = sorted(
        session.scalars(select(Household).options(selectinload(Household.member_rows))), key=lambda h: h.code
    )

    def write(name: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> int:
        # utf-8-sig: Excel/WPS need the BOM to open Chinese/Tibetan CSV correctly; our import accepts both.
        with (folder / name).open("w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            w.writerows([["" if v is None else v for v in r] for r in rows])
        return len(rows)

    return {
        UNITS_FILE: write(
            UNITS_FILE,
            UNIT_COLUMNS,
            [
                (u.code, u.name, u.name_bo, u.level.value, code_of.get(u.parent_id), u.default_language)
                for u in units
            ],
        ),
        PEOPLE_FILE: write(
            PEOPLE_FILE,
            PEOPLE_COLUMNS,
            [
                (p.code, p.name, p.role.value, code_of[p.unit_id], p.department, p.phone, p.ui_language,
                 p.speech_language)
                for p in people
            ],
        ),
        HOUSEHOLDS_FILE: write(
            HOUSEHOLDS_FILE,
            HOUSEHOLD_COLUMNS,
            [
                (h.code, h.head_name, code_of[h.unit_id], person_code.get(h.liaison_id), h.members, h.note,
                 h.phone, person_code.get(h.cadre_id), hf.words(h.certificates, hf.CERTIFICATES),
                 hf.words(h.festival_marks, hf.FESTIVAL_MARKS), *(getattr(h, c) for c in hf.LIVESTOCK))
                for h in households
            ],
        ),
        MEMBERS_FILE: write(
            MEMBERS_FILE,
            MEMBER_COLUMNS,
            [
                (h.code, m.name, hf.RELATIONS.get(m.relation, m.relation), m.birth_year,
                 hf.GENDERS.get(m.gender or "", m.gender), m.note)
                for h in households
                for m in h.member_rows
            ],
        ),
    }


def code_ids(session: Session) -> dict[str, int]:
    """``code -> id`` for every unit, person and household (codes are unique per table; the sample uses
    distinct prefixes C/T/V/G, P, H so one dict serves all)."""
    ids: dict[str, int] = {}
    for model in (Unit, Person, Household):
        ids.update({code: id_ for code, id_ in session.execute(select(model.code, model.id))})
    return ids
