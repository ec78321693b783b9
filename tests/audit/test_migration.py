"""Revision 0006_audit keeps existing audit rows: sealed with the key after the upgrade, the
plain chain rebuilt on downgrade."""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from ptap import create_app
from ptap.audit.services import seal_pending_events, verify_chain
from ptap.extensions import db
from tests.core.test_migrations import empty_database_url  # noqa: F401 - fixture

COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "reason",
    "ip_address",
)


def _legacy_hash(content: dict, prev: str) -> str:
    data = {**content, "occurred_at": content["occurred_at"].isoformat(timespec="microseconds")}
    data["prev_hash"] = prev
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _legacy_rows(n: int) -> list[dict]:
    rows, prev = [], "0" * 64
    for i in range(1, n + 1):
        content = {
            "id": i,
            "occurred_at": datetime(2026, 11, 1, 8, i, tzinfo=UTC),
            "actor_id": None,
            "actor_label": "legacy",
            "action": "patient.read",
            "object_type": "patient",
            "object_id": str(i),
            "patient_id": i,
            "outcome": "success",
            "reason": "avant la migration",
            "ip_address": "127.0.0.1",
        }
        digest = _legacy_hash(content, prev)
        rows.append({**content, "prev_hash": prev, "row_hash": digest})
        prev = digest
    return rows


def test_upgrade_keeps_rows_and_seals_them_downgrade_rebuilds_the_plain_chain(
    empty_database_url,  # noqa: F811
):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    key = app.config["AUDIT_CHAIN_KEY"].encode()
    with app.app_context():
        upgrade(revision="0005")
        legacy = _legacy_rows(4)
        events = sa.table(
            "audit_events", *(sa.column(c) for c in (*COLUMNS, "prev_hash", "row_hash"))
        )
        heads = sa.table(
            "audit_heads", sa.column("id"), sa.column("last_id"), sa.column("last_hash")
        )
        with db.engine.begin() as conn:
            conn.execute(sa.insert(events), legacy)
            conn.execute(sa.insert(heads).values(id=1, last_id=4, last_hash=legacy[-1]["row_hash"]))
        upgrade(revision="0006_audit")
        upgrade()  # later revisions too (seal key ids), as a deployment would
        assert seal_pending_events(key) == 4
        db.session.commit()
        report = verify_chain(key)
        assert report.ok and report.checked == 4
        # New rows get the next ids from the sequence.
        from ptap.audit.services import SYSTEM, record_event

        record_event(SYSTEM, "auth.login")
        assert db.session.scalar(sa.select(sa.func.max(events.c.id))) == 5
        db.session.commit()
        db.session.remove()
        downgrade(revision="0005")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM audit_events ORDER BY id")).mappings().all()
            head = conn.execute(sa.text("SELECT last_id, last_hash FROM audit_heads")).one()
        prev = "0" * 64
        for row in rows:
            content = {c: row[c] for c in COLUMNS}
            occurred = content["occurred_at"]
            if isinstance(occurred, str):
                occurred = datetime.fromisoformat(occurred)
            content["occurred_at"] = (
                occurred.replace(tzinfo=UTC)
                if occurred.tzinfo is None
                else occurred.astimezone(UTC)
            )
            assert row["prev_hash"] == prev
            assert row["row_hash"] == _legacy_hash(content, prev)
            prev = row["row_hash"]
        assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
        assert tuple(head) == (5, prev)
        downgrade(revision="base")
        db.engine.dispose()


def _seal_triggers(conn) -> list[str]:
    if conn.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_seals'"
    else:
        sql = (
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_seals'::regclass "
            "AND NOT tgisinternal"
        )
    return [r[0] for r in conn.exec_driver_sql(sql).all()]


def test_seals_made_before_key_ids_get_key_one_and_still_verify(
    empty_database_url,  # noqa: F811
):
    """Revision 0013_secrest adds audit_seals.key_id: existing seals were made with the single
    key, which is key "1"; the append-only triggers survive the upgrade and the downgrade."""
    from ptap.audit.models import AuditEvent
    from ptap.audit.services import GENESIS_HASH, content_digest, link_hash

    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    key = app.config["AUDIT_CHAIN_KEY"].encode()
    with app.app_context():
        upgrade(revision="0006_teamsec")
        content = {c: v for c, v in _legacy_rows(1)[0].items() if c in COLUMNS}
        with db.engine.begin() as conn:
            conn.execute(sa.insert(sa.table("audit_events", *map(sa.column, COLUMNS))), [content])
        chain = link_hash(key, 1, GENESIS_HASH, content_digest(db.session.get(AuditEvent, 1)))
        db.session.remove()
        seal = {"seq": 1, "event_id": 1, "chain_hash": chain, "sealed_at": content["occurred_at"]}
        head = {"id": 1, "last_seq": 1, "last_hash": chain, "scan_from": 1}
        with db.engine.begin() as conn:
            conn.execute(sa.insert(sa.table("audit_seals", *map(sa.column, seal))), [seal])
            conn.execute(sa.insert(sa.table("audit_heads", *map(sa.column, head))), [head])
            before = _seal_triggers(conn)
        assert before
        upgrade()
        assert db.session.scalar(sa.text("SELECT key_id FROM audit_seals")) == "1"
        assert verify_chain(key).ok
        db.session.remove()
        with db.engine.connect() as conn:
            assert sorted(_seal_triggers(conn)) == sorted(before)
        downgrade(revision="0006_teamsec")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM audit_seals")).scalar() == 1
            assert sorted(_seal_triggers(conn)) == sorted(before)
        downgrade(revision="base")
        db.engine.dispose()
