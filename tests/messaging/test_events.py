"""The /messaging Socket.IO namespace: auth, rooms, acks, broadcasts after commit, re-checks."""

import pytest
import sqlalchemy as sa

from ptap.care_teams import circle
from ptap.care_teams import services as care_team_services
from ptap.care_teams.models import Enrolment
from ptap.core import clock
from ptap.core.realtime import emit_after_commit
from ptap.extensions import socketio
from ptap.messaging import services
from ptap.messaging.models import Message
from tests.factories import add_member, make_user
from tests.messaging.conftest import NS, received, send


def _emit(sock, event, payload):
    return sock.emit(event, payload, namespace=NS, callback=True)


def _joined(messaging_socket, user, conversation):
    sock = messaging_socket(user)
    assert sock.is_connected(NS)
    ack = _emit(sock, "join", {"conversation_id": conversation.id})
    assert ack["ok"], ack
    received(sock)  # drop what came before
    return sock


def _in_thread(conversation):
    room = f"thread:{conversation.id}"
    return [sid for sid, _ in socketio.server.manager.get_participants(NS, room)]


def test_anonymous_and_non_clinicians_cannot_connect(app, client, messaging_socket, db):
    anonymous = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert not anonymous.is_connected(NS)
    admin = make_user(role="admin", profession="administrative")
    assert not messaging_socket(admin).is_connected(NS)


def test_outsider_cannot_join(messaging_socket, world, patient_conversation, db):
    sock = messaging_socket(world.outsider)
    ack = _emit(sock, "join", {"conversation_id": patient_conversation.id})
    assert ack["ok"] is False
    assert _in_thread(patient_conversation) == []
    ack = _emit(
        sock,
        "send_message",
        {"conversation_id": patient_conversation.id, "client_id": "c", "body": "x"},
    )
    assert ack["ok"] is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_join_acks_unread_and_last_seq(messaging_socket, world, team_conversation, db):
    send(world.coord, team_conversation, "un")
    send(world.coord, team_conversation, "deux")
    db.session.commit()
    sock = messaging_socket(world.member)
    ack = _emit(sock, "join", {"conversation_id": team_conversation.id})
    assert ack == {
        "ok": True,
        "conversation_id": team_conversation.id,
        "last_seq": 2,
        "last_read_seq": 0,
        "unread": 2,
        # The author read what they wrote: their marker shows after a reload too.
        "readers": [
            {
                "user_id": world.coord.id,
                "name": f"{world.coord.first_name} {world.coord.last_name}",
                "seq": 2,
            }
        ],
    }


def test_send_acks_then_broadcasts_message_created(messaging_socket, world, team_conversation, db):
    alice = _joined(messaging_socket, world.coord, team_conversation)
    bob = _joined(messaging_socket, world.member, team_conversation)
    ack = _emit(
        alice,
        "send_message",
        {"conversation_id": team_conversation.id, "client_id": "k1", "body": "**Bonjour**"},
    )
    assert ack["ok"] and ack["seq"] == 1 and ack["created_at"] and ack["duplicate"] is False
    [event] = received(bob, "message_created")
    payload = event["args"][0]
    assert (payload["id"], payload["seq"]) == (ack["id"], 1)
    assert payload["body_html"] == "<p><strong>Bonjour</strong></p>"
    assert received(alice, "message_created")  # the sender's other tabs see it too


def test_duplicate_client_id_over_the_socket(messaging_socket, world, team_conversation, db):
    alice = _joined(messaging_socket, world.coord, team_conversation)
    data = {"conversation_id": team_conversation.id, "client_id": "same", "body": "Une fois"}
    first = _emit(alice, "send_message", data)
    received(alice)
    again = _emit(alice, "send_message", data)  # re-sent after a reconnect
    assert (again["id"], again["seq"], again["duplicate"]) == (first["id"], first["seq"], True)
    assert received(alice, "message_created") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_invalid_payload_is_refused_with_the_field(messaging_socket, world, team_conversation, db):
    sock = messaging_socket(world.coord)
    ack = _emit(sock, "send_message", {"conversation_id": team_conversation.id, "body": "x"})
    assert ack["ok"] is False and ack["field"] == "client_id"
    ack = _emit(sock, "join", "not a dict")
    assert ack["ok"] is False


@pytest.mark.parametrize("huge", [2**31, 2**63, 2**64 + 5])
@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("join", lambda n, c: {"conversation_id": n}),
        ("typing", lambda n, c: {"conversation_id": n}),
        ("mark_read", lambda n, c: {"conversation_id": c, "seq": n}),
        ("acknowledge", lambda n, c: {"message_id": n}),
        ("send_message", lambda n, c: {"conversation_id": n, "client_id": "a", "body": "x"}),
        (
            "send_message",
            lambda n, c: {"conversation_id": c, "client_id": "b", "body": "x", "mentions": [n]},
        ),
    ],
)
def test_ids_beyond_the_column_range_are_refused_not_crashed(
    messaging_socket, world, team_conversation, db, event, payload, huge
):
    """An id past the INTEGER range never reaches a query (PostgreSQL would fail, a 500)."""
    sock = messaging_socket(world.coord)
    ack = _emit(sock, event, payload(huge, team_conversation.id))
    assert ack["ok"] is False
    assert ack["field"].split(".")[0] in {"conversation_id", "seq", "message_id", "mentions"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_typing_goes_to_the_others_only(messaging_socket, world, team_conversation, db):
    alice = _joined(messaging_socket, world.coord, team_conversation)
    bob = _joined(messaging_socket, world.member, team_conversation)
    assert _emit(alice, "typing", {"conversation_id": team_conversation.id})["ok"]
    [event] = received(bob, "typing")
    assert event["args"][0]["user_id"] == world.coord.id
    assert received(alice, "typing") == []


def test_mark_read_sends_receipt_and_unread_counts(messaging_socket, world, team_conversation, db):
    send(world.coord, team_conversation, "un")
    send(world.coord, team_conversation, "deux")
    db.session.commit()
    alice = _joined(messaging_socket, world.coord, team_conversation)
    bob = _joined(messaging_socket, world.member, team_conversation)
    ack = _emit(bob, "mark_read", {"conversation_id": team_conversation.id, "seq": 1})
    assert ack == {"ok": True, "last_read_seq": 1}
    [receipt] = received(alice, "read_receipts")
    assert receipt["args"][0] == {
        "conversation_id": team_conversation.id,
        "readers": [
            {
                "user_id": world.member.id,
                "name": f"{world.member.first_name} {world.member.last_name}",
                "seq": 1,
            }
        ],
    }
    [counts] = received(bob, "unread_counts")
    assert counts["args"][0] == {"counts": {str(team_conversation.id): 1}}


def test_acknowledge_broadcasts_message_updated(messaging_socket, world, patient_conversation, db):
    urgent = send(world.coord, patient_conversation, "Chute", priority="urgent").message
    db.session.commit()
    alice = _joined(messaging_socket, world.coord, patient_conversation)
    bob = _joined(messaging_socket, world.member, patient_conversation)
    assert _emit(bob, "acknowledge", {"message_id": urgent.id})["ok"]
    [event] = received(alice, "message_updated")
    assert event["args"][0]["acknowledged_by"] == [world.member.id]


def test_no_emit_when_the_transaction_rolls_back(messaging_socket, world, team_conversation, db):
    bob = _joined(messaging_socket, world.member, team_conversation)
    send(world.coord, team_conversation, "jamais envoyé")
    emit_after_commit("probe", {}, f"thread:{team_conversation.id}", NS)
    assert received(bob) == []  # nothing before the commit
    db.session.rollback()
    db.session.commit()
    assert received(bob) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_failed_handler_emits_nothing(messaging_socket, world, team_conversation, db, monkeypatch):
    bob = _joined(messaging_socket, world.member, team_conversation)
    alice = _joined(messaging_socket, world.coord, team_conversation)

    def broken_audit(*args, **kwargs):
        raise services.InvalidInput("panne simulée")

    monkeypatch.setattr(services, "_audit", broken_audit)
    ack = _emit(
        alice,
        "send_message",
        {"conversation_id": team_conversation.id, "client_id": "z", "body": "x"},
    )
    assert ack["ok"] is False
    assert received(bob) == [] and received(alice) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    assert db.session.get(type(team_conversation), team_conversation.id).last_seq == 0


def _end_enrolment(world, db):
    enrolment = db.session.scalars(sa.select(Enrolment)).one()
    care_team_services.end_enrolment(
        world.coord, enrolment, "goals_met", "", world.ctx(world.coord)
    )
    db.session.commit()


def test_ending_the_enrolment_cuts_live_sockets_off(
    messaging_socket, world, patient_conversation, db
):
    bob = _joined(messaging_socket, world.member, patient_conversation)
    assert len(_in_thread(patient_conversation)) == 1
    _end_enrolment(world, db)
    assert _in_thread(patient_conversation) == []
    [revoked] = received(bob, "access_revoked")
    assert revoked["args"][0] == {"conversation_id": patient_conversation.id}
    ack = _emit(bob, "join", {"conversation_id": patient_conversation.id})
    assert ack["ok"] is False
    assert _in_thread(patient_conversation) == []


def test_withdrawn_consent_cuts_the_member_but_not_the_coordinator(
    messaging_socket, world, patient_conversation, db
):
    alice = _joined(messaging_socket, world.coord, patient_conversation)
    bob = _joined(messaging_socket, world.member, patient_conversation)
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    assert [e["name"] for e in received(bob)] == ["access_revoked"]
    assert received(alice, "access_revoked") == []
    # The coordinator keeps writing; the member's socket hears nothing more.
    ack = _emit(
        alice,
        "send_message",
        {"conversation_id": patient_conversation.id, "client_id": "after", "body": "Suite"},
    )
    assert ack["ok"]
    assert received(bob) == []
    refused = _emit(
        bob,
        "send_message",
        {"conversation_id": patient_conversation.id, "client_id": "b", "body": "x"},
    )
    assert refused["ok"] is False


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("send_message", {"client_id": "late", "body": "x"}),
        ("typing", {}),
        ("mark_read", {"seq": 1}),
    ],
)
def test_every_event_rechecks_access(
    messaging_socket, world, patient_conversation, db, event, payload
):
    """Access lost without any signal (a team membership ending by date) is still caught."""
    from datetime import timedelta

    from ptap.care_teams.models import TeamMembership

    bob = _joined(messaging_socket, world.member, patient_conversation)
    membership = db.session.scalars(
        sa.select(TeamMembership).filter_by(user_id=world.member.id)
    ).one()
    membership.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.commit()
    assert len(_in_thread(patient_conversation)) == 1  # no signal was sent: still in the room
    ack = _emit(bob, event, {"conversation_id": patient_conversation.id, **payload})
    assert ack["ok"] is False
    assert _in_thread(patient_conversation) == []  # the refused event took it out


def test_acknowledge_rechecks_access(messaging_socket, world, patient_conversation, db):
    urgent = send(world.coord, patient_conversation, "Chute", priority="urgent").message
    db.session.commit()
    bob = _joined(messaging_socket, world.member, patient_conversation)
    _end_enrolment(world, db)
    assert _emit(bob, "acknowledge", {"message_id": urgent.id})["ok"] is False


def test_deactivated_user_is_disconnected_on_next_event(
    messaging_socket, world, team_conversation, db
):
    bob = _joined(messaging_socket, world.member, team_conversation)
    world.member.active = False
    db.session.commit()
    ack = _emit(bob, "typing", {"conversation_id": team_conversation.id})
    assert ack["ok"] is False
    assert not bob.is_connected(NS)


def test_ending_a_team_membership_cuts_the_team_thread(
    messaging_socket, world, team_conversation, db
):
    from datetime import timedelta

    from ptap.care_teams import organisation
    from ptap.care_teams.models import TeamMembership

    bob = _joined(messaging_socket, world.member, team_conversation)
    membership = db.session.scalars(
        sa.select(TeamMembership).filter_by(user_id=world.member.id)
    ).one()
    yesterday = clock.paris_today() - timedelta(days=1)
    organisation.end_membership(world.coord, membership, yesterday, world.ctx(world.coord))
    db.session.commit()
    assert _in_thread(team_conversation) == []
    assert received(bob, "access_revoked")


# --- Fan-out: a message costs the same whatever the size of the conversation ----------------


def _spy_emits(monkeypatch):
    sent = []
    real = socketio.emit

    def spy(event, data=None, **kwargs):
        sent.append((event, kwargs.get("to")))
        return real(event, data, **kwargs)

    monkeypatch.setattr(socketio, "emit", spy)
    return sent


def _send_over_socket(sock, conversation, client_id):
    ack = _emit(
        sock,
        "send_message",
        {"conversation_id": conversation.id, "client_id": client_id, "body": "Point du jour"},
    )
    assert ack["ok"], ack
    return ack


def test_send_costs_constant_queries_and_two_emits_at_200_members(
    messaging_socket, world, team_conversation, db, count_queries, monkeypatch
):
    alice = _joined(messaging_socket, world.coord, team_conversation)
    _send_over_socket(alice, team_conversation, "warm")  # first send creates the read state
    with count_queries() as small:
        _send_over_socket(alice, team_conversation, "small")
    for _ in range(198):
        add_member(world.team, make_user())
    db.session.commit()
    sent = _spy_emits(monkeypatch)
    with count_queries() as large:
        _send_over_socket(alice, team_conversation, "large")
    assert len(large) == len(small)
    # One message_created for the thread, one conversation_updated for every other member.
    assert [event for event, _ in sent] == ["message_created", "conversation_updated"]
    assert sent[0][1] == f"thread:{team_conversation.id}"
    assert len(sent[1][1]) == 199
    assert f"inbox:{world.coord.id}" not in sent[1][1]


def test_conversation_updated_reaches_only_sockets_following_no_thread(
    messaging_socket, world, team_conversation, db
):
    alice = _joined(messaging_socket, world.coord, team_conversation)
    alice_list = messaging_socket(world.coord)
    bob_thread = _joined(messaging_socket, world.member, team_conversation)
    bob_list = messaging_socket(world.member)  # a conversation list: joins no thread
    received(alice_list)
    received(bob_list)
    _send_over_socket(alice, team_conversation, "m1")
    assert [e["name"] for e in received(bob_thread)] == ["message_created"]
    [update] = received(bob_list)
    assert update["name"] == "conversation_updated"
    assert update["args"][0] == {
        "conversation_id": team_conversation.id,
        "last_seq": 1,
        "author_id": world.coord.id,
    }
    assert received(alice_list) == []  # the author's own unread count does not change
    # Leaving the thread puts the socket back among the list sockets.
    assert _emit(bob_thread, "leave", {"conversation_id": team_conversation.id})["ok"]
    _send_over_socket(alice, team_conversation, "m2")
    assert [e["name"] for e in received(bob_thread)] == ["conversation_updated"]


def test_mark_read_without_progress_sends_no_receipt(
    messaging_socket, world, team_conversation, db
):
    send(world.coord, team_conversation, "un")
    db.session.commit()
    alice = _joined(messaging_socket, world.coord, team_conversation)
    bob = _joined(messaging_socket, world.member, team_conversation)
    assert _emit(bob, "mark_read", {"conversation_id": team_conversation.id, "seq": 1})["ok"]
    assert len(received(alice, "read_receipts")) == 1
    received(bob)
    ack = _emit(bob, "mark_read", {"conversation_id": team_conversation.id, "seq": 1})
    assert ack == {"ok": True, "last_read_seq": 1}
    assert received(alice, "read_receipts") == []
    assert [e["name"] for e in received(bob)] == ["unread_counts"]


def test_rejoin_required_is_one_emit_to_the_thread_in_every_process(
    app, messaging_socket, world, patient_conversation, db, monkeypatch
):
    alice = _joined(messaging_socket, world.coord, patient_conversation)
    _joined(messaging_socket, world.member, patient_conversation)
    monkeypatch.setitem(app.config, "SOCKETIO_MESSAGE_QUEUE", "redis://127.0.0.1:1/0")
    sent = []
    real = socketio.server.emit

    def spy(event, data=None, **kwargs):
        sent.append((event, kwargs.get("to")))
        return real(event, data, **kwargs)

    monkeypatch.setattr(socketio.server, "emit", spy)
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    rejoin = [to for event, to in sent if event == "rejoin_required"]
    # One emit to the thread room (every process's sockets in it), after this process's own
    # sockets that lost access were removed: the member is not told, the coordinator is.
    assert rejoin == [f"thread:{patient_conversation.id}"]
    assert received(alice, "rejoin_required")
    assert _in_thread(patient_conversation) == []  # the room is closed everywhere


def test_recheck_runs_after_the_request_in_a_background_task(
    app, messaging_socket, world, patient_conversation, db, monkeypatch
):
    _joined(messaging_socket, world.member, patient_conversation)
    tasks = []
    monkeypatch.setitem(app.config, "MESSAGING_RECHECK_IN_BACKGROUND", True)
    monkeypatch.setattr(socketio, "start_background_task", lambda fn, *a: tasks.append((fn, a)))
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    assert len(_in_thread(patient_conversation)) == 1  # not done inside the request
    [(fn, args)] = tasks
    fn(*args)
    assert _in_thread(patient_conversation) == []


def test_team_recheck_costs_queries_only_for_threads_with_local_sockets(
    messaging_socket, world, patient_conversation, db, count_queries
):
    from ptap.messaging import live
    from tests.factories import make_patient

    for _ in range(6):  # more patients (and conversations) followed by the team
        services.get_or_create_patient_conversation(
            world.coord, make_patient(world.team, world.coord)
        )
    db.session.commit()
    team_id = world.team.id
    with count_queries() as idle:
        assert live.evict_from_team_threads(team_id) == []
    assert len(idle) == 1  # the conversations, and nothing per conversation
    _joined(messaging_socket, world.coord, patient_conversation)
    with count_queries() as one:
        assert live.evict_from_team_threads(team_id) == []
    _joined(messaging_socket, world.member, patient_conversation)
    _joined(messaging_socket, world.member, patient_conversation)
    with count_queries() as three:
        assert live.evict_from_team_threads(team_id) == []
    assert len(three) == len(one)  # the sockets of a thread are re-checked in bulk


def test_disconnect_forgets_the_socket(messaging_socket, world, db):
    from ptap.messaging import live

    known = dict(live._socket_users)
    sock = messaging_socket(world.member)
    assert set(live._socket_users.values()) - set(known.values()) == {world.member.id}
    sock.disconnect(NS)
    assert live._socket_users == known


def test_join_and_mark_read_cost_the_same_statements_at_2_and_200_members(
    messaging_socket, world, team_conversation, db, count_queries
):
    """Connecting a region at 8 a.m. costs joins: their statements do not grow with the
    audience (the read markers are one statement over the members, not one list of ids)."""
    send(world.coord, team_conversation, "un")
    db.session.commit()
    sock = messaging_socket(world.member)
    with count_queries() as small_join:
        _emit(sock, "join", {"conversation_id": team_conversation.id})
    with count_queries() as small_read:
        _emit(sock, "mark_read", {"conversation_id": team_conversation.id, "seq": 1})
    others = [make_user() for _ in range(198)]
    for user in others:
        add_member(world.team, user)
    db.session.commit()
    send(world.coord, team_conversation, "deux")
    db.session.commit()
    late = messaging_socket(others[0])
    with count_queries() as large_join:
        ack = _emit(late, "join", {"conversation_id": team_conversation.id})
    assert ack["ok"] and len(ack["readers"]) == 2  # the author and world.member
    with count_queries() as large_read:
        _emit(late, "mark_read", {"conversation_id": team_conversation.id, "seq": 2})
    assert len(large_join) == len(small_join)
    assert len(large_read) == len(small_read)
    # credential, conversation, access check, (audit, written in batches outside tests),
    # deadline, read state + unread, markers
    assert len(large_join) <= 7, large_join


def test_mark_read_never_moves_a_read_position_back(messaging_socket, world, team_conversation, db):
    for body in ("un", "deux", "trois"):
        send(world.coord, team_conversation, body)
    db.session.commit()
    sock = _joined(messaging_socket, world.member, team_conversation)
    assert _emit(sock, "mark_read", {"conversation_id": team_conversation.id, "seq": 3}) == {
        "ok": True,
        "last_read_seq": 3,
    }
    # A late mark_read from another tab (seq 1) keeps the furthest position.
    assert _emit(sock, "mark_read", {"conversation_id": team_conversation.id, "seq": 1}) == {
        "ok": True,
        "last_read_seq": 3,
    }
    # Never past the last message.
    assert _emit(sock, "mark_read", {"conversation_id": team_conversation.id, "seq": 99}) == {
        "ok": True,
        "last_read_seq": 3,
    }


def test_a_socket_event_leaves_no_reference_cycle_of_its_request(
    messaging_socket, world, team_conversation, db
):
    """Each socket event runs in a request context built from the socket's URL. When that URL
    matched no rule, the context kept a NotFound whose traceback held the context: a cycle
    per event that only the cyclic GC frees, and its full collections stop every thread."""
    import gc

    sock = _joined(messaging_socket, world.member, team_conversation)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            _emit(sock, "mark_read", {"conversation_id": team_conversation.id, "seq": 0})
        gc.collect()
        kinds = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not kinds & {"RequestContext", "NotFound", "RequestRedirect", "NoMatch"}, kinds
