"""accounts: how each login session was opened (password + TOTP, or Pro Santé Connect)

Revision ID: 0033_dmpread
Revises: 0031_msgtab
Create Date: 2026-12-07 15:10:00

Consulting a patient's DMP needs a Pro Santé Connect session. Sessions opened before this
revision count as password sessions (the server default is empty, never "psc").
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_dmpread"
down_revision = "0031_msgtab"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_sessions") as batch:
        batch.add_column(
            sa.Column("auth_method", sa.String(length=20), server_default="", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("user_sessions") as batch:
        batch.drop_column("auth_method")
