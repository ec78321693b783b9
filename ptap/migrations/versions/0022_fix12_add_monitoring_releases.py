"""monitoring: the protected releases of each quarter, stored by the refresh job

Revision ID: 0022_fix12
Revises: 0027_fixletters
Create Date: 2026-12-07 12:40:00

Statistical secrecy of a quarter (every level linked) was computed inside the web request on
a cache miss. ``refresh_monitoring_aggregates`` now computes the release of every quarter
whose aggregates changed and stores it here; pages and the API only read it. The table starts
empty: the next run of the job fills it (the page says "indicateurs en cours de calcul" until
then).
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_fix12"
down_revision = "0027_fixletters"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monitoring_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("quarter", sa.Date(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_releases")),
        sa.UniqueConstraint("scope", "quarter", name=op.f("uq_monitoring_releases_scope")),
    )


def downgrade():
    op.drop_table("monitoring_releases")
