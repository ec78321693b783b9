import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ptap.audit.models import AuditEvent, Outcome
from ptap.audit.services import AuditContext, compute_hash, record_event, verify_chain
from ptap.cli import main

CTX = AuditContext(actor_label="tester", ip_address="127.0.0.1")


def _fill(n=5):
    for i in range(n):
        record_event(CTX, "patient.read", object_type="patient", object_id=i, patient_id=i)


def _drop_append_only(db):
    """Do what an attacker with database access would: remove the append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        db.session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        db.session.execute(sa.text("DROP TRIGGER audit_events_no_delete"))


def test_rows_are_chained(db):
    _fill(3)
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.id for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == "0" * 64
    assert rows[1].prev_hash == rows[0].row_hash
    assert rows[2].prev_hash == rows[1].row_hash
    assert verify_chain().ok
    assert verify_chain().checked == 3


def test_event_records_every_field(db):
    event = record_event(
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
    stored = db.session.get(AuditEvent, event.id)
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


def test_audit_rows_cannot_be_updated_or_deleted(db):
    _fill(1)
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("UPDATE audit_events SET reason = 'x'"))
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("DELETE FROM audit_events"))
    db.session.rollback()


def test_tampered_content_is_detected_at_its_row(db):
    _fill(5)
    db.session.commit()
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET actor_label = 'someone-else' WHERE id = 3"))
    db.session.commit()
    report = verify_chain()
    assert not report.ok
    assert report.first_bad_id == 3
    assert report.checked == 2


def test_deleted_row_is_detected(db):
    _fill(5)
    db.session.commit()
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id = 2"))
    db.session.commit()
    report = verify_chain()
    assert report.first_bad_id == 2
    assert "missing" in report.problem


def test_truncated_tail_is_detected(db):
    _fill(5)
    db.session.commit()
    _drop_append_only(db)
    db.session.execute(sa.text("DELETE FROM audit_events WHERE id >= 4"))
    db.session.commit()
    assert verify_chain().first_bad_id == 4


def test_rehashed_row_breaks_the_next_link(db):
    _fill(4)
    db.session.commit()
    _drop_append_only(db)
    row = db.session.get(AuditEvent, 2)
    fields = {
        c: getattr(row, c)
        for c in (
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
            "prev_hash",
        )
    }
    fields["reason"] = "forged"
    forged_hash = compute_hash(**fields)
    db.session.execute(
        sa.text("UPDATE audit_events SET reason = 'forged', row_hash = :h WHERE id = 2"),
        {"h": forged_hash},
    )
    db.session.commit()
    assert verify_chain().first_bad_id == 3


def test_cli_verify_reports_the_first_tampered_row(app, db):
    _fill(4)
    db.session.commit()
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"], obj=_script_info(app))
    assert ok.exit_code == 0, ok.output
    assert "4 rows verified" in ok.output
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET action = 'x' WHERE id = 2"))
    db.session.commit()
    broken = runner.invoke(main, ["audit", "verify"], obj=_script_info(app))
    assert broken.exit_code == 1
    assert "BROKEN at row 2" in broken.output


def test_failed_transaction_leaves_no_audit_row(db):
    _fill(1)
    db.session.commit()
    record_event(CTX, "patient.read")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 1
    record_event(CTX, "patient.read")
    db.session.commit()
    assert verify_chain().ok


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)
