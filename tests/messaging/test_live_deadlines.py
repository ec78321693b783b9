"""Access that ends by date stops live delivery at that instant, before any cut-off job runs.

Each socket following a patient thread carries its access deadline (computed at `join`); this
process's Socket.IO delivery skips the sockets past it, for local emits and for emits that
arrive through the message queue (`PubSubManager._handle_emit`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from socketio import PubSubManager

from ptap.care_teams.models import BreakGlassAccess, CircleInvitation, TeamMembership
from ptap.core import clock, socket_delivery
from ptap.extensions import socketio
from ptap.messaging import live, queries
from tests.messaging.conftest import NS, received, send

SECOND = timedelta(seconds=1)


def _joined(messaging_socket, user, conversation):
    sock = messaging_socket(user)
    assert sock.is_connected(NS)
    ack = sock.emit("join", {"conversation_id": conversation.id}, namespace=NS, callback=True)
    assert ack["ok"], ack
    received(sock)
    return sock


def _bodies(sock) -> list[str]:
    return [e["args"][0]["body"] for e in received(sock, "message_created")]


def _send_at(instant, world, conversation, body, db):
    with clock.frozen(instant):
        send(world.coord, conversation, body)
        db.session.commit()


def _break_glass(world, db, ends):
    db.session.add(
        BreakGlassAccess(
            patient_id=world.patient.id,
            user_id=world.outsider.id,
            reason="Urgence : chute la nuit, aucun membre joignable",
            expires_at=ends,
        )
    )
    db.session.commit()
    return world.outsider


def _invitation(world, db, ends):
    db.session.add(
        CircleInvitation(
            patient_id=world.patient.id,
            user_id=world.outsider.id,
            invited_by_id=world.coord.id,
            expires_at=ends,
        )
    )
    db.session.commit()
    return world.outsider


@pytest.mark.parametrize("grant", [_break_glass, _invitation], ids=["break_glass", "invitation"])
def test_expiring_access_gets_messages_until_the_instant_and_none_after(
    grant, messaging_socket, world, patient_conversation, db
):
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    user = grant(world, db, ends)
    with clock.frozen(ends - timedelta(minutes=10)):
        guest = _joined(messaging_socket, user, patient_conversation)
        member = _joined(messaging_socket, world.member, patient_conversation)
    _send_at(ends - SECOND, world, patient_conversation, "avant", db)
    _send_at(ends + SECOND, world, patient_conversation, "après", db)
    assert _bodies(guest) == ["avant"]
    assert _bodies(member) == ["avant", "après"]
    # No job ran: the socket is still in the room, the delivery itself left it out.
    room = f"thread:{patient_conversation.id}"
    assert len(list(socketio.server.manager.get_participants(NS, room))) == 2
    assert any(live.expired_sids(f"thread:{patient_conversation.id}", ends + SECOND))


def test_membership_ending_today_stops_at_paris_midnight(
    messaging_socket, world, patient_conversation, db
):
    today = clock.paris_today()
    midnight = clock.paris_midnight(today + timedelta(days=1))
    membership = db.session.scalars(
        sa.select(TeamMembership).where(TeamMembership.user_id == world.member.id)
    ).one()
    membership.ends_on = today
    db.session.commit()
    with clock.frozen(midnight - timedelta(minutes=30)):
        leaving = _joined(messaging_socket, world.member, patient_conversation)
    _send_at(midnight - SECOND, world, patient_conversation, "avant minuit", db)
    _send_at(midnight + SECOND, world, patient_conversation, "après minuit", db)
    assert _bodies(leaving) == ["avant minuit"]


def test_other_thread_events_are_filtered_too(messaging_socket, world, patient_conversation, db):
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    _break_glass(world, db, ends)
    with clock.frozen(ends - timedelta(minutes=1)):
        guest = _joined(messaging_socket, world.outsider, patient_conversation)
        member = _joined(messaging_socket, world.member, patient_conversation)
    with clock.frozen(ends + SECOND):
        ack = member.emit(
            "typing",
            {"conversation_id": patient_conversation.id, "typing": True},
            namespace=NS,
            callback=True,
        )
        assert ack["ok"]
    assert received(guest, "typing") == []


def test_no_deadline_for_open_ended_members(world, patient_conversation, db):
    deadlines = queries.access_deadlines(
        patient_conversation, [world.coord.id, world.member.id, world.outsider.id]
    )
    assert deadlines[world.coord.id] is None
    assert deadlines[world.member.id] is None
    # The outsider holds no grant: their access already ended.
    assert deadlines[world.outsider.id] is not None
    assert deadlines[world.outsider.id] <= clock.now()


def test_the_latest_grant_counts(world, patient_conversation, db):
    soon = clock.now() + timedelta(hours=1)
    later = clock.now() + timedelta(days=2)
    _break_glass(world, db, soon)
    _invitation(world, db, later)
    deadline = queries.access_deadlines(patient_conversation, [world.outsider.id])[
        world.outsider.id
    ]
    assert deadline is not None
    assert abs(deadline - later) < SECOND


class _Loopback(PubSubManager):
    """A message queue without Redis: what this host publishes is recorded, not sent."""

    def _publish(self, data):
        self.published.append(data)


def test_emits_from_another_process_are_filtered_where_the_socket_lives(
    messaging_socket, world, patient_conversation, db, monkeypatch
):
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    _break_glass(world, db, ends)
    with clock.frozen(ends - timedelta(minutes=1)):
        guest = _joined(messaging_socket, world.outsider, patient_conversation)
        member = _joined(messaging_socket, world.member, patient_conversation)
    manager = socketio.server.manager
    monkeypatch.setattr(manager, "__class__", socket_delivery._filtered_class(_Loopback))
    manager.host_id, manager.published = "this-process", []

    def arrives(body):  # as the queue listener hands over another process's emit
        manager._handle_emit(
            {
                "method": "emit",
                "event": "message_created",
                "data": [{"body": body}],
                "binary": False,
                "namespace": NS,
                "room": f"thread:{patient_conversation.id}",
                "skip_sid": None,
                "callback": None,
                "host_id": "another-process",
            }
        )

    with clock.frozen(ends - SECOND):
        arrives("avant")
    with clock.frozen(ends + SECOND):
        arrives("après")
    assert _bodies(guest) == ["avant"]
    assert _bodies(member) == ["avant", "après"]


def test_leaving_and_disconnecting_drop_the_deadline(
    messaging_socket, world, patient_conversation, db
):
    ends = clock.now() + timedelta(hours=1)
    _break_glass(world, db, ends)
    guest = _joined(messaging_socket, world.outsider, patient_conversation)
    assert patient_conversation.id in live._deadlines
    guest.emit("leave", {"conversation_id": patient_conversation.id}, namespace=NS, callback=True)
    assert patient_conversation.id not in live._deadlines
    _joined(messaging_socket, world.outsider, patient_conversation).disconnect(NS)
    assert patient_conversation.id not in live._deadlines
