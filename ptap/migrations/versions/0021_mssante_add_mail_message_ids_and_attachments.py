"""give each queued e-mail a Message-ID, a kind, a hand-over mark and stored attachments

Revision ID: 0021_mssante
Revises: 0016_fixintake
Create Date: 2026-12-07 11:45:00

Secure health messages (MSSanté) carry the letter's PDF and its IHE_XDM.ZIP: the files are
stored with the e-mail in the transaction that queues it. The Message-ID is fixed when the
e-mail is queued (existing rows get one built from their id) so that every attempt sends the
same header. ``delivery_started_at`` marks a message handed to the relay whose outcome is not
recorded yet: such a row is never re-sent automatically.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_mssante"
down_revision = "0016_fixintake"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=30), nullable=False, server_default="notification")
        )
        batch_op.add_column(
            sa.Column("delivery_started_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE mail_outbox SET message_id = '<mail-' || id || '@ptap.invalid>'")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=30), server_default=None)
        batch_op.create_unique_constraint(op.f("uq_mail_outbox_message_id"), ["message_id"])

    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["mail_outbox.id"],
            name=op.f("fk_mail_attachments_mail_id_mail_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_attachments")),
        sa.UniqueConstraint("mail_id", "position", name=op.f("uq_mail_attachments_mail_id")),
    )


def downgrade():
    op.drop_table("mail_attachments")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_mail_outbox_message_id"), type_="unique")
        batch_op.drop_column("delivery_started_at")
        batch_op.drop_column("kind")
        batch_op.drop_column("message_id")
