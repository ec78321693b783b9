"""Connection cost and receipts (issue 18): sockets authenticate and join without a write of
their own, the join's audit events are written in one batch, receipts are coalesced."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.accounts import token_usage
from ptap.accounts.models import ApiToken
from ptap.audit.models import AuditEvent
from ptap.core import write_behind
from ptap.extensions import socketio
from ptap.messaging import receipts, services
from tests.factories import add_member, make_user
from tests.messaging.conftest import NS, send, token_for

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def batching(app, monkeypatch):
    """Buffering on, with a window long enough that only the test flushes."""
    monkeypatch.setitem(app.config, "WRITE_BEHIND_SECONDS", 3600)
    monkeypatch.setattr(token_usage, "_noted", {})
    write_behind.flush_all()
    yield
    write_behind.flush_all()


def _writes(statements):
    return [s for s in statements if s.lstrip().upper().startswith(WRITES)]


def _live_reads(db, conversation):
    return db.session.scalars(
        sa.select(AuditEvent.actor_id).filter_by(
            action="message.read", reason="live", object_id=str(conversation.id)
        )
    ).all()


def test_connect_and_join_write_nothing_until_one_batch(
    app, client, batching, world, patient_conversation, db, count_queries
):
    users = [world.coord, world.member]
    for _ in range(6):
        users.append(make_user())
        add_member(world.team, users[-1])
    tokens = [token_for(u, ("socket",)) for u in users]
    db.session.commit()
    sockets = []
    with count_queries() as statements:
        for token in tokens:
            sock = socketio.test_client(
                app, namespace=NS, flask_test_client=client, auth={"token": token}
            )
            sockets.append(sock)
            ack = sock.emit(
                "join", {"conversation_id": patient_conversation.id}, namespace=NS, callback=True
            )
            assert ack["ok"], ack
    assert _writes(statements) == []  # no last-use time, no audit row, per connection
    assert _live_reads(db, patient_conversation) == []
    assert write_behind.flush_all() == 2 * len(users)  # every join's event, every token's use
    db.session.expire_all()
    assert sorted(_live_reads(db, patient_conversation)) == sorted(u.id for u in users)
    events = db.session.scalars(
        sa.select(AuditEvent).filter_by(action="message.read", reason="live")
    ).all()
    assert {e.patient_id for e in events} == {world.patient.id}
    used = db.session.scalars(sa.select(ApiToken.last_used_at)).all()
    assert all(at is not None for at in used)
    for sock in sockets:
        sock.disconnect(NS)


def test_a_batch_is_one_insert_whatever_its_size(app, batching, world, db, count_queries):
    from ptap.audit.context import request_context
    from ptap.audit.services import record_event_batched

    for n in (3, 40):
        with app.test_request_context():
            for _ in range(n):
                record_event_batched(request_context(world.coord), "message.read", reason="t")
        with count_queries() as statements:
            assert write_behind.flush_all() == n
        assert [s.split()[0].upper() for s in _writes(statements)] == ["INSERT"]


def test_token_use_is_written_once_a_minute_and_never_back(app, batching, world, db):
    from ptap.accounts import services as account_services
    from ptap.audit.context import request_context

    token = token_for(world.member, ("api:read",))
    db.session.commit()
    with app.test_request_context():
        for _ in range(5):
            account_services.authenticate_token(token, request_context(user=None))
    assert token_usage.USES.pending() == 1  # one entry for five uses within the minute
    write_behind.flush_all()
    row = db.session.scalars(sa.select(ApiToken)).one()
    db.session.refresh(row)
    assert row.last_used_at is not None


def test_failed_batch_is_kept_for_the_next_one(app, batching, world, db, monkeypatch):
    from ptap.audit import services as audit_services
    from ptap.audit.context import request_context

    with app.test_request_context():
        audit_services.record_event_batched(request_context(world.coord), "message.read")
    real = audit_services.EVENT_BATCH._write

    def broken(app, rows):
        raise RuntimeError("database away")

    monkeypatch.setattr(audit_services.EVENT_BATCH, "_write", broken)
    assert write_behind.flush_all() == 0
    assert audit_services.EVENT_BATCH.pending() == 1
    monkeypatch.setattr(audit_services.EVENT_BATCH, "_write", real)
    assert write_behind.flush_all() == 1


def _spy_emits(monkeypatch):
    sent = []
    real = socketio.emit

    def spy(event, data=None, **kwargs):
        sent.append((event, data, kwargs.get("to")))
        return real(event, data, **kwargs)

    monkeypatch.setattr(socketio, "emit", spy)
    return sent


def test_receipts_of_200_readers_are_one_frame_to_the_thread(
    app, world, team_conversation, db, monkeypatch
):
    monkeypatch.setitem(app.config, "MESSAGING_RECEIPT_WINDOW_SECONDS", 3600)
    readers = [world.member]
    for _ in range(199):
        readers.append(make_user())
        add_member(world.team, readers[-1])
    send(world.coord, team_conversation, "Point du jour")
    db.session.commit()
    sent = _spy_emits(monkeypatch)
    for user in readers:
        services.mark_read(user, team_conversation, 1)
        db.session.commit()
    assert [e for e, _, _ in sent].count("read_receipts") == 0
    assert receipts.send_pending() == 1
    frames = [(data, to) for event, data, to in sent if event == "read_receipts"]
    [(data, to)] = frames  # 1 frame per socket of the thread instead of 200
    assert to == f"thread:{team_conversation.id}"
    assert data["conversation_id"] == team_conversation.id
    assert sorted(r["user_id"] for r in data["readers"]) == sorted(u.id for u in readers)
    assert {r["seq"] for r in data["readers"]} == {1}
    assert receipts.send_pending() == 0


def test_a_reader_twice_in_a_window_is_named_once_at_its_furthest_seq(
    app, world, team_conversation, db, monkeypatch
):
    monkeypatch.setitem(app.config, "MESSAGING_RECEIPT_WINDOW_SECONDS", 3600)
    for body in ("un", "deux"):
        send(world.coord, team_conversation, body)
    db.session.commit()
    sent = _spy_emits(monkeypatch)
    for seq in (1, 2):
        services.mark_read(world.member, team_conversation, seq)
        db.session.commit()
    receipts.send_pending(team_conversation.id)
    [data] = [data for event, data, _ in sent if event == "read_receipts"]
    assert [(r["user_id"], r["seq"]) for r in data["readers"]] == [(world.member.id, 2)]


def test_a_rolled_back_read_sends_no_receipt(app, world, team_conversation, db, monkeypatch):
    monkeypatch.setitem(app.config, "MESSAGING_RECEIPT_WINDOW_SECONDS", 3600)
    send(world.coord, team_conversation, "un")
    db.session.commit()
    services.mark_read(world.member, team_conversation, 1)
    db.session.rollback()
    assert receipts.send_pending() == 0


def test_a_refused_event_does_not_hold_back_the_others(app, batching, world, db, caplog):
    """A row the database refuses (here a NOT NULL action) is dropped with an error log;
    the events noted with it are written, and nothing is retried for ever."""
    from ptap.audit import services as audit_services
    from ptap.audit.context import request_context

    with app.test_request_context():
        ctx = request_context(world.coord)
        audit_services.record_event_batched(ctx, "message.read", reason="before")
        audit_services.record_event_batched(ctx, None, reason="poison")  # type: ignore[arg-type]
        audit_services.record_event_batched(ctx, "message.read", reason="after")
    assert write_behind.flush_all() == 2
    assert audit_services.EVENT_BATCH.pending() == 0
    reasons = db.session.scalars(
        sa.select(AuditEvent.reason).filter_by(action="message.read", actor_id=world.coord.id)
    ).all()
    assert sorted(reasons) == ["after", "before"]
    assert "item refused, dropped" in caplog.text
    assert "poison" in caplog.text


def test_a_flush_waits_for_the_batch_being_written(app):
    """At exit `flush_all` must not return while the writer thread is in the middle of a batch
    (the process would end and lose it): flushes run one at a time."""
    import threading

    written: list[int] = []
    started, release = threading.Event(), threading.Event()

    def slow_write(app, items):
        started.set()
        release.wait(5)
        written.extend(items)

    buffer = write_behind.WriteBehind("test-slow", slow_write)
    try:
        buffer._items.append((app, 1))
        writer = threading.Thread(target=buffer.flush)
        writer.start()
        assert started.wait(5)
        threading.Timer(0.2, release.set).start()
        buffer.flush()  # the exit's flush
        assert written == [1]
        writer.join(5)
    finally:
        release.set()
        write_behind._BUFFERS.remove(buffer)
