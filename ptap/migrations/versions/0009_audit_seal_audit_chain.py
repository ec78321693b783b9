"""seal audit chain: audit rows inserted without a lock, linked by a keyed sealing job

Revision ID: 0006_audit
Revises: 0006_accounts
Create Date: 2026-12-07 05:40:00

The plain SHA-256 chain (prev_hash/row_hash on each row, written under the audit_heads row
lock) is replaced by audit_seals, written by one sealing job with an HMAC key kept outside
the database. Run `ptap audit verify` with the previous version before upgrading: existing
rows are sealed again, with the key, by the first sealing run.
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0006_audit"
down_revision = "0006_accounts"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


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
    postgresql = op.get_bind().dialect.name == "postgresql"
    # SQLite's batch mode copies the table, which drops its triggers: reinstall them after.
    _drop_append_only("audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("row_hash")
    if postgresql:
        # Ids now come from a sequence at insert (SQLite's INTEGER PRIMARY KEY already does).
        op.execute("CREATE SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
        op.execute(
            "SELECT setval('audit_events_id_seq', COALESCE((SELECT max(id) FROM audit_events), 0)"
            " + 1, false)"
        )
        op.execute(
            "ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT nextval('audit_events_id_seq')"
        )
    for statement in _append_only("audit_events"):
        op.execute(statement)

    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.alter_column("last_id", new_column_name="last_seq")
        batch_op.add_column(
            sa.Column("scan_from", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.alter_column("scan_from", server_default=None)
    # The chain starts again, keyed: the first sealing run seals every existing row.
    op.get_bind().execute(
        sa.text("UPDATE audit_heads SET last_seq = 0, last_hash = :h, scan_from = 0"),
        {"h": GENESIS},
    )

    op.create_table(
        "audit_seals",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_events.id"], name=op.f("fk_audit_seals_event_id_audit_events")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_seals_event_id")),
    )
    for statement in _append_only("audit_seals"):
        op.execute(statement)


def _legacy_hash(row, prev):
    content = dict(row._mapping)
    occurred = content["occurred_at"]
    if isinstance(occurred, str):  # SQLite hands back text through a raw select
        from datetime import datetime

        occurred = datetime.fromisoformat(occurred)
    if occurred.tzinfo is None:
        from datetime import UTC

        occurred = occurred.replace(tzinfo=UTC)
    content["occurred_at"] = occurred.isoformat(timespec="microseconds")
    content["prev_hash"] = prev
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop_append_only("audit_seals")
    op.drop_table("audit_seals")
    _drop_append_only("audit_events")
    if postgresql:
        op.execute("ALTER TABLE audit_events ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS audit_events_id_seq")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("row_hash", sa.String(length=64), nullable=False, server_default="")
        )
    # Rebuild the plain chain the previous version verifies (ids renumbered without gaps).
    bind = op.get_bind()
    columns = (
        "id, occurred_at, actor_id, actor_label, action, object_type, object_id, "
        "patient_id, outcome, reason, ip_address"
    )
    select_all = f"SELECT {columns} FROM audit_events ORDER BY id"  # noqa: S608 - constant
    rows = bind.execute(sa.text(select_all)).all()
    prev, position = GENESIS, 0
    for row in rows:
        position += 1
        if row.id != position:
            bind.execute(
                sa.text("UPDATE audit_events SET id = :new WHERE id = :old"),
                {"new": position, "old": row.id},
            )
            select_one = f"SELECT {columns} FROM audit_events WHERE id = :id"  # noqa: S608
            row = bind.execute(sa.text(select_one), {"id": position}).one()
        digest = _legacy_hash(row, prev)
        bind.execute(
            sa.text("UPDATE audit_events SET prev_hash = :p, row_hash = :h WHERE id = :id"),
            {"p": prev, "h": digest, "id": position},
        )
        prev = digest
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", server_default=None)
        batch_op.alter_column("row_hash", server_default=None)
    for statement in _append_only("audit_events"):
        op.execute(statement)

    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.drop_column("scan_from")
        batch_op.alter_column("last_seq", new_column_name="last_id")
    bind.execute(
        sa.text("UPDATE audit_heads SET last_id = :n, last_hash = :h"), {"n": position, "h": prev}
    )
