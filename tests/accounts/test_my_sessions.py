"""The "Mes sessions" page: list one's live sessions, end one or all the others."""

from __future__ import annotations

import re

import sqlalchemy as sa

from ptap.accounts.models import UserSession
from ptap.accounts.my_sessions import describe_user_agent, session_handle
from ptap.audit.models import AuditEvent
from ptap.extensions import socketio
from ptap.messaging.services import NAMESPACE
from tests.conftest import AuthActions, csrf_token
from tests.factories import make_user

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)


def _second_browser(app, user, user_agent=IPHONE):
    user.totp_last_step = (
        0  # several logins in one TOTP step (replay protection is tested elsewhere)
    )
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = user_agent
    AuthActions(other).login(user)
    return other


def _socket(app, flask_client):
    return socketio.test_client(app, namespace=NAMESPACE, flask_test_client=flask_client)


def _sessions(db, user):
    db.session.expire_all()
    return db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id)
        .order_by(UserSession.created_at)
    ).all()


def _events(db, action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


def test_the_account_page_links_to_the_sessions_page(client, auth):
    auth.login(make_user())
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/account/sessions"' in page


def test_the_page_lists_live_sessions_and_marks_this_one(app, client, auth, db):
    user = make_user()
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    auth.login(user)
    _second_browser(app, user)
    stranger = make_user()
    _second_browser(app, stranger)
    response = client.get("/account/sessions")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Firefox sur Linux" in page
    assert "Safari sur iPhone" in page
    assert page.count("Cette session") == 1
    mine, theirs = _sessions(db, user), _sessions(db, stranger)
    assert len(mine) == 2
    for row in mine:
        assert row.id not in page  # the secret id never reaches the HTML
        assert session_handle(row.id) in page or row.user_agent == FIREFOX
    assert session_handle(theirs[0].id) not in page
    # The current session has no "end" button: logging out does that.
    assert f"/account/sessions/{session_handle(mine[0].id)}/end" not in page


def test_ended_and_timed_out_sessions_are_not_listed(app, client, auth, db):
    user = make_user()
    auth.login(user)
    other = _second_browser(app, user)
    other_row = _sessions(db, user)[1]
    AuthActions(other).post("/logout")
    page = client.get("/account/sessions").get_data(as_text=True)
    assert session_handle(other_row.id) not in page
    assert "Aucune autre session ouverte." in page


def test_ending_another_session_refuses_its_cookie_at_once(app, client, auth, db):
    user = make_user()
    auth.login(user)
    other = _second_browser(app, user)
    sock = _socket(app, other)
    assert sock.is_connected(NAMESPACE)
    target = _sessions(db, user)[1]
    handle = session_handle(target.id)

    response = auth.post(f"/account/sessions/{handle}/end")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/sessions")

    assert other.get("/").status_code == 302
    assert other.get("/api/v1/me").status_code == 401
    assert not sock.is_connected(NAMESPACE)  # its socket was closed after the commit
    assert not _socket(app, other).is_connected(NAMESPACE)
    assert client.get("/").status_code == 200  # this browser stays logged in
    ended = _sessions(db, user)[1]
    assert (ended.ended_at is not None, ended.end_reason) == (True, "ended_by_user")
    (event,) = _events(db, "auth.session_end")
    assert (event.actor_id, event.object_id, event.outcome) == (user.id, handle, "success")
    assert target.id not in event.reason


def test_someone_elses_session_cannot_be_ended(app, client, auth, db):
    user, stranger = make_user(), make_user()
    auth.login(user)
    theirs = _second_browser(app, stranger)
    handle = session_handle(_sessions(db, stranger)[0].id)
    assert auth.post(f"/account/sessions/{handle}/end").status_code == 404
    assert auth.post("/account/sessions/not-a-handle/end").status_code == 404
    assert theirs.get("/").status_code == 200
    assert _sessions(db, stranger)[0].ended_at is None
    assert _events(db, "auth.session_end") == []


def test_ending_needs_the_csrf_token(app, client, auth, db):
    user = make_user()
    auth.login(user)
    other = _second_browser(app, user)
    handle = session_handle(_sessions(db, user)[1].id)
    assert client.post(f"/account/sessions/{handle}/end").status_code in (302, 400)
    assert other.get("/").status_code == 200
    assert _sessions(db, user)[1].ended_at is None


def test_end_all_other_sessions_keeps_this_one(app, client, auth, db):
    user = make_user()
    auth.login(user)
    others = [_second_browser(app, user), _second_browser(app, user, FIREFOX)]
    stranger = make_user()
    theirs = _second_browser(app, stranger)
    response = auth.post("/account/sessions/end-others")
    assert response.status_code == 302
    assert [o.get("/").status_code for o in others] == [302, 302]
    assert client.get("/").status_code == 200
    assert theirs.get("/").status_code == 200
    rows = _sessions(db, user)
    assert [r.ended_at is None for r in rows] == [True, False, False]
    (event,) = _events(db, "auth.session_end_others")
    assert event.actor_id == user.id
    for row in rows[1:]:
        assert session_handle(row.id) in event.reason
    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Aucune autre session ouverte." in page


def test_ending_this_session_from_the_page_logs_out(client, auth, db):
    user = make_user()
    auth.login(user)
    handle = session_handle(_sessions(db, user)[0].id)
    token = csrf_token(client, "/account/sessions")
    response = client.post(f"/account/sessions/{handle}/end", data={"csrf_token": token})
    assert response.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302


def test_the_page_needs_a_login(client):
    response = client.get("/account/sessions")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_user_agents_are_summarised_in_french():
    assert describe_user_agent(FIREFOX) == "Firefox sur Linux"
    assert describe_user_agent(IPHONE) == "Safari sur iPhone"
    assert describe_user_agent("curl/8.0") == "Autre logiciel"
    assert describe_user_agent("") == "Appareil inconnu"
    assert re.fullmatch(r"[0-9a-f]{16}", session_handle("abc"))


def test_only_live_tokens_are_listed_with_their_paris_expiry(client, auth, db):
    from datetime import UTC, datetime, timedelta

    from ptap.accounts import services as account_services
    from ptap.audit.context import request_context
    from ptap.core import clock

    user = make_user()
    ctx = request_context(user)
    live, _ = account_services.create_api_token(user, "Agenda", ["api:read"], 30, ctx)
    expired, _ = account_services.create_api_token(user, "Ancien script", ["api:read"], 30, ctx)
    revoked, _ = account_services.create_api_token(user, "Révoqué", ["api:read"], 30, ctx)
    now = clock.now()
    # 22:30 UTC in winter is 23:30 in Paris; in UTC the next day would not show yet.
    live.expires_at = datetime(now.year + 1, 1, 14, 22, 30, tzinfo=UTC)
    expired.expires_at = now - timedelta(minutes=1)
    revoked.revoked_at = now
    db.session.commit()
    auth.login(user)
    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Agenda" in page
    assert f"expire le 14/01/{now.year + 1} à 23:30" in page
    assert "Ancien script" not in page
    assert "Révoqué" not in page
