"""PostgreSQL: audit inserts take no global lock, and ids committed out of order are sealed."""

import threading

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent, AuditSeal
from ptap.audit.services import SYSTEM, record_event, seal_pending_events, verify_chain
from ptap.extensions import db


@pytest.fixture
def pg(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and sequences: PostgreSQL only (SQLite has one writer)")
    return db


def _last_event_id() -> int:
    """The id this transaction just inserted (record_event returns nothing)."""
    return db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))


def _in_thread(app, fn):
    """Run fn in its own app context (its own session and connection); return its result."""
    result: dict = {}

    def target():
        with app.app_context():
            try:
                result["value"] = fn()
            except Exception as exc:  # noqa: BLE001 - reported to the test
                result["error"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return result


def test_requests_insert_while_the_sealer_holds_the_head(app, pg):
    key = app.config["AUDIT_CHAIN_KEY"].encode()
    record_event(SYSTEM, "auth.login")
    db.session.commit()
    seal_pending_events(key)  # the head row stays locked until this transaction ends

    def audited_request():
        db.session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        record_event(SYSTEM, "patient.read", patient_id=1)
        event_id = _last_event_id()
        db.session.commit()
        return event_id

    result = _in_thread(app, audited_request)
    assert "error" not in result, result.get("error")
    assert result["value"] == 2
    db.session.commit()


def test_ids_committed_out_of_order_are_all_sealed(app, pg):
    key = app.config["AUDIT_CHAIN_KEY"].encode()
    slow_inserted, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def slow_request():
        with app.app_context():
            record_event(SYSTEM, "patient.read", reason="slow")
            outcome["id"] = _last_event_id()
            slow_inserted.set()
            release.wait(timeout=20)
            db.session.commit()
            db.session.remove()

    slow = threading.Thread(target=slow_request)
    slow.start()
    assert slow_inserted.wait(timeout=20)
    record_event(SYSTEM, "patient.read", reason="fast")
    fast_id = _last_event_id()
    db.session.commit()
    assert fast_id > outcome["id"]
    assert seal_pending_events(key) == 1  # the slow row is not committed yet
    db.session.commit()
    release.set()
    slow.join(timeout=20)
    assert seal_pending_events(key) == 1
    db.session.commit()
    order = db.session.scalars(sa.select(AuditSeal.event_id).order_by(AuditSeal.seq)).all()
    assert order == [fast_id, outcome["id"]]
    assert verify_chain(key).ok
