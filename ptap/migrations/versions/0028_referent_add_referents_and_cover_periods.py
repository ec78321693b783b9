"""care_teams: a referent coordinator per enrolment, and cover periods during absences

Revision ID: 0028_referent
Revises: 0022_fix12
Create Date: 2026-12-07 15:00:00

Each open enrolment gets as referent the coordinator who enrolled the patient, when that
person still coordinates the team today (membership open, coordinator role); otherwise the
referent stays empty for a coordinator of the team to name. Ended enrolments keep no referent.
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_referent"
down_revision = "0022_fix12"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE enrolments SET referent_id = enrolled_by_id
WHERE ended_at IS NULL AND EXISTS (
    SELECT 1 FROM team_memberships m
    WHERE m.user_id = enrolments.enrolled_by_id
      AND m.team_id = enrolments.team_id
      AND m.role = 'coordinator'
      AND m.starts_on <= CURRENT_DATE
      AND (m.ends_on IS NULL OR m.ends_on >= CURRENT_DATE)
)
"""


def upgrade():
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_enrolments_referent_id"), ["referent_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_enrolments_referent_id_users"), "users", ["referent_id"], ["id"]
        )
    op.execute(BACKFILL)

    op.create_table(
        "cover_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("stand_in_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_cover_periods_period_order")),
        sa.CheckConstraint(
            "stand_in_id <> coordinator_id", name=op.f("ck_cover_periods_not_oneself")
        ),
        sa.ForeignKeyConstraint(
            ["coordinator_id"], ["users.id"], name=op.f("fk_cover_periods_coordinator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["stand_in_id"], ["users.id"], name=op.f("fk_cover_periods_stand_in_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_cover_periods_team_id_care_teams")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_cover_periods_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cover_periods")),
    )
    with op.batch_alter_table("cover_periods", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cover_periods_coordinator_days", ["coordinator_id", "starts_on", "ends_on"]
        )
        batch_op.create_index(batch_op.f("ix_cover_periods_stand_in_id"), ["stand_in_id"])


def downgrade():
    op.drop_table("cover_periods")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_enrolments_referent_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_enrolments_referent_id"))
        batch_op.drop_column("referent_id")
