"""A revocation in one process closes, at once, the sockets another process holds.

Two real `ptap run` processes A and B share a Redis message queue (their own channel, so other
runs on the same Redis do not mix in). Bob's socket lives on B and only listens: it sends no
event after joining. Revoking his token through A's API, or logging him out everywhere from a
third process (as the scheduler or another web worker would), disconnects it on B through the
queue, and nothing more reaches it. The in-process tests at the end check the same path
deterministically: signals and broadcasts that arrive from another process through the queue
listener are applied where the socket lives.

Locally the subprocess tests are skipped when Redis is down; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import threading
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest
import socketio as socketio_client
import sqlalchemy as sa
from socketio import PubSubManager

from ptap.accounts.models import ApiToken
from ptap.core import clock, socket_delivery
from ptap.extensions import socketio
from tests.messaging.conftest import NS, received, token_for
from tests.messaging.test_multiprocess import _env, _ptap, _require_redis, _start, _stop

REDIS_URL = "redis://127.0.0.1:6379/10"
WAIT = 10


def _seed(env: dict[str, str]) -> dict[str, Any]:
    """Alice and Bob in one team and its conversation; their tokens."""
    from ptap import create_app
    from ptap.accounts.services import create_api_token
    from ptap.audit.services import AuditContext
    from ptap.extensions import db
    from ptap.messaging import services
    from tests.factories import add_member, make_team, make_user

    app = create_app({"ENV": "testing", "DATABASE_URL": env["PTAP_DATABASE_URL"]})
    with app.app_context():
        team = make_team("Équipe révocation")
        alice, bob = make_user(), make_user()
        add_member(team, alice)
        add_member(team, bob)
        conversation = services.get_or_create_team_conversation(alice, team)
        ctx = AuditContext(actor_label="test")
        seeded = {
            "alice": create_api_token(alice, "socket", ["socket", "api:write"], 1, ctx)[1],
            "bob_socket": create_api_token(bob, "socket", ["socket"], 1, ctx),
            "bob_api": create_api_token(bob, "script", ["api:read", "api:write"], 1, ctx)[1],
        }
        db.session.commit()
        token, plaintext = seeded["bob_socket"]
        seeded.update(
            bob_socket=plaintext,
            bob_socket_id=token.id,
            bob_id=bob.id,
            conversation_id=conversation.id,
        )
        db.session.remove()
        db.engine.dispose()
    return seeded


class Listener:
    """A python-socketio client on both namespaces, recording messages and disconnects."""

    def __init__(self, url: str, token: str, conversation_id: int) -> None:
        self.bodies: list[str] = []
        self.got = threading.Event()
        self.closed = {"/": threading.Event(), NS: threading.Event()}
        self.client = socketio_client.Client(reconnection=False)
        self.client.on("message_created", self._created, namespace=NS)
        for namespace, event in self.closed.items():
            self.client.on("disconnect", lambda *_, e=event: e.set(), namespace=namespace)
        self.client.connect(
            url,
            namespaces=["/", NS],
            transports=["polling"],
            auth={"token": token},
            wait_timeout=WAIT,
        )
        ack = self.client.call("join", {"conversation_id": conversation_id}, namespace=NS)
        assert ack["ok"], ack

    def _created(self, data: dict[str, Any]) -> None:
        self.bodies.append(data["body"])
        self.got.set()

    def send(self, conversation_id: int, body: str) -> None:
        ack = self.client.call(
            "send_message",
            {"conversation_id": conversation_id, "client_id": uuid.uuid4().hex, "body": body},
            namespace=NS,
            timeout=WAIT,
        )
        assert ack["ok"], ack

    def wait_for(self, body: str) -> bool:
        for _ in range(50):
            if body in self.bodies:
                return True
            self.got.clear()
            self.got.wait(WAIT / 50)
        return body in self.bodies


def _revoke_through_process_a(url_a: str, seeded: dict[str, Any], env: dict[str, str]) -> None:
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"{url_a}/api/v1/tokens/{seeded['bob_socket_id']}",
        method="DELETE",
        headers={"Authorization": f"Bearer {seeded['bob_api']}"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
        assert response.status == 204


def _log_out_everywhere_elsewhere(url_a: str, seeded: dict[str, Any], env: dict[str, str]) -> None:
    """Log Bob out everywhere from this test process (a third one sharing the queue)."""
    from ptap import create_app
    from ptap.accounts.models import User
    from ptap.accounts.services import logout_everywhere
    from ptap.audit.services import AuditContext
    from ptap.extensions import db

    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": env["PTAP_DATABASE_URL"],
            "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
            "SOCKETIO_CHANNEL": env["PTAP_SOCKETIO_CHANNEL"],
        }
    )
    with app.app_context():
        bob = db.session.get(User, seeded["bob_id"])
        logout_everywhere(bob, AuditContext(actor_id=bob.id, actor_label=bob.email))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    "revoke",
    [_revoke_through_process_a, _log_out_everywhere_elsewhere],
    ids=["token_revoked_on_a", "logout_everywhere_elsewhere"],
)
def test_revocation_elsewhere_closes_a_listening_socket_on_b_at_once(tmp_path, revoke):
    _require_redis()
    env = _env(tmp_path)
    env.update(
        PTAP_SOCKETIO_MESSAGE_QUEUE=REDIS_URL,
        PTAP_SOCKETIO_CHANNEL=f"ptap-test-{uuid.uuid4().hex}",
    )
    _ptap(env, "db", "upgrade")
    seeded = _seed(env)
    conversation_id = seeded["conversation_id"]
    servers = [_start(env, tmp_path, "a"), _start(env, tmp_path, "b")]
    clients: list[Listener] = []
    try:
        (_, url_a), (_, url_b) = servers
        alice = Listener(url_a, seeded["alice"], conversation_id)
        clients.append(alice)
        bob = Listener(url_b, seeded["bob_socket"], conversation_id)
        clients.append(bob)
        alice.send(conversation_id, "avant")
        assert bob.wait_for("avant"), "the queue does not link A and B"

        revoke(url_a, seeded, env)
        # Bob's socket sent nothing since: only the signal through the queue can close it.
        assert bob.closed[NS].wait(WAIT), "bob's /messaging socket on B stayed open"
        assert bob.closed["/"].wait(WAIT), "bob's / socket on B stayed open"
        alice.send(conversation_id, "après")
        assert alice.wait_for("après")
        assert "après" not in bob.bodies
        assert not alice.closed[NS].is_set()
    finally:
        for listener in clients:
            listener.client.disconnect()
        for process, _ in servers:
            _stop(process)


# --- The same path, in process: what arrives through the queue listener --------------------


class _Loopback(PubSubManager):
    """A message queue without Redis: what this host publishes is recorded, not sent."""

    def _publish(self, data):  # noqa: ANN001
        self.published.append(data)


def _from_another_process(manager, event: str, data: Any, room: str) -> None:
    manager._handle_emit(
        {
            "method": "emit",
            "event": event,
            "data": [data],
            "binary": False,
            "namespace": NS,
            "room": room,
            "skip_sid": None,
            "callback": None,
            "host_id": "another-process",
        }
    )


def _loopback(monkeypatch):
    """Turn this server's manager into a queue manager (after the test clients connected:
    they refuse a queue)."""
    manager = socketio.server.manager
    monkeypatch.setattr(manager, "__class__", socket_delivery._filtered_class(_Loopback))
    manager.host_id, manager.published = "this-process", []
    return manager


#: The test sockets opened by this module's tests, closed after each test.
_OPENED: list = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while _OPENED:
        sock = _OPENED.pop()
        if sock.is_connected(NS):
            sock.disconnect(NS)


def _token_socket(app, db, user, expires_at=None):
    token = token_for(user, ("socket",))
    row = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())).first()
    if expires_at is not None:
        row.expires_at = expires_at
    db.session.commit()
    sock = socketio.test_client(
        app, namespace=NS, flask_test_client=app.test_client(), auth={"token": token}
    )
    assert sock.is_connected(NS)
    _OPENED.append(sock)
    received(sock)
    return sock, row.id


def test_a_revocation_signal_from_another_process_closes_only_that_tokens_sockets(
    app, db, world, monkeypatch
):
    revoked, token_id = _token_socket(app, db, world.member)
    kept, _ = _token_socket(app, db, world.member)
    loopback = _loopback(monkeypatch)
    _from_another_process(loopback, socket_delivery.CREDENTIAL_ENDED, {}, f"token:{token_id}")
    assert not revoked.is_connected(NS)
    assert kept.is_connected(NS)
    assert received(kept) == []  # the signal itself is never delivered


def test_broadcasts_from_another_process_stop_at_the_token_expiry(app, db, world, monkeypatch):
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    expiring, _ = _token_socket(app, db, world.member, expires_at=ends)
    other, _ = _token_socket(app, db, world.coord)
    loopback = _loopback(monkeypatch)
    room = f"user:{world.member.id}"
    with clock.frozen(ends - timedelta(seconds=1)):
        _from_another_process(loopback, "notice", {"body": "avant"}, room)
    with clock.frozen(ends + timedelta(seconds=1)):
        _from_another_process(loopback, "notice", {"body": "après"}, room)
        _from_another_process(loopback, "notice", {"body": "à tous"}, f"user:{world.coord.id}")
    assert [e["args"][0]["body"] for e in received(expiring, "notice")] == ["avant"]
    assert [e["args"][0]["body"] for e in received(other, "notice")] == ["à tous"]
