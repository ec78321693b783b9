"""trim audit_events indexes to what the queries use: one (patient_id, id) index

Revision ID: 0014_auditbench
Revises: 0013_secrest
Create Date: 2026-12-07 08:40:00

Every audited read inserts one audit_events row and paid for three secondary indexes. Only
the patient index is used (the access log, patient_id = ? ORDER BY id DESC, and the security
event list, patient_id IS NULL); the action index serves no query (they match prefixes with
LIKE, which a plain B-tree does not serve under a non-C collation, nor SQLite's LIKE) and no
query filters on actor_id. They are replaced by one (patient_id, id) index, which also gives
the access log its order without a sort. See "Audit trail" in docs/performance.md.

On PostgreSQL the new index is built CONCURRENTLY (outside the migration's transaction), so
that audited requests keep inserting while it is built on a large table.
"""

from alembic import op

revision = "0014_auditbench"
down_revision = "0013_secrest"
branch_labels = None
depends_on = None

OLD = {
    "ix_audit_events_action": ["action"],
    "ix_audit_events_actor_id": ["actor_id"],
    "ix_audit_events_patient_id": ["patient_id"],
}
NEW = ("ix_audit_events_patient_id_id", ["patient_id", "id"])


def _postgresql():
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.create_index(NEW[0], "audit_events", NEW[1], postgresql_concurrently=True)
            for name in OLD:
                op.drop_index(name, table_name="audit_events", postgresql_concurrently=True)
        return
    op.create_index(NEW[0], "audit_events", NEW[1])
    for name in OLD:
        op.drop_index(name, table_name="audit_events")


def downgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            for name, columns in OLD.items():
                op.create_index(name, "audit_events", columns, postgresql_concurrently=True)
            op.drop_index(NEW[0], table_name="audit_events", postgresql_concurrently=True)
        return
    for name, columns in OLD.items():
        op.create_index(name, "audit_events", columns)
    op.drop_index(NEW[0], table_name="audit_events")
