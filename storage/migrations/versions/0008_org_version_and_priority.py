"""The org tree's version row (bumped by triggers on units and people) and the outbox's priority column.

Why triggers: every process keeps the org tree in memory (``workflows.orgcache``) and must see a change made by
any other process — ``lianhu import-org``, another bot replica, an operator's SQL — so the database itself bumps
the version on each change, not the code that happens to make it.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE_COLUMNS = "role, unit_id, department, active"
SQLITE_BUMP = "UPDATE org_version SET version = version + 1, token = lower(hex(randomblob(8))) WHERE id = 1;"


def _sqlite_triggers() -> list[str]:
    out = []
    for table, update in (("units", "UPDATE"), ("people", f"UPDATE OF {PEOPLE_COLUMNS}")):
        for name, when in (("ins", "INSERT"), ("upd", update), ("del", "DELETE")):
            out.append(
                f"CREATE TRIGGER org_version_{table}_{name} AFTER {when} ON {table} "
                f"FOR EACH ROW BEGIN {SQLITE_BUMP} END"
            )
    return out


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION org_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_version SET version = version + 1,
        token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
    RETURN NULL;
END $$
"""


def _pg_triggers() -> list[str]:
    return [
        PG_FUNCTION,
        "CREATE TRIGGER org_version_units AFTER INSERT OR UPDATE OR DELETE ON units "
        "FOR EACH STATEMENT EXECUTE FUNCTION org_version_bump()",
        f"CREATE TRIGGER org_version_people AFTER INSERT OR UPDATE OF {PEOPLE_COLUMNS} OR DELETE ON people "
        "FOR EACH STATEMENT EXECUTE FUNCTION org_version_bump()",
    ]


def upgrade() -> None:
    op.create_table(
        "org_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_version")),
    )
    op.execute("INSERT INTO org_version (id, version, token) VALUES (1, 0, 'initial')")
    dialect = op.get_bind().dialect.name
    for statement in _pg_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="5", nullable=False))
        batch_op.create_index(
            "ix_notifications_claim", ["status", "priority", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_claim")
        batch_op.drop_column("priority")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS org_version_units ON units")
        op.execute("DROP TRIGGER IF EXISTS org_version_people ON people")
        op.execute("DROP FUNCTION IF EXISTS org_version_bump()")
    else:
        for table in ("units", "people"):
            for name in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS org_version_{table}_{name}")
    op.drop_table("org_version")
