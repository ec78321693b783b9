"""add audit seal key ids (rotation of the audit chain key)

Revision ID: 0013_secrest
Revises: 0012_monitoring
Create Date: 2026-12-07 08:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_secrest"
down_revision = "0012_monitoring"
branch_labels = None
depends_on = None


def _append_only(table):
    dialect = op.get_bind().dialect.name
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


def _drop_append_only(table):
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")


def upgrade():
    # A plain ADD COLUMN (no batch copy): the append-only triggers stay, and existing seals
    # get the id of the single key used before rotation existed.
    op.add_column(
        "audit_seals",
        sa.Column("key_id", sa.String(length=40), server_default="1", nullable=False),
    )


def downgrade():
    # SQLite's batch mode copies the table, which drops its triggers: reinstall them after.
    _drop_append_only("audit_seals")
    with op.batch_alter_table("audit_seals", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    for statement in _append_only("audit_seals"):
        op.execute(statement)
