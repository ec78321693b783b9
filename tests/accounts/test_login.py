from datetime import timedelta

import pyotp
import pytest

from ptap.accounts.models import LoginThrottle, UserSession
from ptap.accounts.services import BAD_CREDENTIALS
from ptap.accounts.throttle import login_keys
from ptap.audit.models import AuditEvent
from ptap.core.models import utcnow
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user, totp_code


def _events(db, action=None):
    rows = db.session.query(AuditEvent).order_by(AuditEvent.id).all()
    return [(e.action, e.outcome, e.reason) for e in rows if action is None or e.action == action]


def _password_step(client, email, password=PASSWORD):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


def _code_step(client, code):
    token = csrf_token(client, "/login/second-factor")
    return client.post("/login/second-factor", data={"code": code, "csrf_token": token})


def test_login_with_password_and_totp_reaches_home(client, auth, db):
    user = make_user()
    response = auth.login(user)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert f"Bonjour {user.first_name}" in home.get_data(as_text=True)
    assert ("auth.login", "success", "totp") in _events(db)


def test_password_step_alone_does_not_log_in(client, db):
    user = make_user()
    response = _password_step(client, user.email)
    assert response.headers["Location"] == "/login/second-factor"
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_and_keeps_the_email(client, db):
    user = make_user()
    response = _password_step(client, user.email, "not-the-password")
    body = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in body
    assert f'value="{user.email}"' in body
    # Counted on the throttle keys, not on the account's own lock (strangers cannot lock it).
    db.session.refresh(user)
    assert user.failed_logins == 0
    assert db.session.get(LoginThrottle, login_keys(user.email, "127.0.0.1").pair).failures == 1
    assert ("auth.password", "failure", "wrong password") in _events(db)


def test_unknown_email_gets_the_same_message(client, db):
    response = _password_step(client, "nobody@example.test")
    assert response.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    assert ("auth.password", "failure", "unknown account") in _events(db)


def test_wrong_totp_is_refused(client, db):
    user = make_user()
    _password_step(client, user.email)
    response = _code_step(client, "000000" if totp_code(user) != "000000" else "111111")
    assert response.status_code == 401
    assert "Code incorrect ou déjà utilisé." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert ("auth.second_factor", "failure", "wrong TOTP code") in _events(db)


def test_replayed_totp_is_refused(app, db):
    user = make_user()
    code = totp_code(user)
    first, second = app.test_client(), app.test_client()
    _password_step(first, user.email)
    assert _code_step(first, code).status_code == 302
    _password_step(second, user.email)
    response = _code_step(second, code)
    assert response.status_code == 401
    assert ("auth.second_factor", "failure", "replayed TOTP code") in _events(db)


def test_recovery_code_works_once(client, app, db):
    user = make_user(totp=False)
    _password_step(client, user.email)
    secret = client.get("/login/enrol").get_data(as_text=True).split('class="secret">')[1][:32]
    token = csrf_token(client, "/login/enrol")
    page = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert page.status_code == 200
    codes = page.get_data(as_text=True).split("<li><code>")[1:]
    assert len(codes) == 10
    recovery = codes[0].split("</code>")[0]
    db.session.refresh(user)
    assert user.totp_secret == secret
    assert all(len(r.code_hash) == 64 and recovery not in r.code_hash for r in user.recovery_codes)

    other = app.test_client()
    _password_step(other, user.email)
    assert _code_step(other, recovery).status_code == 302
    again = app.test_client()
    _password_step(again, user.email)
    assert _code_step(again, recovery).status_code == 401


def test_enrolment_requires_a_valid_code(client, db):
    user = make_user(totp=False)
    _password_step(client, user.email)
    page = client.get("/login/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # QR code rendered locally, no remote image
    token = csrf_token(client, "/login/enrol")
    response = client.post("/login/enrol", data={"code": "12345", "csrf_token": token})
    assert "Le code compte 6 chiffres." in response.get_data(as_text=True)
    wrong = "000000" if pyotp.TOTP(page.split('class="secret">')[1][:32]).now() != "000000" else "1"
    response = client.post("/login/enrol", data={"code": wrong, "csrf_token": token})
    assert "Code incorrect" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.totp_secret is None
    assert client.get("/").status_code == 302


def test_lockout_after_repeated_failures_then_progressive(client, app, db):
    user = make_user()
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        _password_step(client, user.email, "wrong-password!")
    pair = db.session.get(LoginThrottle, login_keys(user.email, "127.0.0.1").pair)
    assert pair.locked_until is not None
    first_lock = pair.locked_until - utcnow()
    assert timedelta(seconds=50) < first_lock <= timedelta(seconds=60)
    # Even the right password is refused from this address while locked, with the answer
    # any failure gets.
    response = _password_step(client, user.email)
    assert response.status_code == 401
    assert BAD_CREDENTIALS in response.get_data(as_text=True)
    assert ("auth.password", "denied", "throttled") in _events(db)
    # After the lock, one more failure locks for twice as long.
    pair.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _password_step(client, user.email, "wrong-password!")
    db.session.refresh(pair)
    assert pair.locked_until - utcnow() > timedelta(seconds=110)


def test_successful_login_resets_the_failure_counter(client, auth, db):
    user = make_user()
    _password_step(client, user.email, "wrong-password!")
    auth.login(user)
    db.session.refresh(user)
    assert user.failed_logins == 0


def test_login_without_csrf_token_is_refused(client, db):
    user = make_user()
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "jeton CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_idle_session_expires(client, auth, app, db):
    user = make_user()
    auth.login(user)
    row = db.session.query(UserSession).one()
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1)
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "expiré" in client.get("/login").get_data(as_text=True)
    assert ("auth.logout", "success", "idle timeout") in _events(db)
    db.session.refresh(row)
    assert (row.ended_at is not None, row.end_reason) == (True, "idle")


def test_active_session_is_kept(client, auth, app, db):
    user = make_user()
    auth.login(user)
    row = db.session.query(UserSession).one()
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 1)
    before = row.last_seen_at
    assert client.get("/").status_code == 200
    db.session.refresh(row)
    assert row.last_seen_at > before  # touched (at most once a minute)


def test_logout_everywhere_ends_other_sessions(app, db):
    from tests.conftest import AuthActions

    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    AuthActions(laptop).login(user)
    AuthActions(phone).login(user)
    assert phone.get("/").status_code == 200
    response = AuthActions(laptop).post("/account/logout-everywhere")
    assert response.status_code == 302
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 302
    assert ("auth.logout_everywhere", "success", "") in _events(db)


def test_logout_requires_post_with_csrf(client, auth, db):
    user = make_user()
    auth.login(user)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert auth.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_open_redirect_after_login_is_ignored(client, db):
    user = make_user()
    client.post(
        "/login?next=//evil.example/x",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    response = _code_step(client, totp_code(user))
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("cookie", ["HttpOnly", "SameSite=Lax"])
def test_session_cookie_flags(client, db, cookie):
    user = make_user()
    response = _password_step(client, user.email)
    assert cookie in response.headers["Set-Cookie"]
