"""core: blob storage in the database (blobs, blob_chunks)

Revision ID: 0039_blobs
Revises: 0033_dmpread
Create Date: 2026-12-07 19:00:00

Attachments and signed consent forms may live in PostgreSQL (STORAGE_BACKEND = "database",
the production default) so that every process on every host reads them. Existing files stay
where they are: `ptap storage migrate --to database` copies them (re-runnable, checksummed).
"""

import sqlalchemy as sa
from alembic import op

from ptap.core.models import UTCDateTime

revision = "0039_blobs"
down_revision = "0033_dmpread"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_blobs")),
    )
    op.create_table(
        "blob_chunks",
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_key"],
            ["blobs.key"],
            name=op.f("fk_blob_chunks_blob_key_blobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blob_key", "seq", name=op.f("pk_blob_chunks")),
    )


def downgrade():
    op.drop_table("blob_chunks")
    op.drop_table("blobs")
