"""add monitoring aggregates, their refresh state and the quarterly reports

Revision ID: 0012_monitoring
Revises: 0011_intake
Create Date: 2026-12-07 08:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_monitoring"
down_revision = "0011_intake"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monitoring_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("indicator", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=60), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_monitoring_counts_team_id_care_teams")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_monitoring_counts_territory_id_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_counts")),
        sa.UniqueConstraint(
            "territory_id",
            "team_id",
            "month",
            "indicator",
            "dimension",
            name=op.f("uq_monitoring_counts_territory_id"),
        ),
    )
    with op.batch_alter_table("monitoring_counts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_counts_month_territory", ["month", "territory_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_monitoring_counts_team_id"), ["team_id"], unique=False)
    op.create_table(
        "monitoring_state",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitoring_state")),
    )
    op.create_table(
        "monitoring_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_monitoring_reports_requested_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_monitoring_reports_territory_id_territories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_reports")),
    )
    with op.batch_alter_table("monitoring_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitoring_reports_requested_by_id"), ["requested_by_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("monitoring_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_reports_requested_by_id"))
    op.drop_table("monitoring_reports")
    op.drop_table("monitoring_state")
    with op.batch_alter_table("monitoring_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_counts_team_id"))
        batch_op.drop_index("ix_monitoring_counts_month_territory")
    op.drop_table("monitoring_counts")
