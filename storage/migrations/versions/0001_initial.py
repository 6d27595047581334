"""Initial schema: org tree, people, households, invites, cases + audit trail, attachments, outbox, leases.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 08:28:28.612156+00:00

Generated with autogenerate, then reviewed by hand. Runs on SQLite (batch mode) and PostgreSQL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('processed_updates',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('update_id', name=op.f('pk_processed_updates'))
    )
    op.create_table('scheduler_lease',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease'))
    )
    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_bo', sa.String(length=200), nullable=True),
    sa.Column('level', sa.Enum('county', 'township', 'village', 'grid', name='unitlevel', native_enum=False, length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('default_language', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['units.id'], name=op.f('fk_units_parent_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('code', name=op.f('uq_units_code'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_units_parent_id'), ['parent_id'], unique=False)

    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('liaison_worker', 'grid_leader', 'township_commander', 'county_commander', 'governance_operator', 'department_contact', 'admin', name='role', native_enum=False, length=32), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=True),
    sa.Column('telegram_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('ui_language', sa.String(length=8), nullable=True),
    sa.Column('speech_language', sa.String(length=8), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_people_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
    sa.UniqueConstraint('code', name=op.f('uq_people_code')),
    sa.UniqueConstraint('telegram_user_id', name=op.f('uq_people_telegram_user_id'))
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_people_role'), ['role'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_unit_id'), ['unit_id'], unique=False)

    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('head_name', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('liaison_id', sa.Integer(), nullable=True),
    sa.Column('members', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['liaison_id'], ['people.id'], name=op.f('fk_households_liaison_id_people')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_households_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('code', name=op.f('uq_households_code'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_households_liaison_id'), ['liaison_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_households_unit_id'), ['unit_id'], unique=False)

    op.create_table('invite_codes',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_invite_codes_created_by_id_people')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_invite_codes_person_id_people')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_invite_codes'))
    )
    with op.batch_alter_table('invite_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_codes_person_id'), ['person_id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=128), nullable=True),
    sa.Column('reporter_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('reported', 'assigned', 'accepted', 'resolved', 'closed', 'rejected', 'duplicate', name='casestate', native_enum=False, length=32), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('transcript_status', sa.String(length=16), nullable=True),
    sa.Column('transcript_attempts', sa.Integer(), nullable=False),
    sa.Column('transcript_error', sa.Text(), nullable=True),
    sa.Column('urgency', sa.Enum('urgent', 'priority', 'general', name='urgency', native_enum=False, length=32), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('triage_confidence', sa.Float(), nullable=True),
    sa.Column('triage_cues', sa.JSON(), nullable=True),
    sa.Column('triage_model', sa.String(length=64), nullable=True),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=True),
    sa.Column('ack_due_at', sa.DateTime(), nullable=True),
    sa.Column('resolve_due_at', sa.DateTime(), nullable=True),
    sa.Column('next_reminder_at', sa.DateTime(), nullable=True),
    sa.Column('autoclose_at', sa.DateTime(), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['cases.id'], name=op.f('fk_cases_duplicate_of_id_cases')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_cases_household_id_households')),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_cases_owner_id_people')),
    sa.ForeignKeyConstraint(['reporter_id'], ['people.id'], name=op.f('fk_cases_reporter_id_people')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_cases_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('source_key', name=op.f('uq_cases_source_key'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_ack_due_at'), ['ack_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_autoclose_at'), ['autoclose_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_next_reminder_at'), ['next_reminder_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_reporter_id'), ['reporter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_resolve_due_at'), ['resolve_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_unit_id'), ['unit_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_case_events_actor_id_people')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=True),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', name='notificationstatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('external_ref', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notifications_case_id_cases')),
    sa.ForeignKeyConstraint(['recipient_id'], ['people.id'], name=op.f('fk_notifications_recipient_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name='uq_notifications_dedupe_key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_notifications_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_recipient_id'), ['recipient_id'], unique=False)

    op.create_table('triage_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('old_urgency', sa.String(length=16), nullable=False),
    sa.Column('new_urgency', sa.String(length=16), nullable=False),
    sa.Column('old_category', sa.String(length=32), nullable=False),
    sa.Column('new_category', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_triage_corrections_actor_id_people')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_triage_corrections_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_corrections'))
    )
    with op.batch_alter_table('triage_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triage_corrections_case_id'), ['case_id'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mime_type', sa.String(length=64), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('telegram_file_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_attachments_case_id_cases')),
    sa.ForeignKeyConstraint(['event_id'], ['case_events.id'], name=op.f('fk_attachments_event_id_case_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_case_id'))

    op.drop_table('attachments')
    with op.batch_alter_table('triage_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triage_corrections_case_id'))

    op.drop_table('triage_corrections')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_recipient_id'))
        batch_op.drop_index('ix_notifications_due')
        batch_op.drop_index(batch_op.f('ix_notifications_case_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_unit_id'))
        batch_op.drop_index(batch_op.f('ix_cases_state'))
        batch_op.drop_index(batch_op.f('ix_cases_resolve_due_at'))
        batch_op.drop_index(batch_op.f('ix_cases_reporter_id'))
        batch_op.drop_index(batch_op.f('ix_cases_owner_id'))
        batch_op.drop_index(batch_op.f('ix_cases_next_reminder_at'))
        batch_op.drop_index(batch_op.f('ix_cases_created_at'))
        batch_op.drop_index(batch_op.f('ix_cases_autoclose_at'))
        batch_op.drop_index(batch_op.f('ix_cases_ack_due_at'))

    op.drop_table('cases')
    with op.batch_alter_table('invite_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_codes_person_id'))

    op.drop_table('invite_codes')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_households_unit_id'))
        batch_op.drop_index(batch_op.f('ix_households_liaison_id'))

    op.drop_table('households')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_unit_id'))
        batch_op.drop_index(batch_op.f('ix_people_role'))

    op.drop_table('people')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_parent_id'))

    op.drop_table('units')
    op.drop_table('scheduler_lease')
    op.drop_table('processed_updates')
