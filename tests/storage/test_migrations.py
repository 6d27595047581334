"""The Alembic migrations build the schema on SQLite and PostgreSQL, are idempotent, and match the models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from storage.db import MIGRATIONS_DIR, Database
from storage.models import Base, Unit, UnitLevel

PG_ENV = "LIANHU_TEST_PG_URL"


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables at all (a fresh SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield db
        db.dispose()
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    schema = f"lianhu_mig_{uuid.uuid4().hex[:10]}"
    admin = Database(url)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    db = Database(f"{url}{sep}options=-csearch_path%3D{schema}")
    yield db
    db.dispose()
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_migrate_builds_every_table_on_an_empty_database(empty_db: Database) -> None:
    assert inspect(empty_db.engine).get_table_names() == []
    empty_db.migrate()
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert _revision(empty_db) == _head()


def test_migrating_twice_is_a_no_op_and_keeps_data(database: Database) -> None:
    # ``database`` is already migrated; store a row, migrate again, the row and the revision stay.
    with database.session() as s:
        s.add(Unit(code="C9", name="测试县", level=UnitLevel.county))
    before = _revision(database)
    database.migrate()
    database.migrate()
    assert _revision(database) == before == _head()
    with database.session() as s:
        assert s.scalars(select(Unit.name).where(Unit.code == "C9")).one() == "测试县"


def test_models_and_migrations_agree(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"


def test_downgrade_to_base_and_up_again(empty_db: Database) -> None:
    empty_db.migrate()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with empty_db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    empty_db.migrate()
    assert set(Base.metadata.tables) <= set(inspect(empty_db.engine).get_table_names())


def test_alembic_command_line_setup_with_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``alembic -c storage/migrations/alembic.ini upgrade head`` does, with the URL from the env."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("LIANHU_DATABASE_URL", url)
    command.upgrade(Config(str(MIGRATIONS_DIR / "alembic.ini")), "head")
    db = Database(url)
    try:
        assert _revision(db) == _head()
        assert "cases" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_sqlite_connections_enforce_foreign_keys(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_concurrent_migrations_do_not_collide(empty_db: Database) -> None:
    """Two `lianhu` commands starting at once on a fresh database: both succeed, the schema is built once."""
    from concurrent.futures import ThreadPoolExecutor

    other = Database(empty_db.url)
    try:
        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(empty_db.migrate), pool.submit(other.migrate)]:
                f.result()
    finally:
        other.dispose()
    assert _revision(empty_db) == _head()
