"""Household archive: phone, responsible cadre, certificates, festival-visit marks, livestock; members table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Written by hand (checked against autogenerate). Every new household column is nullable, so existing rows and
older households.csv files stay valid; SQLite gets the foreign key through batch mode (copy-and-move).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("cadre_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("certificates", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("festival_marks", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("yaks", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sheep", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("goats", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("horses", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_households_cadre_id"), ["cadre_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_households_cadre_id_people"), "people", ["cadre_id"], ["id"]
        )

    op.create_table(
        "household_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_household_members_household_id_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_members")),
    )
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_members_household_id"), ["household_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_members_household_id"))
    op.drop_table("household_members")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_households_cadre_id_people"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_households_cadre_id"))
        for column in ("horses", "goats", "sheep", "yaks", "festival_marks", "certificates", "cadre_id", "phone"):
            batch_op.drop_column(column)
