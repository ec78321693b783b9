"""add letter templates (versioned), letters and their MSSanté sendings

Revision ID: 0019_letters
Revises: 0021_mssante
Create Date: 2026-12-07 11:40:00

Coordination letters (lettre d'adressage, compte rendu d'évaluation à domicile) are written
from a team's templates; each template version is kept, and each letter names the version it
was written from. A signed letter keeps its PDF/A (rendered by the letters job), the DMP
outbox row of its filing and its MSSanté sendings (mail outbox rows).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_letters"
down_revision = "0021_mssante"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "letter_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("current_number", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_letter_templates_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_letter_templates_team_id_care_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_templates")),
    )
    op.create_index(
        op.f("ix_letter_templates_team_id"), "letter_templates", ["team_id"], unique=False
    )
    op.create_table(
        "letter_template_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_letter_template_versions_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["letter_templates.id"],
            name=op.f("fk_letter_template_versions_template_id_letter_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_template_versions")),
        sa.UniqueConstraint(
            "template_id", "number", name=op.f("uq_letter_template_versions_template_id")
        ),
    )
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("addressee", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_rpps", sa.String(length=11), nullable=False),
        sa.Column("pdf_status", sa.String(length=20), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_rendered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pdf_error", sa.Text(), nullable=False),
        sa.Column("dmp_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dmp_requested_by_id", sa.Integer(), nullable=True),
        sa.Column("dmp_submission_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_letters_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["dmp_requested_by_id"], ["users.id"], name=op.f("fk_letters_dmp_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["dmp_submission_id"],
            ["dmp_submissions.id"],
            name=op.f("fk_letters_dmp_submission_id_dmp_submissions"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_letters_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_letters_team_id_care_teams")
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["letter_template_versions.id"],
            name=op.f("fk_letters_template_version_id_letter_template_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
        sa.UniqueConstraint("dmp_submission_id", name=op.f("uq_letters_dmp_submission_id")),
    )
    op.create_index("ix_letters_patient", "letters", ["patient_id", "id"], unique=False)
    op.create_index("ix_letters_team", "letters", ["team_id", "id"], unique=False)
    op.create_index("ix_letters_pdf_status", "letters", ["pdf_status"], unique=False)
    op.create_table(
        "letter_sendings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_sendings_letter_id_letters")
        ),
        sa.ForeignKeyConstraint(
            ["mail_id"], ["mail_outbox.id"], name=op.f("fk_letter_sendings_mail_id_mail_outbox")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_letter_sendings_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_sendings")),
        sa.UniqueConstraint("letter_id", "recipient", name=op.f("uq_letter_sendings_letter_id")),
        sa.UniqueConstraint("mail_id", name=op.f("uq_letter_sendings_mail_id")),
    )
    op.create_index(
        op.f("ix_letter_sendings_letter_id"), "letter_sendings", ["letter_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_letter_sendings_letter_id"), table_name="letter_sendings")
    op.drop_table("letter_sendings")
    op.drop_index("ix_letters_pdf_status", table_name="letters")
    op.drop_index("ix_letters_team", table_name="letters")
    op.drop_index("ix_letters_patient", table_name="letters")
    op.drop_table("letters")
    op.drop_table("letter_template_versions")
    op.drop_index(op.f("ix_letter_templates_team_id"), table_name="letter_templates")
    op.drop_table("letter_templates")
