"""Import and export the org tree (units, people, households) as three CSV files.

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
- ``households.csv``: code,head_name,unit_code,liaison_code,members,note
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Household, Person, Role, Unit, UnitLevel

SAMPLE_DIR = Path(__file__).with_name("sample")

UNITS_FILE, PEOPLE_FILE, HOUSEHOLDS_FILE = "units.csv", "people.csv", "households.csv"
UNIT_COLUMNS = ("code", "name", "name_bo", "level", "parent_code", "default_language")
PEOPLE_COLUMNS = ("code", "name", "role", "unit_code", "department", "phone", "ui_language", "speech_language")
HOUSEHOLD_COLUMNS = ("code", "head_name", "unit_code", "liaison_code", "members", "note")

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

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class ImportSummary:
    units: Counts = field(default_factory=Counts)
    people: Counts = field(default_factory=Counts)
    households: Counts = field(default_factory=Counts)

    def __str__(self) -> str:
        return f"units: {self.units}; people: {self.people}; households: {self.households}"


@dataclass
class _Row:
    file: str
    line: int
    values: dict[str, str | None]

    def get(self, column: str) -> str | None:
        return self.values.get(column)

    def where(self, column: str) -> str:
        return f"{self.file}:{self.line}: {column}"


# ----------------------------------------------------------------------------------------------- reading


def _read_csv(path: Path, columns: tuple[str, ...], required: tuple[str, ...], problems: list[str]) -> list[_Row]:
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
    missing = [c for c in columns if c not in header]
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
                problems.append(f"{name}:{line}: more values than the {len(columns)} columns")
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
            _read_csv(Path(households_csv), HOUSEHOLD_COLUMNS, ("code", "head_name", "unit_code"), problems),
            problems,
        )
        if households_csv is not None
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

    roles: dict[str, str | None] = {c: p.role.value for c, p in db_people.items()}
    for row in people_rows:
        roles[row.get("code") or ""] = _enum_value(row, "role", (r.value for r in Role), problems)
    for row in people_rows:
        _check_person(row, levels, problems)

    for row in household_rows:
        _check_household(row, levels, roles, problems)

    if problems:
        raise OrgImportError(problems)
    return _write(session, unit_rows, people_rows, household_rows, db_units, db_people, parents)


def import_org_dir(session: Session, folder: str | Path) -> ImportSummary:
    """Import ``units.csv`` (required), ``people.csv`` and ``households.csv`` (each optional) from a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OrgImportError([f"{folder}: not a folder (expected one holding {UNITS_FILE}, {PEOPLE_FILE}, ...)"])
    people, households = folder / PEOPLE_FILE, folder / HOUSEHOLDS_FILE
    return import_org(
        session,
        folder / UNITS_FILE,
        people if people.exists() else None,
        households if households.exists() else None,
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

    db_households = {h.code: h for h in session.scalars(select(Household))}
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
        _upsert(session, db_households.get(code), Household, values, summary.households)
    session.flush()
    return summary


# ----------------------------------------------------------------------------------------------- export


def export_org(session: Session, folder: str | Path) -> dict[str, int]:
    """Write ``units.csv``, ``people.csv``, ``households.csv`` into ``folder`` (created if needed), in the
    import format, parents before children. Returns the row count per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    depth = {lv: i for i, lv in enumerate(LEVEL_ORDER)}
    units = sorted(session.scalars(select(Unit)), key=lambda u: (depth[u.level], u.code))
    code_of = {u.id: u.code for u in units}
    people = sorted(session.scalars(select(Person)), key=lambda p: p.code)
    person_code = {p.id: p.code for p in people}
    households = sorted(session.scalars(select(Household)), key=lambda h: h.code)

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
                (h.code, h.head_name, code_of[h.unit_id], person_code.get(h.liaison_id), h.members, h.note)
                for h in households
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
