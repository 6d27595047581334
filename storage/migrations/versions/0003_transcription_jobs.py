"""Durable transcription jobs (claimed like the outbox by any bot process); cases still waiting for a
transcript get a job each, so nothing pending is forgotten by the upgrade.

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transcription_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], name=op.f('fk_transcription_jobs_attachment_id_attachments')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_transcription_jobs_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcription_jobs'))
    )
    with op.batch_alter_table('transcription_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_transcription_jobs_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_transcription_jobs_case_id'), ['case_id'], unique=False)
    # every case still waiting for a transcript gets a job (its first audio attachment)
    op.execute("""
        INSERT INTO transcription_jobs (case_id, attachment_id, language, status, claims, next_attempt_at, created_at)
        SELECT c.id,
               (SELECT min(a.id) FROM attachments a
                 WHERE a.case_id = c.id AND a.kind IN ('voice', 'audio', 'video_note')),
               c.language, 'pending', 0, c.updated_at, c.updated_at
          FROM cases c
         WHERE c.transcript_status = 'pending'
    """)


def downgrade() -> None:
    with op.batch_alter_table('transcription_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcription_jobs_case_id'))
        batch_op.drop_index('ix_transcription_jobs_due')
    op.drop_table('transcription_jobs')
