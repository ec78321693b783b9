"""filings: DMP documents filed into the coordination file, with their provenance

Revision ID: 0035_dmpfile
Revises: 0037_grids
Create Date: 2026-12-07 19:00:00

A new table, empty at first. The partial unique index keeps one live copy of a DMP document
per patient (a removed copy, ``removed_at`` set, is history and may be filed again).
"""

import sqlalchemy as sa
from alembic import op

from ptap.core.models import UTCDateTime

revision = "0035_dmpfile"
down_revision = "0037_grids"
branch_labels = None
depends_on = None

LIVE = "removed_at IS NULL"


def upgrade():
    op.create_table(
        "filed_dmp_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("dmp_unique_id", sa.String(length=128), nullable=False),
        sa.Column("repository_unique_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("type_label", sa.String(length=200), nullable=False),
        sa.Column("document_created_at", UTCDateTime(), nullable=True),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("view_kind", sa.String(length=20), nullable=False),
        sa.Column("hidden_from_patient", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.String(length=200), nullable=False),
        sa.Column("access_mode", sa.String(length=20), nullable=False),
        sa.Column("filed_by_id", sa.Integer(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_filed_dmp_documents_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["filed_by_id"], ["users.id"], name=op.f("fk_filed_dmp_documents_filed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_id"],
            ["users.id"],
            name=op.f("fk_filed_dmp_documents_removed_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filed_dmp_documents")),
    )
    op.create_index(
        op.f("ix_filed_dmp_documents_patient_id"), "filed_dmp_documents", ["patient_id"]
    )
    op.create_index(
        "uq_filed_dmp_documents_patient_document",
        "filed_dmp_documents",
        ["patient_id", "dmp_unique_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade():
    op.drop_index("uq_filed_dmp_documents_patient_document", table_name="filed_dmp_documents")
    op.drop_index(op.f("ix_filed_dmp_documents_patient_id"), table_name="filed_dmp_documents")
    op.drop_table("filed_dmp_documents")
