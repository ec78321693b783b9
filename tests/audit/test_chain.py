import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ptap.audit.anchors import append_anchor, read_anchors
from ptap.audit.models import AuditEvent, AuditHead, AuditSeal, Outcome
from ptap.audit.services import (
    GENESIS_HASH,
    AuditContext,
    content_digest,
    current_anchor,
    link_hash,
    record_event,
    seal_pending_events,
    verify_chain,
)
from ptap.cli import main
from ptap.core import clock

CTX = AuditContext(actor_label="tester", ip_address="127.0.0.1")


@pytest.fixture
def key(app):
    return app.config["AUDIT_CHAIN_KEY"].encode()


@pytest.fixture
def anchor_file(app, tmp_path):
    path = tmp_path / "anchors" / "audit-anchors.jsonl"
    app.config["AUDIT_ANCHOR_FILE"] = str(path)
    return path


def _fill(n=5):
    for i in range(n):
        record_event(CTX, "patient.read", object_type="patient", object_id=i, patient_id=i)


def _sealed(db, key, n=5):
    _fill(n)
    db.session.commit()
    assert seal_pending_events(key) == n
    db.session.commit()


def _drop_append_only(db):
    """Do what an attacker with database access would: remove the append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        db.session.execute(sa.text("ALTER TABLE audit_seals DISABLE TRIGGER USER"))
    else:
        for table in ("audit_events", "audit_seals"):
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_update"))
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_delete"))


def _recompute_plain_chain(db, guessed_key: bytes):
    """Rewrite every seal and the head as an attacker without the real key would."""
    prev, seq = "0" * 64, 0
    for seal in db.session.scalars(sa.select(AuditSeal).order_by(AuditSeal.seq)).all():
        event = db.session.get(AuditEvent, seal.event_id)
        seq += 1
        digest = content_digest(event)
        forged = hmac.new(guessed_key, f"{seq}:{prev}:{digest}".encode(), hashlib.sha256)
        db.session.execute(
            sa.text("UPDATE audit_seals SET chain_hash = :h WHERE seq = :s"),
            {"h": forged.hexdigest(), "s": seal.seq},
        )
        prev = forged.hexdigest()
    db.session.execute(
        sa.text("UPDATE audit_heads SET last_seq = :s, last_hash = :h"), {"s": seq, "h": prev}
    )
    db.session.commit()


def _cli(app, *args):
    from flask.cli import ScriptInfo

    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_recording_takes_no_lock_and_sealing_links_rows_in_order(db, key):
    _fill(3)
    db.session.commit()
    assert db.session.get(AuditHead, 1) is None  # requests never touch the head row
    assert seal_pending_events(key) == 3
    db.session.commit()
    seals = db.session.scalars(sa.select(AuditSeal).order_by(AuditSeal.seq)).all()
    assert [(s.seq, s.event_id) for s in seals] == [(1, 1), (2, 2), (3, 3)]
    report = verify_chain(key)
    assert report.ok and report.checked == 3
    assert seal_pending_events(key) == 0  # idempotent


def test_event_records_every_field(db):
    record_event(
        CTX,
        "patient.update",
        outcome=Outcome.DENIED,
        object_type="patient",
        object_id=7,
        patient_id=7,
        reason="hors du cercle",
    )
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalars(sa.select(AuditEvent)).one()
    assert (
        stored.actor_label,
        stored.action,
        stored.outcome,
        stored.object_id,
        stored.patient_id,
        stored.reason,
        stored.ip_address,
    ) == ("tester", "patient.update", "denied", "7", 7, "hors du cercle", "127.0.0.1")
    assert stored.occurred_at.tzinfo is not None


@pytest.mark.parametrize("table", ["audit_events", "audit_seals"])
def test_audit_rows_and_seals_cannot_be_updated_or_deleted(db, key, table):
    _sealed(db, key, 1)
    column = "reason = 'x'" if table == "audit_events" else "chain_hash = 'x'"
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text(f"UPDATE {table} SET {column}"))  # noqa: S608
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608
    db.session.rollback()


def test_rows_committed_out_of_id_order_are_sealed_later_not_lost(db, key):
    _fill(2)
    db.session.commit()
    # Event 3 is "still in flight": it does not exist yet when the sealer runs.
    seal_pending_events(key)
    db.session.commit()
    _fill(1)
    db.session.commit()
    assert seal_pending_events(key) == 1
    db.session.commit()
    assert verify_chain(key).checked == 3


def test_event_committed_after_a_higher_id_was_sealed_gets_the_next_position(db, key):
    _fill(3)
    db.session.commit()
    # A slow transaction: event 2 was not yet committed when a first run sealed 1 and 3.
    first = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    seq, prev = 0, GENESIS_HASH
    head = AuditHead(id=1, last_seq=0, last_hash=GENESIS_HASH, scan_from=0)
    db.session.add(head)
    for event in (first[0], first[2]):
        seq += 1
        prev = link_hash(key, seq, prev, content_digest(event))
        db.session.add(AuditSeal(seq=seq, event_id=event.id, chain_hash=prev))
    head.last_seq, head.last_hash = seq, prev
    db.session.commit()
    assert seal_pending_events(key) == 1
    db.session.commit()
    late = db.session.scalar(sa.select(AuditSeal).where(AuditSeal.event_id == first[1].id))
    assert late.seq == 3
    assert verify_chain(key).ok


def test_unsealed_event_older_than_the_grace_period_is_reported(db, key):
    _fill(1)
    db.session.commit()
    assert verify_chain(key).ok  # recent: the sealer has not run yet
    with clock.frozen(clock.now() + timedelta(hours=1)):
        report = verify_chain(key)
    assert not report.ok
    assert report.problem == "row 1 was never sealed"


def test_tampered_content_is_detected_at_its_row(db, key):
    _sealed(db, key)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET actor_label = 'someone-else' WHERE id = 3"))
    db.session.commit()
    report = verify_chain(key)
    assert not report.ok
    assert report.first_bad_id == 3
    assert report.checked == 2


def test_rewrite_recomputed_without_the_key_is_detected(db, key):
    """The attacker drops the triggers, changes a row and recomputes every link and the head."""
    _sealed(db, key)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET reason = 'forged' WHERE id = 2"))
    db.session.commit()
    _recompute_plain_chain(db, guessed_key=b"")
    report = verify_chain(key)
    assert not report.ok
    assert report.first_bad_id == 1  # every forged link fails, from the first one


def test_deleted_row_is_detected(db, key):
    _sealed(db, key)
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_seals WHERE seq = 2"))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id = 2"))
    db.session.commit()
    report = verify_chain(key)
    assert report.first_bad_id == 3
    assert "missing" in report.problem


def test_truncated_tail_is_detected_by_the_head(db, key):
    _sealed(db, key)
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_seals WHERE seq >= 4"))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id >= 4"))
    db.session.commit()
    report = verify_chain(key)
    assert not report.ok
    assert "missing" in report.problem


def test_truncated_tail_with_a_rewritten_head_is_caught_only_by_the_anchors(db, key, anchor_file):
    _sealed(db, key)
    append_anchor(current_anchor(), anchor_file)
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_seals WHERE seq >= 4"))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id >= 4"))
    third = db.session.get(AuditSeal, 3)
    # No key needed: the head only copies the last remaining link.
    db.session.execute(
        sa.text("UPDATE audit_heads SET last_seq = 3, last_hash = :h"), {"h": third.chain_hash}
    )
    db.session.commit()
    assert verify_chain(key).ok  # without the anchors the truncation is invisible
    report = verify_chain(key, anchors=read_anchors(anchor_file))
    assert not report.ok
    assert "anchored" in report.problem


def test_rewrite_with_the_stolen_key_is_caught_by_the_anchors(db, key, anchor_file):
    _sealed(db, key)
    append_anchor(current_anchor(), anchor_file)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET reason = 'forged' WHERE id = 4"))
    db.session.commit()
    _recompute_plain_chain(db, guessed_key=key)
    assert verify_chain(key).ok
    report = verify_chain(key, anchors=read_anchors(anchor_file))
    assert not report.ok
    assert "rewritten" in report.problem


def test_anchor_file_is_append_only_json_lines_readable_by_the_owner_only(db, key, anchor_file):
    _sealed(db, key, 2)
    append_anchor(current_anchor(), anchor_file)
    _sealed(db, key, 1)
    append_anchor(current_anchor(), anchor_file)
    lines = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    assert [(a["last_seq"], a["last_event_id"]) for a in lines] == [(2, 2), (3, 3)]
    assert all(len(a["head_hash"]) == 64 and a["at"] for a in lines)
    assert anchor_file.stat().st_mode & 0o777 == 0o600
    report = verify_chain(key, anchors=read_anchors(anchor_file))
    assert report.ok and report.anchors_checked == 2


def test_cli_verify_seals_then_reports_the_first_tampered_row(app, db):
    _fill(4)
    db.session.commit()
    ok = _cli(app, "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "4 rows verified" in ok.output
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET action = 'x' WHERE id = 2"))
    db.session.commit()
    broken = _cli(app, "audit", "verify")
    assert broken.exit_code == 1
    assert "BROKEN at row 2" in broken.output


def test_cli_verify_anchors_detects_a_truncated_tail(app, db, key, anchor_file):
    _fill(5)
    db.session.commit()
    anchored = _cli(app, "audit", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert _cli(app, "audit", "verify", "--anchors").exit_code == 0
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_seals WHERE seq = 5"))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id = 5"))
    fourth = db.session.get(AuditSeal, 4)
    db.session.execute(
        sa.text("UPDATE audit_heads SET last_seq = 4, last_hash = :h"), {"h": fourth.chain_hash}
    )
    db.session.commit()
    assert _cli(app, "audit", "verify").exit_code == 0
    broken = _cli(app, "audit", "verify", "--anchors")
    assert broken.exit_code == 1
    assert "truncated or rewritten" in broken.output


def test_failed_transaction_leaves_no_audit_row(db, key):
    _fill(1)
    db.session.commit()
    record_event(CTX, "patient.read")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1
    record_event(CTX, "patient.read")
    db.session.commit()
    seal_pending_events(key)
    assert verify_chain(key).ok


def test_cli_verify_anchors_refuses_an_unreadable_anchor_file(app, db, anchor_file):
    _fill(1)
    db.session.commit()
    anchor_file.parent.mkdir(parents=True)
    anchor_file.write_text('{"at": "2026-12-07T00:00:00+00:00", "last_seq": "x"}\n')
    result = _cli(app, "audit", "verify", "--anchors")
    assert result.exit_code == 1
    assert "line 1 is not a valid anchor" in result.output


def test_scheduler_jobs_seal_anchor_and_verify(app, db, anchor_file, caplog):
    import logging

    from ptap.scheduler import JOBS, run_job

    jobs = {job.id: job for job in JOBS}
    _fill(3)
    db.session.commit()
    run_job(app, jobs["seal_audit_chain"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditSeal)) == 3
    run_job(app, jobs["anchor_audit_chain"])
    assert [a.last_seq for a in read_anchors(anchor_file)] == [3]
    with caplog.at_level(logging.INFO, logger="ptap"):
        run_job(app, jobs["verify_audit_chain"])
    assert "audit chain OK (3 rows)" in caplog.text
