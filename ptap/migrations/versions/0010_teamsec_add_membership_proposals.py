"""add membership proposals (four-eyes) and one open enrolment per patient and team

Revision ID: 0006_teamsec
Revises: 0006_audit
Create Date: 2026-12-07 05:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_teamsec"
down_revision = "0006_audit"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "membership_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_membership_proposals_decided_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["team_memberships.id"],
            name=op.f("fk_membership_proposals_membership_id_team_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_membership_proposals_proposed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_membership_proposals_team_id_care_teams")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_membership_proposals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_proposals")),
    )
    with op.batch_alter_table("membership_proposals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_proposals_team_id"), ["team_id"], unique=False
        )
        batch_op.create_index(
            "uq_membership_proposals_pending",
            ["team_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "uq_enrolments_patient_team_open",
            ["patient_id", "team_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )


def downgrade():
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_index("uq_enrolments_patient_team_open")
    with op.batch_alter_table("membership_proposals", schema=None) as batch_op:
        batch_op.drop_index("uq_membership_proposals_pending")
        batch_op.drop_index(batch_op.f("ix_membership_proposals_team_id"))
    op.drop_table("membership_proposals")
