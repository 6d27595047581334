"""Shared fixtures.

``database`` runs each test on SQLite *and* on PostgreSQL (when ``LIANHU_TEST_PG_URL`` is set; otherwise the
PostgreSQL variant is skipped with a visible reason). Each pytest run gets its own PostgreSQL schema, so
several runs can share one server; tables are emptied after every test.

``sample_org`` imports the shipped sample county (``storage/sample/``) into ``database`` and returns a
:class:`SampleOrg`: ``org["P1111"]`` (or ``org.person("P1111")``, ``org.unit("G010101")``) gives the id.
Sample codes: county C01; townships T01, T02; villages V0101, V0102, V0201, V0202; grids G010101 ... G020202;
P001 admin, P002 county commander, P003/P004 governance operators, P010..P017 department contacts (health,
civil_affairs, emergency, water, education, agriculture, housing, public_security), P100/P200 township
commanders, P110/P120/P210/P220 grid leaders of V0101/V0102/V0201/V0202, liaison workers P<t><v><g><n>
(e.g. P1111, P1112 in G010101), households H<liaison digits><nn> (e.g. H111101).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from storage.db import MIGRATIONS_DIR, Database
from storage.models import Base, Household, Person, Unit
from storage.orgtree import SAMPLE_DIR, import_org_dir
from workflows.ports import FakeClock

# The fake Telegram Bot API server (fixture `fake_telegram`) for end-to-end bot tests.
pytest_plugins = ["tests.fakebotapi.fixtures"]

PG_ENV = "LIANHU_TEST_PG_URL"
DATA = Path(__file__).parent / "data"


def _prepare(db: Database) -> None:
    if (MIGRATIONS_DIR / "env.py").exists():
        db.migrate()
    else:  # until migrations exist
        Base.metadata.create_all(db.engine)


def _empty_all_tables(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def _sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("db") / "lianhu.sqlite3"
    db = Database(f"sqlite:///{path}")
    _prepare(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def _pg_db() -> Iterator[Database]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"lianhu_test_{uuid.uuid4().hex[:10]}"
    admin = Database(url)
    try:
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # server not reachable: say so, do not pretend
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is not usable: {exc}")
    sep = "&" if "?" in url else "?"
    db = Database(f"{url}{sep}options=-csearch_path%3D{schema}")
    _prepare(db)
    yield db
    db.dispose()
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    db: Database = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty_all_tables(db)
    yield db
    _empty_all_tables(db)


@pytest.fixture
def sqlite_database(_sqlite_db: Database) -> Iterator[Database]:
    """SQLite only, for tests where the backend does not matter (faster)."""
    _empty_all_tables(_sqlite_db)
    yield _sqlite_db
    _empty_all_tables(_sqlite_db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass(frozen=True)
class SampleOrg:
    """Ids of the sample tree's units, people and households, by code."""

    units: dict[str, int]
    people: dict[str, int]
    households: dict[str, int]

    def __getitem__(self, code: str) -> int:
        for table in (self.people, self.units, self.households):
            if code in table:
                return table[code]
        raise KeyError(f"no unit, person or household with code {code!r} in the sample org")

    def unit(self, code: str) -> int:
        return self.units[code]

    def person(self, code: str) -> int:
        return self.people[code]

    def household(self, code: str) -> int:
        return self.households[code]


def load_sample_org(db: Database) -> SampleOrg:
    with db.session() as s:
        import_org_dir(s, SAMPLE_DIR)
        return SampleOrg(
            units=dict(s.execute(select(Unit.code, Unit.id)).tuples().all()),
            people=dict(s.execute(select(Person.code, Person.id)).tuples().all()),
            households=dict(s.execute(select(Household.code, Household.id)).tuples().all()),
        )


@pytest.fixture
def sample_org(database: Database) -> SampleOrg:
    """The sample county imported into ``database`` (runs on SQLite and PostgreSQL, like ``database``)."""
    return load_sample_org(database)
