"""add assessment grids (versioned), assessments and their alerts

Revision ID: 0037_grids
Revises: 0036_pathways
Create Date: 2026-12-07 19:00:00

Assessment grids (grilles d'évaluation) are questionnaires with a stable key; their published
versions are append-only (database triggers). An assessment is one grid filled for a patient;
once signed, the database refuses to change or delete it. A score in an alerting band raises
one alert per assessment (unique).
"""

import sqlalchemy as sa
from alembic import op

revision = "0037_grids"
down_revision = "0036_pathways"
branch_labels = None
depends_on = None


def append_only_ddl(table, dialect):
    """A copy (frozen with this revision) of ptap.core.models.append_only_ddl."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ]
    return []


def signed_frozen_ddl(dialect):
    """A copy (frozen with this revision) of ptap.grids.models.signed_frozen_ddl."""
    message = "a signed assessment is immutable"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER assessments_signed_no_{verb.lower()} BEFORE {verb} ON assessments "
            f"WHEN OLD.signed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION assessments_signed_frozen() RETURNS trigger AS $$ "
            f"BEGIN IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{message}'; END IF; "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER assessments_signed_no_change BEFORE UPDATE OR DELETE ON assessments "
            "FOR EACH ROW EXECUTE FUNCTION assessments_signed_frozen()",
        ]
    return []


def upgrade():
    op.create_table(
        "assessment_grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("current_number", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_assessment_grids_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_grids")),
        sa.UniqueConstraint("key", name=op.f("uq_assessment_grids_key")),
    )
    op.create_table(
        "assessment_grid_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("published_by_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["assessment_grids.id"],
            name=op.f("fk_assessment_grid_versions_grid_id_assessment_grids"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["users.id"],
            name=op.f("fk_assessment_grid_versions_published_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_grid_versions")),
        sa.UniqueConstraint("grid_id", "number", name=op.f("uq_assessment_grid_versions_grid_id")),
    )
    op.create_index(
        op.f("ix_assessment_grid_versions_grid_id"),
        "assessment_grid_versions",
        ["grid_id"],
        unique=False,
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("grid_version_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("band_label", sa.String(length=200), nullable=False),
        sa.Column("band_alert", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_assessments_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["assessment_grids.id"],
            name=op.f("fk_assessments_grid_id_assessment_grids"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_version_id"],
            ["assessment_grid_versions.id"],
            name=op.f("fk_assessments_grid_version_id_assessment_grid_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_assessments_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    op.create_index(
        "ix_assessments_patient_grid", "assessments", ["patient_id", "grid_id"], unique=False
    )
    op.create_table(
        "assessment_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("notified_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_assessment_alerts_assessment_id_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_assessment_alerts_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_alerts")),
        sa.UniqueConstraint("assessment_id", name=op.f("uq_assessment_alerts_assessment_id")),
    )
    op.create_index(
        op.f("ix_assessment_alerts_patient_id"), "assessment_alerts", ["patient_id"], unique=False
    )
    dialect = op.get_bind().dialect.name
    for statement in append_only_ddl("assessment_grid_versions", dialect):
        op.execute(statement)
    for statement in signed_frozen_ddl(dialect):
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS assessments_signed_no_change ON assessments")
        op.execute("DROP FUNCTION IF EXISTS assessments_signed_frozen()")
        op.execute(
            "DROP TRIGGER IF EXISTS assessment_grid_versions_no_change ON assessment_grid_versions"
        )
        op.execute("DROP FUNCTION IF EXISTS assessment_grid_versions_append_only()")
    op.drop_index(op.f("ix_assessment_alerts_patient_id"), table_name="assessment_alerts")
    op.drop_table("assessment_alerts")
    op.drop_index("ix_assessments_patient_grid", table_name="assessments")
    op.drop_table("assessments")
    op.drop_index(
        op.f("ix_assessment_grid_versions_grid_id"), table_name="assessment_grid_versions"
    )
    op.drop_table("assessment_grid_versions")
    op.drop_table("assessment_grids")
