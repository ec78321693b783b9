"""add support requests (sollicitations), team intake targets and care-pathway events

Revision ID: 0011_intake
Revises: 0006_teamsec
Create Date: 2026-12-07 08:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_intake"
down_revision = "0006_teamsec"
branch_labels = None
depends_on = None


def _fk(table, column, target):
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade():
    op.create_table(
        "support_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requester_kind", sa.String(length=30), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("requester_contact", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("person_summary", sa.Text(), nullable=False),
        sa.Column("problem_categories", sa.String(length=200), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("mission_type", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triaged_by_id", sa.Integer(), nullable=True),
        sa.Column("first_answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_answer_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluation_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ppcs_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("support_requests", "team_id", "care_teams"),
        _fk("support_requests", "patient_id", "patients"),
        _fk("support_requests", "assigned_to_id", "users"),
        _fk("support_requests", "triaged_by_id", "users"),
        _fk("support_requests", "closed_by_id", "users"),
        _fk("support_requests", "enrolment_id", "enrolments"),
        _fk("support_requests", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_requests")),
    )
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.create_index("ix_support_requests_team_status", ["team_id", "status"])
        batch_op.create_index("ix_support_requests_received_at", ["received_at"])
        batch_op.create_index("ix_support_requests_team_received", ["team_id", "received_at"])
        batch_op.create_index(batch_op.f("ix_support_requests_patient_id"), ["patient_id"])
        batch_op.create_index(batch_op.f("ix_support_requests_enrolment_id"), ["enrolment_id"])

    op.create_table(
        "team_intake_targets",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("first_answer_working_days", sa.Integer(), nullable=False),
        sa.Column("evaluation_working_days", sa.Integer(), nullable=False),
        sa.Column("ppcs_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        _fk("team_intake_targets", "team_id", "care_teams"),
        _fk("team_intake_targets", "updated_by_id", "users"),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_intake_targets")),
    )

    op.create_table(
        "care_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        _fk("care_events", "patient_id", "patients"),
        _fk("care_events", "team_id", "care_teams"),
        _fk("care_events", "recorded_by_id", "users"),
        _fk("care_events", "withdrawn_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_events")),
    )
    with op.batch_alter_table("care_events", schema=None) as batch_op:
        batch_op.create_index("ix_care_events_patient_occurred", ["patient_id", "occurred_on"])
        batch_op.create_index("ix_care_events_team_recorded", ["team_id", "recorded_at"])
        batch_op.create_index("ix_care_events_occurred_on", ["occurred_on"])


def downgrade():
    with op.batch_alter_table("care_events", schema=None) as batch_op:
        batch_op.drop_index("ix_care_events_occurred_on")
        batch_op.drop_index("ix_care_events_team_recorded")
        batch_op.drop_index("ix_care_events_patient_occurred")
    op.drop_table("care_events")
    op.drop_table("team_intake_targets")
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_requests_enrolment_id"))
        batch_op.drop_index(batch_op.f("ix_support_requests_patient_id"))
        batch_op.drop_index("ix_support_requests_team_received")
        batch_op.drop_index("ix_support_requests_received_at")
        batch_op.drop_index("ix_support_requests_team_status")
    op.drop_table("support_requests")
