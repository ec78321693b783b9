"""Two real `ptap run` processes sharing a Redis message queue deliver each other's messages.

Locally the test is skipped when Redis is down; in CI (CI=true) a missing Redis is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
import socketio as socketio_client

from ptap.core import clock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/9"


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI for the cross-process test: {exc}")
        pytest.skip(f"Redis is not running on {REDIS_URL}: {exc}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env.update(
        PTAP_ENV="development",
        PTAP_DATABASE_URL=f"sqlite:///{folder / 'ptap.sqlite3'}",
        PTAP_SCHEDULER_IN_PROCESS="false",
        PTAP_SOCKETIO_MESSAGE_QUEUE=REDIS_URL,
        # A channel of its own: Redis pub/sub ignores the database number, and CI runs the
        # SQLite and PostgreSQL suites side by side on one Redis.
        PTAP_SOCKETIO_CHANNEL=f"ptap-test-{uuid.uuid4().hex}",
        PTAP_UPLOAD_FOLDER=str(folder / "uploads"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _ptap(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ptap"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"ptap {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout.strip()


def _seed(env: dict[str, str]) -> tuple[str, str, int]:
    """Create two members of one team and their team conversation; return their tokens."""
    from ptap import create_app
    from ptap.accounts.services import create_api_token
    from ptap.audit.services import AuditContext
    from ptap.extensions import db
    from ptap.messaging import services
    from tests.factories import add_member, make_team, make_user

    app = create_app({"ENV": "testing", "DATABASE_URL": env["PTAP_DATABASE_URL"]})
    with app.app_context():
        team = make_team("Équipe multi-processus")
        alice, bob = make_user(), make_user()
        add_member(team, alice)
        add_member(team, bob)
        conversation = services.get_or_create_team_conversation(alice, team)
        scopes = ["socket", "api:read", "api:write"]
        ctx = AuditContext(actor_label="test")
        alice_token = create_api_token(alice, "mp", scopes, 1, ctx)[1]
        bob_token = create_api_token(bob, "mp", scopes, 1, ctx)[1]
        db.session.commit()
        conversation_id = conversation.id
        db.session.remove()
        db.engine.dispose()
    return alice_token, bob_token, conversation_id


def _start(env: dict[str, str], folder: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with (folder / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(BIN / "ptap"), "run", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    _stop(process)
    raise RuntimeError((folder / f"{name}.log").read_text(errors="replace"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _client(url: str, token: str, conversation_id: int, inbox: list, got: threading.Event):
    client = socketio_client.Client(reconnection=False)

    @client.on("message_created", namespace="/messaging")
    def _created(data):  # noqa: ANN001
        inbox.append(data)
        got.set()

    client.connect(
        url,
        namespaces=["/messaging"],
        transports=["polling"],
        auth={"token": token},
        wait_timeout=10,
    )
    ack = client.call(
        "join", {"conversation_id": conversation_id}, namespace="/messaging", timeout=10
    )
    assert ack["ok"], ack
    return client


def test_message_crosses_processes_through_redis(tmp_path):
    _require_redis()
    env = _env(tmp_path)
    _ptap(env, "db", "upgrade")
    alice_token, bob_token, conversation_id = _seed(env)
    servers = [_start(env, tmp_path, "a"), _start(env, tmp_path, "b")]
    clients = []
    try:
        (_, url_a), (_, url_b) = servers
        assert url_a != url_b
        inbox_b: list[dict] = []
        got_b = threading.Event()
        alice = _client(url_a, alice_token, conversation_id, [], threading.Event())
        clients.append(alice)
        bob = _client(url_b, bob_token, conversation_id, inbox_b, got_b)
        clients.append(bob)
        ack = alice.call(
            "send_message",
            {"conversation_id": conversation_id, "client_id": "mp-1", "body": "Bonjour de A"},
            namespace="/messaging",
            timeout=10,
        )
        assert ack["ok"] and ack["seq"] == 1, ack
        assert got_b.wait(10), "bob (process B) never received message_created"
        assert inbox_b[0]["id"] == ack["id"]
        assert inbox_b[0]["body"] == "Bonjour de A"
        assert inbox_b[0]["seq"] == 1
    finally:
        for client in clients:
            client.disconnect()
        for process, _ in servers:
            _stop(process)


def test_leaving_the_team_cuts_a_socket_held_by_another_process(tmp_path):
    """Bob follows the team thread on process B; his membership ends in another process (the
    one handling the request, here this test process with the same Redis queue, like the
    scheduler): process B's room is closed through Redis and Bob gets no more messages."""
    _require_redis()
    env = _env(tmp_path)
    _ptap(env, "db", "upgrade")
    alice_token, bob_token, conversation_id = _seed(env)
    servers = [_start(env, tmp_path, "a"), _start(env, tmp_path, "b")]
    clients = []
    try:
        (_, url_a), (_, url_b) = servers
        inbox_bob: list[dict] = []
        got_bob = threading.Event()
        alice = _client(url_a, alice_token, conversation_id, [], threading.Event())
        clients.append(alice)
        rejoin = threading.Event()
        alice.on("rejoin_required", lambda data: rejoin.set(), namespace="/messaging")
        bob = _client(url_b, bob_token, conversation_id, inbox_bob, got_bob)
        clients.append(bob)
        _send(alice, conversation_id, "mp-before", "Avant le départ de Bob")
        assert got_bob.wait(10), "bob never received the first message"

        _end_bobs_membership(env)
        # Members who still may read are asked to join again; they are re-checked and stay.
        assert rejoin.wait(10), "alice was not asked to join again"
        ack = alice.call("join", {"conversation_id": conversation_id}, namespace="/messaging")
        assert ack["ok"], ack

        got_bob.clear()
        _send(alice, conversation_id, "mp-after", "Après le départ de Bob")
        assert not got_bob.wait(3), f"bob still receives the thread: {inbox_bob[-1]}"
        refused = bob.call("join", {"conversation_id": conversation_id}, namespace="/messaging")
        assert not refused.get("ok"), refused
    finally:
        for client in clients:
            client.disconnect()
        for process, _ in servers:
            _stop(process)


def _send(client, conversation_id: int, client_id: str, body: str) -> None:  # noqa: ANN001
    ack = client.call(
        "send_message",
        {"conversation_id": conversation_id, "client_id": client_id, "body": body},
        namespace="/messaging",
        timeout=10,
    )
    assert ack["ok"], ack


def _end_bobs_membership(env: dict[str, str]) -> None:
    """End the second member's membership (yesterday was the last day) through the service."""
    from datetime import timedelta

    import sqlalchemy as sa

    from ptap import create_app
    from ptap.audit.services import AuditContext
    from ptap.care_teams.models import TeamMembership
    from ptap.care_teams.organisation import end_membership
    from ptap.extensions import db
    from tests.factories import make_user

    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": env["PTAP_DATABASE_URL"],
            "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
            "SOCKETIO_CHANNEL": env["PTAP_SOCKETIO_CHANNEL"],
        }
    )
    with app.app_context():
        admin = make_user(role="admin", profession="administrative")
        bob = db.session.scalars(sa.select(TeamMembership).order_by(TeamMembership.id)).all()[1]
        ctx = AuditContext(actor_id=admin.id, actor_label=admin.email)
        yesterday = clock.paris_today() - timedelta(days=1)
        end_membership(admin, bob, yesterday, ctx)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
