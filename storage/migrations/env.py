"""Alembic environment for Lianhu.

Two ways in:
- programmatically, from ``storage.db.Database.migrate()``: the caller passes an open connection in
  ``config.attributes["connection"]`` so migrations run inside the caller's transaction and engine (this is how
  the app and the tests migrate; no ini file is needed);
- from the ``alembic`` command line, with a URL:
  ``alembic -c storage/migrations/alembic.ini -x url=sqlite:///data/lianhu.sqlite3 upgrade head``
  (or ``LIANHU_DATABASE_URL`` in the environment).

SQLite cannot ALTER most things, so on SQLite every migration runs in batch mode (copy-and-move tables).
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("LIANHU_DATABASE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "No database URL: pass -x url=postgresql+psycopg://user@host/db (or sqlite:///path) "
            "or set LIANHU_DATABASE_URL"
        )
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # Database.migrate(): reuse the caller's connection and transaction
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
