"""messaging: room for office documents' MIME types on attachments

Revision ID: 0031_msgtab
Revises: 0029_circlestruct
Create Date: 2026-12-07 15:20:00

Word and Excel documents (OOXML) have MIME types of up to 71 characters
("application/vnd.openxmlformats-officedocument.wordprocessingml.document"): the column
grows from 50 to 100. No data changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_msgtab"
down_revision = "0029_circlestruct"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.alter_column(
            "content_type", existing_type=sa.String(length=50), type_=sa.String(length=100)
        )


def downgrade():
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.alter_column(
            "content_type", existing_type=sa.String(length=100), type_=sa.String(length=50)
        )
