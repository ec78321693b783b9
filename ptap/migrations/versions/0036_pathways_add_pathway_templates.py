"""pathways: pathway templates, their immutable versions, patients' pathways

Revision ID: 0036_pathways
Revises: 0039_blobs
Create Date: 2026-12-07 19:10:00

Three new tables, empty at first, and one nullable column on care_plans (`draft_provenance`:
where the draft's prefill came from, recorded by the next published version). Published
template versions are append-only at the database level, like care-plan versions.
"""

import sqlalchemy as sa
from alembic import op

from ptap.core.models import UTCDateTime, append_only_ddl

revision = "0036_pathways"
down_revision = "0039_blobs"
branch_labels = None
depends_on = None

RUNNING = "stopped_at IS NULL"
VERSIONS = "pathway_template_versions"


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("care_plans", sa.Column("draft_provenance", sa.JSON(), nullable=True))
    op.create_table(
        "pathway_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("draft_updated_at", UTCDateTime(), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(territory_id IS NULL) <> (team_id IS NULL)",
            name=op.f("ck_pathway_templates_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territories.id"],
            name=op.f("fk_pathway_templates_territory_id_territories"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["care_teams.id"], name=op.f("fk_pathway_templates_team_id_care_teams")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_pathway_templates_created_by_id_users")
        ),
        *(
            [
                sa.ForeignKeyConstraint(
                    ["current_version_id"],
                    [f"{VERSIONS}.id"],
                    name=op.f("fk_pathway_templates_current_version_id_pathway_template_versions"),
                )
            ]
            if sqlite
            else []
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_templates")),
    )
    op.create_index(
        op.f("ix_pathway_templates_territory_id"), "pathway_templates", ["territory_id"]
    )
    op.create_index(op.f("ix_pathway_templates_team_id"), "pathway_templates", ["team_id"])
    op.create_table(
        VERSIONS,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["pathway_templates.id"],
            name=op.f("fk_pathway_template_versions_template_id_pathway_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_pathway_template_versions_created_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pathway_template_versions")),
        sa.UniqueConstraint(
            "template_id", "number", name=op.f("uq_pathway_template_versions_template_id")
        ),
    )
    op.create_index(op.f("ix_pathway_template_versions_template_id"), VERSIONS, ["template_id"])
    if not sqlite:
        # The template → current version key closes a cycle: added once both tables exist.
        op.create_foreign_key(
            op.f("fk_pathway_templates_current_version_id_pathway_template_versions"),
            "pathway_templates",
            VERSIONS,
            ["current_version_id"],
            ["id"],
        )
    for statement in append_only_ddl(VERSIONS, op.get_bind().dialect.name):
        op.execute(statement)
    op.create_table(
        "patient_pathways",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_by_id", sa.Integer(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_pathways_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plans.id"], name=op.f("fk_patient_pathways_plan_id_care_plans")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["pathway_templates.id"],
            name=op.f("fk_patient_pathways_template_id_pathway_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            [f"{VERSIONS}.id"],
            name=op.f("fk_patient_pathways_template_version_id_pathway_template_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"], ["users.id"], name=op.f("fk_patient_pathways_started_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["stopped_by_id"], ["users.id"], name=op.f("fk_patient_pathways_stopped_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_pathways")),
    )
    op.create_index(op.f("ix_patient_pathways_patient_id"), "patient_pathways", ["patient_id"])
    op.create_index(
        "uq_patient_pathways_running",
        "patient_pathways",
        ["patient_id", "template_id"],
        unique=True,
        sqlite_where=sa.text(RUNNING),
        postgresql_where=sa.text(RUNNING),
    )


def downgrade():
    dialect = op.get_bind().dialect.name
    op.drop_index("uq_patient_pathways_running", table_name="patient_pathways")
    op.drop_index(op.f("ix_patient_pathways_patient_id"), table_name="patient_pathways")
    op.drop_table("patient_pathways")
    if dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {VERSIONS}_no_change ON {VERSIONS}")
        op.execute(f"DROP FUNCTION IF EXISTS {VERSIONS}_append_only()")
        op.drop_constraint(
            op.f("fk_pathway_templates_current_version_id_pathway_template_versions"),
            "pathway_templates",
            type_="foreignkey",
        )
    op.drop_index(op.f("ix_pathway_template_versions_template_id"), table_name=VERSIONS)
    op.drop_table(VERSIONS)
    op.drop_index(op.f("ix_pathway_templates_team_id"), table_name="pathway_templates")
    op.drop_index(op.f("ix_pathway_templates_territory_id"), table_name="pathway_templates")
    op.drop_table("pathway_templates")
    with op.batch_alter_table("care_plans") as batch_op:
        batch_op.drop_column("draft_provenance")
