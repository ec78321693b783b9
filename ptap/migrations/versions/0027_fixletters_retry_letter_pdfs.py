"""count the attempts at rendering a letter's PDF and when to try again

Revision ID: 0027_fixletters
Revises: 0025_search14
Create Date: 2026-12-07 12:40:00

A PDF that fails to render is tried again with backoff (``pdf_next_attempt_at``) up to a few
attempts (``pdf_attempts``), then left failed until its author or a coordinator asks again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_fixletters"
down_revision = "0025_search14"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pdf_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("pdf_next_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_column("pdf_next_attempt_at")
        batch_op.drop_column("pdf_attempts")
