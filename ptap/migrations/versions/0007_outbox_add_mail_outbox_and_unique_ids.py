"""add mail outbox, DMP uniqueIds that never repeat, one open filing per source

Revision ID: 0006_outbox
Revises: 0006_prod
Create Date: 2026-12-07 05:40:00

Filings never attempted get new ``2.25.<UUID>`` document and submission-set uniqueIds (their
old ``<root>.2.<row id>`` could already be in the DMP after a reset or a restore); a filing
that was attempted keeps its ids, which may have reached the DMP.
"""

import uuid

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_outbox"
down_revision = "0006_prod"
branch_labels = None
depends_on = None

OPEN_FILING = "operation = 'file' AND status != 'cancelled'"
FILING = "operation = 'file'"


def _new_oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _renumber_unsent_filings() -> None:
    conn = op.get_bind()
    submissions = sa.table(
        "dmp_submissions",
        sa.column("id", sa.Integer),
        sa.column("operation", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("document_oid", sa.String),
        sa.column("submission_set_oid", sa.String),
    )
    unsent = conn.execute(
        sa.select(submissions.c.id).where(
            submissions.c.operation == "file", submissions.c.attempts == 0
        )
    ).scalars()
    for row_id in list(unsent):
        conn.execute(
            sa.update(submissions)
            .where(submissions.c.id == row_id)
            .values(document_oid=_new_oid(), submission_set_oid=_new_oid())
        )


def upgrade():
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_mail_outbox_due", ["status", "next_attempt_at"], unique=False)

    _renumber_unsent_filings()
    with op.batch_alter_table("dmp_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_dmp_submissions_open_filing_source",
            ["source_ref"],
            unique=True,
            sqlite_where=sa.text(OPEN_FILING),
            postgresql_where=sa.text(OPEN_FILING),
        )
        batch_op.create_index(
            "uq_dmp_submissions_filing_document_oid",
            ["document_oid"],
            unique=True,
            sqlite_where=sa.text(FILING),
            postgresql_where=sa.text(FILING),
        )


def downgrade():
    with op.batch_alter_table("dmp_submissions", schema=None) as batch_op:
        batch_op.drop_index("uq_dmp_submissions_filing_document_oid")
        batch_op.drop_index("uq_dmp_submissions_open_filing_source")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_due")
    op.drop_table("mail_outbox")
