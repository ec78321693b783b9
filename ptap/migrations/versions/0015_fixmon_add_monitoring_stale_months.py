"""monitoring: months left by a corrected reception date; aggregates rebuilt in Paris months

Revision ID: 0015_fixmon
Revises: 0014_auditbench
Create Date: 2026-12-07 10:00:00

``monitoring_stale_months`` records the former month of a request whose reception date was
corrected, so that the incremental refresh recomputes it. The monitoring months become Paris
calendar months (they were UTC months): the aggregates and the watermark are dropped, and the
next run of ``refresh_monitoring_aggregates`` rebuilds every month.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_fixmon"
down_revision = "0014_auditbench"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monitoring_stale_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["care_teams.id"],
            name=op.f("fk_monitoring_stale_months_team_id_care_teams"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_stale_months")),
    )
    with op.batch_alter_table("monitoring_stale_months", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_stale_months_noted_at"), ["noted_at"])
    op.execute("DELETE FROM monitoring_counts")
    op.execute("DELETE FROM monitoring_state")


def downgrade():
    with op.batch_alter_table("monitoring_stale_months", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_stale_months_noted_at"))
    op.drop_table("monitoring_stale_months")
