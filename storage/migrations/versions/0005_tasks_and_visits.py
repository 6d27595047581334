"""Tasks down the hierarchy (tasks, task_answers, task_events, cases.task_id) and the six must-visits (visits,
visit_events, visit_attachments).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Written by hand (checked against autogenerate); runs on SQLite (batch mode) and PostgreSQL.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _events(table: str, parent: str, parent_table: str) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(parent, sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"], name=op.f(f"fk_{table}_actor_id_people")),
        sa.ForeignKeyConstraint([parent], [f"{parent_table}.id"], name=op.f(f"fk_{table}_{parent}_{parent_table}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{parent}"), [parent], unique=False)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("texts", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=True),
        sa.Column("audio_mime", sa.String(length=64), nullable=True),
        sa.Column("audio_file_id", sa.String(length=200), nullable=True),
        sa.Column("target_unit_ids", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("min_urgency", sa.String(length=16), nullable=True),
        sa.Column("problem_category", sa.String(length=32), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_wakeup_at", sa.DateTime(), nullable=True),
        sa.Column("summary_sent_at", sa.DateTime(), nullable=True),
        sa.Column("close_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["people.id"], name=op.f("fk_tasks_issuer_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_issuer_id"), ["issuer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_next_wakeup_at"), ["next_wakeup_at"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_task_id"), ["task_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_cases_task_id_tasks"), "tasks", ["task_id"], ["id"])

    op.create_table(
        "task_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_task_answers_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_task_answers_household_id_households")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_answers_task_id_tasks")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_task_answers_unit_id_units")),
        sa.ForeignKeyConstraint(["worker_id"], ["people.id"], name=op.f("fk_task_answers_worker_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_answers")),
    )
    with op.batch_alter_table("task_answers", schema=None) as batch_op:
        batch_op.create_index("ix_task_answers_task_status", ["task_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_answers_worker_id"), ["worker_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_answers_household_id"), ["household_id"], unique=False)

    _events("task_events", "task_id", "tasks")

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("festival", sa.String(length=32), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("next_reminder_at", sa.DateTime(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_visits_case_id_cases")),
        sa.ForeignKeyConstraint(["done_by_id"], ["people.id"], name=op.f("fk_visits_done_by_id_people")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_visits_household_id_households")),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"], name=op.f("fk_visits_owner_id_people")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_visits_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("household_id", "festival", name="uq_visits_household_festival"),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        for column in ("household_id", "unit_id", "owner_id", "state", "case_id", "next_reminder_at"):
            batch_op.create_index(batch_op.f(f"ix_visits_{column}"), [column], unique=False)

    _events("visit_events", "visit_id", "visits")

    op.create_table(
        "visit_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("telegram_file_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_visit_attachments_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_attachments")),
    )
    with op.batch_alter_table("visit_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_attachments_visit_id"), ["visit_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("visit_attachments", ["ix_visit_attachments_visit_id"]),
        ("visit_events", ["ix_visit_events_visit_id"]),
        ("visits", [f"ix_visits_{c}" for c in ("household_id", "unit_id", "owner_id", "state", "case_id",
                                                "next_reminder_at")]),
        ("task_events", ["ix_task_events_task_id"]),
        ("task_answers", ["ix_task_answers_task_status", "ix_task_answers_worker_id",
                          "ix_task_answers_household_id"]),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(name)
        op.drop_table(table)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("fk_cases_task_id_tasks", type_="foreignkey")
        batch_op.drop_index("ix_cases_task_id")
        batch_op.drop_column("task_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for name in ("ix_tasks_next_wakeup_at", "ix_tasks_state", "ix_tasks_issuer_id"):
            batch_op.drop_index(name)
    op.drop_table("tasks")
