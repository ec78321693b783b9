"""Nothing reaches a socket after its access ends (issue 11, finding 3): the full matrix.

For each way access ends (the credential the socket was opened with: token revoked or expired,
login session logged out or timed out; the right to read the patient: break-the-glass or
invitation expiry, membership end at Paris midnight), a /messaging socket follows a patient's
thread next to a control socket whose access holds. A broadcast just before the instant reaches
both; one just after reaches only the control socket. The socket itself sends nothing: the
server decides alone. Ends by time are checked with the frozen clock (`ptap.core.clock`), with
no job run in between; the one-minute jobs then close what remains.

Cross-process (a revocation in one process, the socket held by another): see
`tests/messaging/test_cross_process_revocation.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts import services as account_services
from ptap.accounts.models import ApiToken, UserSession
from ptap.accounts.tasks import close_sockets_of_ended_credentials
from ptap.audit.context import request_context
from ptap.care_teams.models import BreakGlassAccess, CircleInvitation, TeamMembership
from ptap.core import clock
from ptap.extensions import socketio
from ptap.messaging.services import inbox_room, user_room
from ptap.messaging.tasks import cut_off_expired_access
from tests.messaging.conftest import NS, received, send, token_for

SECOND = timedelta(seconds=1)


@dataclass
class Ending:
    """A socket about to lose access, and how its access ends."""

    sock: object
    user_id: int
    #: Ends the access now (revocation, logout) and returns None, or returns the instant at
    #: which it ends by time.
    end: Callable[[], datetime | None]
    #: The job that closes what remains once the instant has passed (ends by time).
    job: Callable[[datetime], object] | None = None


#: The test sockets opened by this module's tests, closed after each test.
_OPENED: list = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while _OPENED:
        sock = _OPENED.pop()
        if sock.is_connected(NS):
            sock.disconnect(NS)


def _socket(app, flask_client, auth=None):
    sock = socketio.test_client(app, namespace=NS, flask_test_client=flask_client, auth=auth)
    assert sock.is_connected(NS)
    _OPENED.append(sock)
    return sock


def _join(sock, conversation):
    ack = sock.emit("join", {"conversation_id": conversation.id}, namespace=NS, callback=True)
    assert ack["ok"], ack
    received(sock)
    return sock


def _token_socket(app, db, user, expires_at: datetime | None = None):
    token = token_for(user, ("socket",))
    row = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())).first()
    if expires_at is not None:
        row.expires_at = expires_at
    db.session.commit()
    return _socket(app, app.test_client(), {"token": token}), row.id


def _cookie_socket(app, client, auth, user):
    auth.login(user)
    return _socket(app, client)


# --- How access ends: one function per row of the matrix ------------------------------------


def token_revoked(app, client, auth, db, world, conversation) -> Ending:
    sock, token_id = _token_socket(app, db, world.member)

    def end() -> None:
        account_services.revoke_api_token(world.member, token_id, request_context(world.member))
        db.session.commit()  # the signal leaves after the commit

    return Ending(sock, world.member.id, end)


def token_expired(app, client, auth, db, world, conversation) -> Ending:
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    sock, _ = _token_socket(app, db, world.member, expires_at=ends)
    return Ending(sock, world.member.id, lambda: ends, close_sockets_of_ended_credentials)


def session_logged_out(app, client, auth, db, world, conversation) -> Ending:
    sock = _cookie_socket(app, client, auth, world.member)

    def end() -> None:
        assert auth.post("/logout").status_code == 302

    return Ending(sock, world.member.id, end)


def session_absolute_end(app, client, auth, db, world, conversation) -> Ending:
    auth.login(world.member)
    row = db.session.scalars(sa.select(UserSession)).one()
    ends = (clock.now() + timedelta(minutes=10)).replace(microsecond=0)
    row.created_at = ends - timedelta(hours=app.config["SESSION_MAX_HOURS"])
    row.last_seen_at = clock.now()
    db.session.commit()
    sock = _socket(app, client)
    return Ending(sock, world.member.id, lambda: ends, close_sockets_of_ended_credentials)


def session_idle_end(app, client, auth, db, world, conversation) -> Ending:
    sock = _cookie_socket(app, client, auth, world.member)
    row = db.session.scalars(sa.select(UserSession)).one()
    ends = row.last_seen_at + timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    return Ending(sock, world.member.id, lambda: ends, close_sockets_of_ended_credentials)


def _outsider_granted(model, app, db, world, **extra) -> tuple[object, datetime]:
    ends = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    db.session.add(
        model(patient_id=world.patient.id, user_id=world.outsider.id, expires_at=ends, **extra)
    )
    db.session.commit()
    return _token_socket(app, db, world.outsider)[0], ends


def break_glass_expired(app, client, auth, db, world, conversation) -> Ending:
    sock, ends = _outsider_granted(
        BreakGlassAccess, app, db, world, reason="Urgence : chute la nuit, personne joignable"
    )
    return Ending(sock, world.outsider.id, lambda: ends, cut_off_expired_access)


def invitation_expired(app, client, auth, db, world, conversation) -> Ending:
    sock, ends = _outsider_granted(CircleInvitation, app, db, world, invited_by_id=world.coord.id)
    return Ending(sock, world.outsider.id, lambda: ends, cut_off_expired_access)


def membership_ended(app, client, auth, db, world, conversation) -> Ending:
    today = clock.paris_today()
    membership = db.session.scalars(
        sa.select(TeamMembership).where(TeamMembership.user_id == world.member.id)
    ).one()
    membership.ends_on = today  # the last day: access ends at the next Paris midnight
    db.session.commit()
    sock = _token_socket(app, db, world.member)[0]
    midnight = clock.paris_midnight(today + timedelta(days=1))
    return Ending(sock, world.member.id, lambda: midnight, cut_off_expired_access)


ENDINGS = [
    token_revoked,
    token_expired,
    session_logged_out,
    session_absolute_end,
    session_idle_end,
    break_glass_expired,
    invitation_expired,
    membership_ended,
]
CREDENTIAL_ENDINGS = ENDINGS[:5]


# --- The matrix -------------------------------------------------------------------------------


def _broadcast(world, conversation, db, body, at: datetime | None, user_id: int) -> None:
    """A message in the thread, and an emit to the user's own rooms (every room counts)."""
    with clock.frozen(at or clock.now()):
        send(world.coord, conversation, body)
        db.session.commit()
        socketio.emit("notice", {"body": body}, to=user_room(user_id), namespace=NS)
        socketio.emit("notice", {"body": body}, to=inbox_room(user_id), namespace=NS)


def _got(sock) -> dict[str, list[str]]:
    """The bodies a socket received since the last look, by event name (nothing if closed)."""
    got: dict[str, list[str]] = {"message_created": [], "notice": []}
    for event in received(sock) if sock.is_connected(NS) else []:
        if event["name"] in got:
            got[event["name"]].append(event["args"][0]["body"])
    return got


def _setup(ending_fn, app, client, auth, db, world, conversation):
    ending = ending_fn(app, client, auth, db, world, conversation)
    _join(ending.sock, conversation)
    control, _ = _token_socket(app, db, world.coord)
    _join(control, conversation)
    return ending, control


@pytest.mark.parametrize("ending_fn", ENDINGS, ids=[f.__name__ for f in ENDINGS])
def test_nothing_is_delivered_after_access_ends(
    ending_fn, app, client, auth, db, world, patient_conversation
):
    ending, control = _setup(ending_fn, app, client, auth, db, world, patient_conversation)
    instant = ending.end()
    after = instant + SECOND if instant else None
    if instant is not None:  # ends by time: a broadcast just before still arrives
        _broadcast(world, patient_conversation, db, "avant", instant - SECOND, ending.user_id)
        assert _got(ending.sock) == {"message_created": ["avant"], "notice": ["avant"]}
    _broadcast(world, patient_conversation, db, "après", after, ending.user_id)
    assert "après" in _got(control)["message_created"]
    got = _got(ending.sock)
    assert "après" not in got["message_created"]
    if ending_fn in CREDENTIAL_ENDINGS:  # the credential ended: every room, not only the thread
        assert "après" not in got["notice"]
    if instant is None:  # revocation, logout: the socket is closed at once
        assert not ending.sock.is_connected(NS)
    if ending.job is not None:  # the job then closes what remains; still nothing delivered
        ending.job(after)
        _broadcast(world, patient_conversation, db, "plus tard", after, ending.user_id)
        assert "plus tard" not in _got(ending.sock)["message_created"]
        assert "plus tard" in _got(control)["message_created"]
    assert control.is_connected(NS)


@pytest.mark.parametrize(
    "ending_fn",
    [f for f in CREDENTIAL_ENDINGS if f not in (token_revoked, session_logged_out)],
    ids=lambda f: f.__name__,
)
def test_the_job_disconnects_sockets_whose_credential_ended_by_time(
    ending_fn, app, client, auth, db, world, patient_conversation
):
    ending, control = _setup(ending_fn, app, client, auth, db, world, patient_conversation)
    instant = ending.end()
    assert instant is not None
    assert close_sockets_of_ended_credentials(instant - SECOND) == {"tokens": 0, "sessions": 0}
    assert ending.sock.is_connected(NS)
    close_sockets_of_ended_credentials(instant + SECOND)
    assert not ending.sock.is_connected(NS)
    assert control.is_connected(NS)


def test_a_session_used_again_moves_its_sockets_deadline(
    app, client, auth, db, world, patient_conversation
):
    ending, control = _setup(session_idle_end, app, client, auth, db, world, patient_conversation)
    first_end = ending.end()
    # The user keeps working in another tab: the session is touched (at most once a minute),
    # and its sockets, in whatever process, get the later idle end.
    with clock.frozen(first_end - timedelta(minutes=5)):
        assert client.get("/api/v1/me").status_code == 200
    _broadcast(world, patient_conversation, db, "toujours là", first_end + SECOND, world.member.id)
    assert _got(ending.sock)["message_created"] == ["toujours là"]
    assert close_sockets_of_ended_credentials(first_end + SECOND)["sessions"] == 0
    assert ending.sock.is_connected(NS)
