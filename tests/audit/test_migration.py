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
