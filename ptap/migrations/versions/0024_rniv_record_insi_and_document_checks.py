"""record INSi answers, document checks and merges; downgrade hand-qualified identities

Revision ID: 0024_rniv
Revises: 0019_letters
Create Date: 2026-12-07 12:00:00

Identity vigilance by the rules (RNIV): an identity is qualified only with an INS retrieved or
verified through the INSi teleservice AND a check on a high-trust document. Until now the
status was typed by hand, with no trace of any INSi call. So this migration:

- DOWNGRADES every "qualified" identity to "validée" (identity_status 'validated'): a
  document was declared seen, but no INSi answer was recorded. Its document check is kept
  (type when it was recorded, otherwise 'unrecorded'; date and author of the last check).
  Coordinators re-qualify them with "Interroger INSi" on the identity page;
- sends every "recovered" identity (INSi declared by hand, no trace) back to "provisoire";
- records, for "validated" identities, their document check the same way;
- adds the patient_merges table, which keeps what each merge moved so it can be undone.

It logs how many identities it downgraded (logger alembic.runtime.migration). Downgrading the
migration drops the new columns and table; the statuses lowered are not raised back.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0024_rniv"
down_revision = "0019_letters"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
DOCUMENT_TYPES = ("identity_card", "passport", "residence_permit", "family_record_book")


def upgrade():
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("insi_checked_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("insi_checked_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("insi_operation", sa.String(length=10), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("document_type", sa.String(length=30), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("document_checked_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("document_checked_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_insi_checked_by_id_users"),
            "users",
            ["insi_checked_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_patients_document_checked_by_id_users"),
            "users",
            ["document_checked_by_id"],
            ["id"],
        )
    op.create_table(
        "patient_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("duplicate_id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_by_id", sa.Integer(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_id"], ["patients.id"], name=op.f("fk_patient_merges_duplicate_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["duplicate_flags.id"],
            name=op.f("fk_patient_merges_flag_id_duplicate_flags"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_by_id"], ["users.id"], name=op.f("fk_patient_merges_merged_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["patients.id"], name=op.f("fk_patient_merges_survivor_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"], ["users.id"], name=op.f("fk_patient_merges_undone_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_merges")),
    )
    with op.batch_alter_table("patient_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_merges_duplicate_id"), ["duplicate_id"])
        batch_op.create_index(batch_op.f("ix_patient_merges_flag_id"), ["flag_id"])
        batch_op.create_index(batch_op.f("ix_patient_merges_survivor_id"), ["survivor_id"])
    _downgrade_hand_statuses()


def _downgrade_hand_statuses():
    conn = op.get_bind()
    qualified = conn.scalar(
        sa.text("SELECT COUNT(*) FROM patients WHERE identity_status = 'qualified'")
    )
    recovered = conn.scalar(
        sa.text("SELECT COUNT(*) FROM patients WHERE identity_status = 'recovered'")
    )
    documents = ", ".join(f"'{t}'" for t in DOCUMENT_TYPES)
    op.execute(
        "UPDATE patients SET "  # noqa: S608 - constant names
        f"document_type = CASE WHEN identity_check_method IN ({documents}) "
        "THEN identity_check_method ELSE 'unrecorded' END, "
        "document_checked_at = COALESCE(identity_checked_at, updated_at), "
        "document_checked_by_id = identity_checked_by_id "
        "WHERE identity_status IN ('qualified', 'validated')"
    )
    op.execute(
        "UPDATE patients SET identity_status = 'validated', identity_check_method = "
        "document_type WHERE identity_status = 'qualified'"
    )
    op.execute(
        "UPDATE patients SET identity_status = 'provisional', identity_check_method = '', "
        "identity_checked_at = NULL, identity_checked_by_id = NULL "
        "WHERE identity_status = 'recovered'"
    )
    log.warning(
        "0024_rniv: %s hand-qualified identities downgraded to 'validée' (no INSi answer "
        "recorded) and %s hand-recovered identities to 'provisoire'; re-qualify them with "
        "« Interroger INSi ».",
        qualified,
        recovered,
    )


def downgrade():
    with op.batch_alter_table("patient_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_patient_merges_flag_id"))
        batch_op.drop_index(batch_op.f("ix_patient_merges_duplicate_id"))
    op.drop_table("patient_merges")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_patients_document_checked_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_patients_insi_checked_by_id_users"), type_="foreignkey"
        )
        for column in (
            "document_checked_by_id",
            "document_checked_at",
            "document_type",
            "insi_operation",
            "insi_checked_by_id",
            "insi_checked_at",
        ):
            batch_op.drop_column(column)
