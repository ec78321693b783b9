"""Shared by the live meeting tests: the meeting world with a second agenda patient and an
outside guest invited for the first one only, and /meetings test sockets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ptap.accounts.models import User
from ptap.audit.services import SYSTEM
from ptap.extensions import db as _db
from ptap.extensions import socketio
from ptap.meetings import services
from ptap.meetings.live import NAMESPACE
from ptap.meetings.models import MeetingAgendaItem
from tests.dashboards.conftest import token_for
from tests.factories import make_user
from tests.meetings.helpers import MeetingWorld, build_meeting_world, reach_quorum

NS = NAMESPACE


@dataclass
class LiveWorld:
    """The meetings world, plus `second` (the newcomer on the agenda) and `guest`, an outside
    physician invited for `w.patient` only."""

    w: MeetingWorld
    second: MeetingAgendaItem
    guest: User


def build_live_world(*, started: bool = True) -> LiveWorld:
    w = build_meeting_world()
    second = services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM)
    guest = make_user(profession="physiotherapist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)
    if started:
        reach_quorum(w)
    _db.session.commit()
    return LiveWorld(w, second, guest)


@pytest.fixture
def live_world(db) -> LiveWorld:
    return build_live_world()


@pytest.fixture
def meeting_socket(app, client, db):
    """Connect a /meetings test socket as `user` (bearer token with the socket scope)."""
    opened = []

    def connect(user: User):
        token = token_for(user, ("socket",))
        _db.session.commit()
        sock = socketio.test_client(
            app, namespace=NS, flask_test_client=client, auth={"token": token}
        )
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected(NS):
            sock.disconnect(NS)


def join(sock, meeting_id: int) -> dict:
    return sock.emit("join_meeting", {"meeting_id": meeting_id}, namespace=NS, callback=True)


def received(sock, name: str | None = None) -> list[dict]:
    return [e["args"][0] for e in sock.get_received(NS) if name is None or e["name"] == name]
