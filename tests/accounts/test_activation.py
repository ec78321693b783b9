"""Item 5 of issue 11: accounts created by an admin are activated by the user, never the admin."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pyotp
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from ptap.accounts.activation import activate_account, issue_activation_link
from ptap.accounts.models import ActivationLink, User
from ptap.audit.context import request_context
from ptap.core import mail
from ptap.core.errors import InvalidInput
from tests.conftest import csrf_token
from tests.factories import make_user

NEW_ACCOUNT = {
    "first_name": "Jeanne",
    "last_name": "Exemple",
    "email": "jeanne@example.test",
    "profession": "nurse",
    "role": "professional",
}
GOOD_PASSWORD = "cheval-agrafe-batterie-correcte"


def _link_on(page: str) -> str:
    return page.split('<code class="secret">')[1].split("</code>")[0]


def _activate(client, path, password=GOOD_PASSWORD, confirm=None):
    return client.post(
        path,
        data={
            "password": password,
            "confirm": confirm or password,
            "csrf_token": csrf_token(client, path),
        },
    )


def test_admin_creates_an_account_without_knowing_any_password(app, client, auth, db):
    auth.login(make_user(role="admin"))
    page = auth.post("/admin/users/new", NEW_ACCOUNT).get_data(as_text=True)
    link = _link_on(page)  # shown only because no e-mail is configured (tests, development)
    token = link.rsplit("/", 1)[1]
    stored = db.session.query(ActivationLink).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash

    user_browser = app.test_client()
    path = f"/activate/{token}"
    response = _activate(user_browser, path)
    assert response.headers["Location"] == "/login/enrol"  # then the user enrols TOTP
    page = user_browser.get("/login/enrol").get_data(as_text=True)
    secret = page.split('class="secret">')[1][:32]
    enrolled = user_browser.post(
        "/login/enrol",
        data={
            "code": pyotp.TOTP(secret).now(),
            "csrf_token": csrf_token(user_browser, "/login/enrol"),
        },
    )
    assert enrolled.status_code == 200
    assert user_browser.get("/").status_code == 200
    created = db.session.query(User).filter_by(email="jeanne@example.test").one()
    assert created.totp_confirmed_at is not None

    # Single use: the same link is refused afterwards.
    again = app.test_client().get(path)
    assert again.status_code == 302
    assert again.headers["Location"] == "/login"


def test_link_goes_by_email_and_is_never_shown_when_mail_is_configured(app, client, auth, db):
    app.config["MAIL_TRANSPORT"] = "memory"
    mail.MEMORY_OUTBOX.clear()
    auth.login(make_user(role="admin"))
    page = auth.post("/admin/users/new", NEW_ACCOUNT).get_data(as_text=True)
    assert '<code class="secret">' not in page
    assert "/activate/" not in page
    # The link waits in the mail outbox until the scheduler's job sends it.
    assert not [m for m in mail.MEMORY_OUTBOX if m["To"] == "jeanne@example.test"]
    mail.send_queued_mail()
    [message] = [m for m in mail.MEMORY_OUTBOX if m["To"] == "jeanne@example.test"]
    assert "/activate/" in message.get_content()


def test_expired_or_superseded_links_are_refused(app, db):
    user = make_user(totp=False)
    first = issue_activation_link(user, request_context(user=None))
    second = issue_activation_link(user, request_context(user=None))
    db.session.commit()
    with pytest.raises(InvalidInput) as exc:
        activate_account(first, GOOD_PASSWORD, request_context(user=None))
    assert exc.value.field == "token"
    link = db.session.query(ActivationLink).filter(ActivationLink.used_at.is_(None)).one()
    link.expires_at -= timedelta(hours=app.config["ACTIVATION_LINK_HOURS"] + 1)
    db.session.commit()
    response = app.test_client().get(f"/activate/{second}")
    assert response.headers["Location"] == "/login"


def test_activation_refuses_a_common_password_without_burning_the_link(app, db):
    user = make_user(totp=False)
    token = issue_activation_link(user, request_context(user=None))
    db.session.commit()
    browser = app.test_client()
    response = _activate(browser, f"/activate/{token}", password="motdepasse123")
    assert response.status_code == 422
    assert "mots de passe les plus courants" in response.get_data(as_text=True)
    response = _activate(browser, f"/activate/{token}")
    assert response.status_code == 302


def test_cli_can_print_an_activation_link(app, db):
    from ptap.cli import main

    result = CliRunner().invoke(
        main,
        [
            "users",
            "create",
            "--email",
            "cli@example.test",
            "--first-name",
            "Cli",
            "--last-name",
            "Exemple",
            "--activation-link",
        ],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output
    assert "/activate/" in result.output
    created = db.session.query(User).filter_by(email="cli@example.test").one()
    assert created.password_changed_at is None
