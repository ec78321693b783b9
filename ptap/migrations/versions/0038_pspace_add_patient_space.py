"""patient_space: patient-side accounts, their invitations, sign-in codes and plan answers

Revision ID: 0038_pspace
Revises: 0040_ops
Create Date: 2026-12-07 18:53:05

New tables, empty at first. Patient-side accounts are not rows of ``users`` (see
docs/architecture.md, "Patient-side accounts").
"""

import sqlalchemy as sa
from alembic import op

from ptap.core.models import UTCDateTime

revision = "0038_pspace"
down_revision = "0040_ops"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "patient_space_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=30), nullable=False),
        sa.Column("rights", sa.String(length=120), nullable=False),
        sa.Column("legal_basis", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_patient_space_invitations_invited_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_space_invitations_patient_id_patients"),
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["users.id"],
            name=op.f("fk_patient_space_invitations_revoked_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_space_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_patient_space_invitations_token_hash")),
    )
    with op.batch_alter_table("patient_space_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_space_invitations_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "patient_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("failed_codes", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=30), nullable=False),
        sa.Column("rights", sa.String(length=120), nullable=False),
        sa.Column("legal_basis", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["ended_by_id"], ["users.id"], name=op.f("fk_patient_accounts_ended_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["patient_space_invitations.id"],
            name=op.f("fk_patient_accounts_invitation_id_patient_space_invitations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_accounts_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_patient_accounts_email")),
    )
    with op.batch_alter_table("patient_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_accounts_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "patient_sign_in_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["patient_accounts.id"],
            name=op.f("fk_patient_sign_in_codes_account_id_patient_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_sign_in_codes")),
    )
    with op.batch_alter_table("patient_sign_in_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patient_sign_in_codes_account_created", ["account_id", "created_at"], unique=False
        )

    op.create_table(
        "patient_plan_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["patient_accounts.id"],
            name=op.f("fk_patient_plan_responses_account_id_patient_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_plan_responses_patient_id_patients"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["care_plan_versions.id"],
            name=op.f("fk_patient_plan_responses_version_id_care_plan_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_plan_responses")),
    )
    with op.batch_alter_table("patient_plan_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_plan_responses_patient_id"), ["patient_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("patient_plan_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_plan_responses_patient_id"))

    op.drop_table("patient_plan_responses")
    with op.batch_alter_table("patient_sign_in_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_sign_in_codes_account_created")

    op.drop_table("patient_sign_in_codes")
    with op.batch_alter_table("patient_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_accounts_patient_id"))

    op.drop_table("patient_accounts")
    with op.batch_alter_table("patient_space_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_space_invitations_patient_id"))

    op.drop_table("patient_space_invitations")
