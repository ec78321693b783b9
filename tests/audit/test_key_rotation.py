"""Rotation of the audit chain key: seals record their key id, verification uses it."""

import hashlib
import hmac

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

from ptap import create_app
from ptap.audit.anchors import append_anchor, chain_key, read_anchors
from ptap.audit.keys import KeyRing, KeyRingError, next_key_id, parse_keyring
from ptap.audit.models import AuditEvent, AuditSeal
from ptap.audit.services import (
    AuditContext,
    content_digest,
    current_anchor,
    record_event,
    seal_pending_events,
    verify_chain,
)
from ptap.cli import main
from ptap.settings import check

CTX = AuditContext(actor_label="tester", ip_address="127.0.0.1")
OLD = b"old-audit-key-" + b"a" * 32
NEW = b"new-audit-key-" + b"b" * 32
RING_1 = KeyRing.single(OLD)
RING_2 = KeyRing({"1": OLD, "2": NEW}, "2")


@pytest.fixture
def anchor_file(app, tmp_path):
    path = tmp_path / "audit-anchors.jsonl"
    app.config["AUDIT_ANCHOR_FILE"] = str(path)
    return path


def _seal(db, ring, n=3):
    for i in range(n):
        record_event(CTX, "patient.read", object_type="patient", object_id=i, patient_id=i)
    db.session.commit()
    assert seal_pending_events(ring) == n
    db.session.commit()


def _key_ids(db):
    return list(db.session.scalars(sa.select(AuditSeal.key_id).order_by(AuditSeal.seq)))


def _drop_append_only(db):
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        db.session.execute(sa.text("ALTER TABLE audit_seals DISABLE TRIGGER USER"))
    else:
        for table in ("audit_events", "audit_seals"):
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_update"))
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_delete"))


def _reseal_from(db, seq_from: int, key: bytes, key_id: str):
    """Recompute the links from `seq_from` on with `key`, labelled `key_id`, and the head."""
    seals = db.session.scalars(sa.select(AuditSeal).order_by(AuditSeal.seq)).all()
    prev = "0" * 64
    for seal in seals:
        if seal.seq >= seq_from:
            digest = content_digest(db.session.get(AuditEvent, seal.event_id))
            forged = hmac.new(key, f"{seal.seq}:{prev}:{digest}".encode(), hashlib.sha256)
            db.session.execute(
                sa.text("UPDATE audit_seals SET chain_hash = :h, key_id = :k WHERE seq = :s"),
                {"h": forged.hexdigest(), "k": key_id, "s": seal.seq},
            )
            prev = forged.hexdigest()
        else:
            prev = seal.chain_hash
    db.session.execute(
        sa.text("UPDATE audit_heads SET last_seq = :s, last_hash = :h"),
        {"s": seals[-1].seq, "h": prev},
    )
    db.session.commit()


# --- the key ring ----------------------------------------------------------------------------


def test_a_single_key_is_key_one():
    ring = parse_keyring("", "k" * 32, "1")
    assert (ring.current_id, ring.current) == ("1", b"k" * 32)


def test_retired_keys_are_listed_oldest_first_and_the_current_one_is_the_newest():
    ring = parse_keyring("1:" + "a" * 32 + ", 2:" + "b" * 32, "", "2")
    assert (list(ring.keys), ring.current) == (["1", "2"], b"b" * 32)
    assert parse_keyring("1:" + "a" * 32, "b" * 32, "2").current_id == "2"
    assert next_key_id(ring) == "3"


@pytest.mark.parametrize(
    ("keys", "single", "current", "message"),
    [
        ("1:aaa,1:bbb", "", "1", "twice"),
        ("1-aaa", "", "1", "id:key"),
        ("1:aaa", "", "2", "no audit chain key has the current id"),
        ("2:bbb", "ccc", "2", "differs"),
        ("", "ccc", "bad id!", "PTAP_AUDIT_CHAIN_KEY_ID"),
    ],
)
def test_inconsistent_key_settings_are_refused(keys, single, current, message):
    with pytest.raises(KeyRingError, match=message):
        parse_keyring(keys, single, current)


def test_settings_check_the_ring_and_the_key_lengths(app):
    cfg = dict(app.config)
    cfg.update(AUDIT_CHAIN_KEYS="1:aaa,1:bbb")
    assert any("twice" in p.message for p in check(cfg))
    cfg.update(ENV="production", AUDIT_CHAIN_KEYS="1:" + "a" * 10, AUDIT_CHAIN_KEY_ID="2")
    cfg["AUDIT_CHAIN_KEY"] = "b" * 40
    problems = [p.message for p in check(cfg)]
    assert any("too short: key id 1" in m for m in problems)
    cfg["AUDIT_CHAIN_KEYS"] = "1:" + "a" * 40
    assert not any("AUDIT_CHAIN_KEY" in m for m in (p.message for p in check(cfg)))
    cfg.update(AUDIT_CHAIN_KEYS="", AUDIT_CHAIN_KEY="")
    assert any("must hold a random key" in p.message for p in check(cfg))


def test_the_current_key_may_come_from_the_list_alone(tmp_path):
    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "s" * 40,
            "INSTANCE_PATH": str(tmp_path),
            "AUDIT_CHAIN_KEY": "",
            "AUDIT_CHAIN_KEYS": f"1:{OLD.decode()},2:{NEW.decode()}",
            "AUDIT_CHAIN_KEY_ID": 2,  # PTAP_AUDIT_CHAIN_KEY_ID=2 arrives as a number
        }
    )
    with app.app_context():
        assert chain_key() == RING_2
    assert not (tmp_path / "audit-chain.key").exists()  # no key generated beside the list


# --- sealing and verifying across a rotation -------------------------------------------------


def test_verification_passes_across_a_rotation_with_anchors(db, anchor_file):
    _seal(db, RING_1)
    append_anchor(current_anchor(), anchor_file)
    _seal(db, RING_2)
    append_anchor(current_anchor(), anchor_file)
    assert _key_ids(db) == ["1", "1", "1", "2", "2", "2"]
    assert [a.key_id for a in read_anchors(anchor_file)] == ["1", "2"]
    report = verify_chain(RING_2, anchors=read_anchors(anchor_file))
    assert report.ok, report.problem
    assert (report.checked, report.anchors_checked) == (6, 2)


def test_a_retired_key_missing_from_the_ring_is_reported(db):
    _seal(db, RING_1)
    _seal(db, RING_2)
    report = verify_chain(KeyRing.single(NEW, "2"))
    assert report.first_bad_id == 1
    assert "unknown key id '1'" in report.problem


def test_a_rewrite_of_an_old_row_after_the_rotation_is_detected(db, anchor_file):
    _seal(db, RING_1)
    _seal(db, RING_2)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET reason = 'forged' WHERE id = 2"))
    db.session.commit()
    report = verify_chain(RING_2)
    assert (report.ok, report.first_bad_id) == (False, 2)


def test_a_rewrite_without_any_key_is_detected_after_the_rotation(db):
    _seal(db, RING_1)
    _seal(db, RING_2)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET reason = 'forged' WHERE id = 5"))
    db.session.commit()
    _reseal_from(db, 5, b"guessed", "2")
    report = verify_chain(RING_2)
    assert (report.ok, report.first_bad_id) == (False, 5)


def test_a_leaked_retired_key_reseal_is_caught_by_the_anchors(db, anchor_file):
    """The old key leaked (that is why it was rotated): re-sealing the rows sealed since with
    it is consistent in the database, but the anchor recorded key 2 and the real hash."""
    _seal(db, RING_1)
    _seal(db, RING_2)
    append_anchor(current_anchor(), anchor_file)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET reason = 'forged' WHERE id = 6"))
    db.session.commit()
    _reseal_from(db, 4, OLD, "1")
    assert verify_chain(RING_2).ok  # the residual risk docs/security.md states
    report = verify_chain(RING_2, anchors=read_anchors(anchor_file))
    assert (report.ok, report.first_bad_id) == (False, 6)
    assert "rewritten" in report.problem


def test_a_process_still_on_the_old_settings_seals_harmlessly(db):
    """During the switch a process may seal with the old key after the new one: it verifies."""
    _seal(db, RING_1)
    _seal(db, RING_2)
    _seal(db, KeyRing({"1": OLD}, "1"), n=1)
    assert _key_ids(db) == ["1", "1", "1", "2", "2", "2", "1"]
    assert verify_chain(RING_2).ok


def test_relabelling_a_seal_with_another_key_id_is_detected(db):
    _seal(db, RING_1)
    _seal(db, RING_2)
    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_seals SET key_id = '2' WHERE seq = 2"))
    db.session.commit()
    report = verify_chain(RING_2)
    assert (report.ok, report.first_bad_id) == (False, 2)


# --- the documented procedure: ptap audit rotate-key ------------------------------------------


def _cli(app, *args):
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def _printed(output: str, name: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(name + "=")]
    return line.partition("=")[2]


def test_rotate_key_anchors_then_prints_settings_that_verify(app, db, anchor_file):
    old = app.config["AUDIT_CHAIN_KEY"]
    for i in range(3):
        record_event(CTX, "auth.login", object_id=i)
    db.session.commit()
    result = _cli(app, "audit", "rotate-key")
    assert result.exit_code == 0, result.output
    assert [a.last_seq for a in read_anchors(anchor_file)] == [3]  # anchored with the old key
    keys, key_id = (
        _printed(result.output, "PTAP_AUDIT_CHAIN_KEYS"),
        _printed(result.output, "PTAP_AUDIT_CHAIN_KEY_ID"),
    )
    assert key_id == "2"
    assert keys.startswith(f"1:{old},2:")
    # The operator applies the printed settings (and drops PTAP_AUDIT_CHAIN_KEY).
    app.config.update(AUDIT_CHAIN_KEYS=keys, AUDIT_CHAIN_KEY_ID=key_id, AUDIT_CHAIN_KEY="")
    for i in range(2):
        record_event(CTX, "auth.login", object_id=10 + i)
    db.session.commit()
    assert _cli(app, "audit", "anchor").exit_code == 0
    verified = _cli(app, "audit", "verify", "--anchors")
    assert verified.exit_code == 0, verified.output
    assert "5 rows verified, 2 anchors matched" in verified.output
    assert _key_ids(db) == ["1", "1", "1", "2", "2"]

    _drop_append_only(db)
    db.session.execute(sa.text("UPDATE audit_events SET actor_label = 'x' WHERE id = 4"))
    db.session.commit()
    broken = _cli(app, "audit", "verify", "--anchors")
    assert broken.exit_code == 1
    assert "BROKEN at row 4" in broken.output


def test_rotate_key_refuses_a_used_key_id(app, db):
    result = _cli(app, "audit", "rotate-key", "--key-id", "1")
    assert result.exit_code == 1
    assert "already used" in result.output
