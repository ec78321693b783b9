"""core: the scheduler lease; outbox rows remember the request id that queued them

One active `ptap scheduler` among several holds the lease. E-mails and DMP submissions keep
the X-Request-ID of the request that queued them, so the sending job logs with it (rows
queued before this revision have none).

Revision ID: 0040_ops
Revises: 0035_dmpfile
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0040_ops"
down_revision = "0035_dmpfile"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    for table in ("mail_outbox", "dmp_submissions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("request_id", sa.String(length=128), server_default="", nullable=False)
            )


def downgrade():
    for table in ("dmp_submissions", "mail_outbox"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_id")
    op.drop_table("scheduler_leases")
