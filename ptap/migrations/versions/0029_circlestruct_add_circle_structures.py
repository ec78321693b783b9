"""care_teams: outside services in a patient's circle (SSIAD, CCAS, aide à domicile...)

Revision ID: 0029_circlestruct
Revises: 0028_referent
Create Date: 2026-12-07 15:10:00

A new table, empty at first. The partial unique index keeps the same FINESS number at most
once among a circle's running services (rows whose ``ended_on`` is set are history).
"""

import sqlalchemy as sa
from alembic import op

from ptap.core.models import UTCDateTime

revision = "0029_circlestruct"
down_revision = "0028_referent"
branch_labels = None
depends_on = None

OPEN = "ended_on IS NULL AND finess IS NOT NULL"


def upgrade():
    op.create_table(
        "circle_structures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("finess", sa.String(length=9), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_person", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_circle_structures_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_circle_structures_structure_id_structures"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["users.id"], name=op.f("fk_circle_structures_added_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_circle_structures_updated_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_id"], ["users.id"], name=op.f("fk_circle_structures_ended_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_structures")),
    )
    op.create_index(op.f("ix_circle_structures_patient_id"), "circle_structures", ["patient_id"])
    op.create_index(
        "uq_circle_structures_patient_finess_open",
        "circle_structures",
        ["patient_id", "finess"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade():
    op.drop_index("uq_circle_structures_patient_finess_open", table_name="circle_structures")
    op.drop_index(op.f("ix_circle_structures_patient_id"), table_name="circle_structures")
    op.drop_table("circle_structures")
