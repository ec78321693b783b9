"""Regression tests of the security review (issue 11): items 1, 2, 4, 9, 10, 14 of accounts."""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta

import pytest

from ptap.accounts import services
from ptap.accounts.models import ApiToken, LoginThrottle, User, UserSession
from ptap.accounts.passwords import verify_password
from ptap.accounts.services import BAD_CREDENTIALS, claim_totp_step
from ptap.accounts.throttle import login_keys
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.core.errors import AuthenticationFailed
from ptap.core.models import utcnow
from ptap.extensions import db as _db
from ptap.messaging.services import NAMESPACE
from tests.conftest import AuthActions, csrf_token
from tests.factories import PASSWORD, make_user, totp_code


def _token(user, scopes=("api:read", "socket")):
    return services.create_api_token(user, "t", list(scopes), 30, request_context(user))[1]


def _bearer(plaintext):
    return {"Authorization": f"Bearer {plaintext}"}


def _events(db, action):
    rows = db.session.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.id)
    return [(e.outcome, e.reason) for e in rows]


def _mint(client, db, user, **extra):
    return client.post(
        "/api/v1/tokens",
        json={"name": "script", "scopes": ["api:read"], **extra},
        headers={"X-CSRFToken": csrf_token(client, "/account")},
    )


# --- 1. Tokens: re-authentication, revocation on account recovery ---------------------------


def test_minting_a_token_requires_a_fresh_reauthentication(client, auth, db, app):
    user = make_user()
    auth.login(user)
    refused = _mint(client, db, user)
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    assert "Confirmez votre identité" in refused.json["detail"]
    assert ("denied", "no recent re-authentication") in _events(db, "auth.token_create")

    db.session.refresh(user)
    wrong = _mint(client, db, user, password="not-the-password", code=totp_code(user))
    assert wrong.status_code == 422
    assert db.session.query(ApiToken).count() == 0

    db.session.refresh(user)
    ok = _mint(client, db, user, password=PASSWORD, code=totp_code(user))
    assert ok.status_code == 201
    # Within the window a second token needs no new code; after it, it does again.
    assert _mint(client, db, user).status_code == 201
    row = db.session.query(UserSession).one()
    row.reauthenticated_at -= timedelta(minutes=app.config["REAUTH_MINUTES"], seconds=1)
    assert _mint(client, db, user).status_code == 403


def test_web_token_form_refuses_a_wrong_code(client, auth, db):
    user = make_user()
    auth.login(user)
    response = auth.post(
        "/account/tokens",
        {"name": "x", "scopes": ["api:read"], "days": "30", "password": PASSWORD, "code": "1"},
    )
    assert response.status_code == 422
    assert "Mot de passe ou code à usage unique incorrect" in response.get_data(as_text=True)
    assert db.session.query(ApiToken).count() == 0


@pytest.mark.parametrize("how", ["logout_everywhere", "password_change", "admin_reset"])
def test_account_recovery_revokes_tokens_and_closes_their_sockets(
    app, client, auth, db, socket_client, how
):
    user = make_user()
    plaintext = _token(user)
    token_socket = socket_client(auth={"token": plaintext})
    assert token_socket.is_connected()
    assert client.get("/api/v1/me", headers=_bearer(plaintext)).status_code == 200
    if how == "admin_reset":
        auth.login(make_user(role="admin"))
        auth.post(f"/admin/users/{user.id}/reset-password", {"reset_second_factor": "y"})
    else:
        auth.login(user)
        if how == "logout_everywhere":
            auth.post("/account/logout-everywhere")
        else:
            auth.post(
                "/account/password",
                {"current_password": PASSWORD, "new_password": "un-nouveau-secret-solide"},
            )
    assert not token_socket.is_connected()
    assert db.session.query(ApiToken).one().revoked_at is not None
    assert app.test_client().get("/api/v1/me", headers=_bearer(plaintext)).status_code == 401
    fresh = socket_client(auth={"token": plaintext}, flask_client=app.test_client())
    assert not fresh.is_connected()


def test_bearer_of_an_account_that_must_change_its_password_is_refused(app, db, socket_client):
    user = make_user()
    plaintext = _token(user)
    user.must_change_password = True
    response = app.test_client().get("/api/v1/me", headers=_bearer(plaintext))
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert "changer son mot de passe" in response.json["detail"]
    assert not socket_client(auth={"token": plaintext}).is_connected()


def test_revoking_a_token_disconnects_only_its_sockets_at_once(client, auth, db, socket_client):
    user = make_user()
    revoked, kept = _token(user), _token(user)
    revoked_socket = socket_client(auth={"token": revoked})
    kept_socket = socket_client(auth={"token": kept})
    token_id = db.session.query(ApiToken).order_by(ApiToken.id).first().id
    auth.login(user)
    auth.post(f"/account/tokens/{token_id}/revoke")
    assert not revoked_socket.is_connected()
    assert kept_socket.is_connected()


def _messaging_socket(app, auth=None, flask_client=None):
    from ptap.extensions import socketio

    return socketio.test_client(app, namespace=NAMESPACE, auth=auth, flask_test_client=flask_client)


def test_expired_token_stops_a_socket_at_its_next_event(app, db):
    user = make_user()
    plaintext = _token(user)
    sock = _messaging_socket(app, auth={"token": plaintext})
    assert sock.is_connected(NAMESPACE)
    db.session.query(ApiToken).one().expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    ack = sock.emit("join", {"conversation_id": 1}, namespace=NAMESPACE, callback=True)
    assert ack == {"ok": False, "error": "Authentification requise."}
    assert not sock.is_connected(NAMESPACE)


# --- 2. Server-side sessions ------------------------------------------------------------------


def _copy_cookie(app, client):
    copy = app.test_client()
    cookie = client.get_cookie("session")
    copy.set_cookie(cookie.key, cookie.value)
    return copy


def test_logout_ends_the_session_for_a_copied_cookie(app, client, auth, db):
    user = make_user()
    auth.login(user)
    copy = _copy_cookie(app, client)
    assert copy.get("/").status_code == 200
    assert copy.get("/api/v1/me").status_code == 200
    auth.post("/logout")
    assert copy.get("/").status_code == 302
    assert copy.get("/api/v1/me").status_code == 401
    assert not _messaging_socket(app, flask_client=copy).is_connected(NAMESPACE)
    row = db.session.query(UserSession).one()
    assert (row.ended_at is not None, row.end_reason) == (True, "logout")


def test_idle_session_cannot_open_a_socket(app, client, auth, db):
    user = make_user()
    auth.login(user)
    row = db.session.query(UserSession).one()
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1)
    db.session.commit()
    assert not _messaging_socket(app, flask_client=client).is_connected(NAMESPACE)
    db.session.refresh(row)
    assert row.end_reason == "idle"


def test_socket_events_are_refused_once_the_session_times_out(app, client, auth, db):
    user = make_user()
    auth.login(user)
    sock = _messaging_socket(app, flask_client=client)
    assert sock.is_connected(NAMESPACE)
    row = db.session.query(UserSession).one()
    row.created_at -= timedelta(hours=app.config["SESSION_MAX_HOURS"], seconds=1)
    db.session.commit()
    ack = sock.emit("join", {"conversation_id": 1}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False
    assert not sock.is_connected(NAMESPACE)
    assert client.get("/").status_code == 302  # the page too: absolute timeout


def test_last_seen_is_written_at_most_once_a_minute(client, auth, db, count_queries):
    user = make_user()
    auth.login(user)
    row = db.session.query(UserSession).one()
    first = row.last_seen_at
    with count_queries() as queries:
        assert client.get("/api/v1/me").status_code == 200
    db.session.refresh(row)
    assert row.last_seen_at == first
    assert not any(q.lstrip().upper().startswith("UPDATE USER_SESSIONS") for q in queries)


# --- 4. Open redirect after login -------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/phish",
        "/%0a/evil.example",
        "/%0d/evil.example",
        "//evil.example/x",
        "/\\evil.example",
        "/%5Cevil.example",
        "\\/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        " /evil.example",
    ],
)
def test_login_never_redirects_off_site(client, db, target):
    user = make_user()
    client.post(
        f"/login?next={target}",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    token = csrf_token(client, "/login/second-factor")
    response = client.post(
        "/login/second-factor", data={"code": totp_code(user), "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_keeps_a_same_site_next_path(client, db):
    user = make_user()
    client.post(
        "/login?next=/account%3Ftab%3Dtokens",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    token = csrf_token(client, "/login/second-factor")
    response = client.post(
        "/login/second-factor", data={"code": totp_code(user), "csrf_token": token}
    )
    assert response.headers["Location"] == "/account?tab=tokens"


# --- 9. Concurrent TOTP submissions -----------------------------------------------------------


def test_totp_step_claim_is_conditional(db):
    user = make_user()
    user.totp_last_step = 100
    db.session.commit()
    assert claim_totp_step(user, 101)
    assert not claim_totp_step(user, 101)  # the same step again: a replay
    assert not claim_totp_step(user, 100)
    assert user.totp_last_step == 101
    db.session.commit()
    db.session.refresh(user)
    assert user.totp_last_step == 101


@pytest.mark.skipif(
    not os.environ.get("PTAP_TEST_DATABASE_URL"), reason="row locks: PostgreSQL only"
)
def test_parallel_submissions_of_one_code_let_exactly_one_win(app, db):
    user = make_user()
    db.session.commit()
    code, user_id = totp_code(user), user.id
    barrier = threading.Barrier(5)
    results: list[str] = []

    def submit() -> None:
        with app.app_context():
            target = _db.session.get(User, user_id)
            barrier.wait()
            try:
                services.verify_second_factor(target, code, request_context(user=None))
                results.append("ok")
            except AuthenticationFailed:
                results.append("refused")
            _db.session.commit()

    threads = [threading.Thread(target=submit) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["refused"] * 4


# --- 10. Enumeration and lockout abuse --------------------------------------------------------


def _attempt(app, email, password, address):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    token = csrf_token(browser)
    return browser.post("/login", data={"email": email, "password": password, "csrf_token": token})


def _answer(response, email):
    """The response without what differs by design: CSRF tokens and the e-mail typed."""
    body = re.sub(
        r'(csrf[-_]token"[^>]*value="|content=")[^"]+"', r"\1X", response.get_data(as_text=True)
    )
    return response.status_code, body.replace(email, "EMAIL")


def test_locked_account_and_unknown_email_get_the_same_answer(app, db):
    user = make_user()
    ghost = "personne@example.test"
    for email in (user.email, ghost):
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            _attempt(app, email, "wrong-password!", "10.0.0.1")
    locked = _attempt(app, user.email, PASSWORD, "10.0.0.1")  # even the right password
    unknown = _attempt(app, ghost, PASSWORD, "10.0.0.1")
    fresh_unknown = _attempt(app, "jamais-vu@example.test", "x", "10.0.0.9")
    assert locked.status_code == unknown.status_code == fresh_unknown.status_code == 401
    assert _answer(locked, user.email) == _answer(unknown, ghost)
    assert BAD_CREDENTIALS in locked.get_data(as_text=True)
    assert BAD_CREDENTIALS in fresh_unknown.get_data(as_text=True)


def test_account_wide_lock_does_not_keep_the_user_out_at_a_known_address(app, db):
    user = make_user()
    AuthActions(app.test_client()).login(user)  # from 127.0.0.1: a known address
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for n in range(limit):  # a distributed attacker, under every per-address threshold
        _attempt(app, user.email, "wrong-password!", f"10.1.0.{n}")
    account = db.session.get(LoginThrottle, login_keys(user.email, "").account)
    assert account.locked_until is not None and account.locked_until > utcnow()
    # A new address is refused even with the right password...
    assert _attempt(app, user.email, PASSWORD, "10.2.0.1").status_code == 401
    # ...while the user at their known address gets in with password + TOTP.
    browser = app.test_client()
    response = AuthActions(browser).login(user)
    assert response.headers["Location"] == "/"
    assert browser.get("/").status_code == 200


def test_per_address_lock_covers_every_account(app, db):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    user = make_user()
    for n in range(3):
        _attempt(app, f"spray{n}@example.test", "wrong-password!", "10.3.0.1")
    assert _attempt(app, user.email, PASSWORD, "10.3.0.1").status_code == 401
    assert _attempt(app, user.email, PASSWORD, "10.3.0.2").status_code == 302


# --- 14. Common and breached passwords --------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["password1234", "azertyazerty", "Motdepasse2024!", "123456789012", "soleil123456"]
)
def test_common_passwords_are_refused(password):
    from ptap.accounts.passwords import COMMON_PASSWORD_MESSAGE, check_password_policy
    from ptap.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        check_password_policy(password)
    assert exc.value.message == COMMON_PASSWORD_MESSAGE


def test_an_uncommon_passphrase_is_accepted():
    from ptap.accounts.passwords import check_password_policy, is_common_password

    check_password_policy("cheval-agrafe-batterie-correcte")
    assert not is_common_password("cheval-agrafe-batterie-correcte")


def test_password_change_refuses_a_common_password_in_french(client, auth, db):
    user = make_user()
    auth.login(user)
    response = auth.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "iloveyou1234"}
    )
    body = response.get_data(as_text=True)
    assert "mots de passe les plus courants" in body
    db.session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)
