"""Attachments can be places: a location a worker shared (Telegram ``location``/``venue``) is kept with the case
as an attachment of kind ``location`` with its coordinates (no bytes), so it travels with the case exactly as
a photo or a recording does (console, card, ledger) instead of living in a separate table.

Revision ID: 0009
Revises: 0008

Written by hand from the models; runs on SQLite (batch mode) and PostgreSQL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
