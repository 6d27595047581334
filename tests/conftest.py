"""Shared fixtures.

``database`` runs each test on SQLite *and* on PostgreSQL (when ``LIANHU_TEST_PG_URL`` is set; otherwise the
PostgreSQL variant is skipped with a visible reason). Each pytest run gets its own PostgreSQL schema, so
several runs can share one server; tables are emptied after every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import MIGRATIONS_DIR, Database
from storage.models import Base
from workflows.ports import FakeClock

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
