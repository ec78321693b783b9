"""Invitation links and one-time sign-in codes: single use, expiry, rate limit, lockout."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM, AuditContext
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.mail import MailMessage
from ptap.core.models import utcnow
from ptap.extensions import db
from ptap.patient_space import auth, services
from ptap.patient_space.models import PatientAccount, PatientInvitation, SignInCode
from tests.conftest import csrf_token
from tests.patient_space.conftest import open_account, sign_in

CTX = AuditContext(ip_address="192.0.2.10")


def _code(account: PatientAccount, address: str = "192.0.2.10") -> str:
    sent = auth.request_code(account.email, address, CTX)
    db.session.commit()
    assert sent.code_for_tests
    return sent.code_for_tests


def _events(action: str, outcome: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    if outcome:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    return list(db.session.scalars(stmt))


def test_code_signs_in_once_and_is_stored_hashed(world):
    account = open_account(world.w, world.patient)
    code = _code(account)
    row = db.session.scalars(sa.select(SignInCode)).one()
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert auth.verify_code(account.email, code, "192.0.2.10", CTX).id == account.id
    db.session.commit()
    with pytest.raises(InvalidInput, match="plus valable"):
        auth.verify_code(account.email, code, "192.0.2.10", CTX)  # reused


def test_expired_code_is_refused(world):
    account = open_account(world.w, world.patient)
    code = _code(account)
    with clock.frozen(utcnow() + timedelta(minutes=11)), pytest.raises(InvalidInput):
        auth.verify_code(account.email, code, "192.0.2.10", CTX)
    db.session.commit()
    assert _events("patient_space.sign_in", "failure")


def test_code_is_bound_to_its_account(world):
    mine = open_account(world.w, world.patient)
    theirs = open_account(world.w, world.other, email="other@example.test")
    code = _code(mine)
    _code(theirs)
    with pytest.raises(InvalidInput):
        auth.verify_code(theirs.email, code, "192.0.2.10", CTX)


def test_a_new_code_replaces_the_older_one(world):
    account = open_account(world.w, world.patient)
    first = _code(account)
    second = _code(account)
    if first != second:
        with pytest.raises(InvalidInput):
            auth.verify_code(account.email, first, "192.0.2.10", CTX)
        db.session.commit()
    assert auth.verify_code(account.email, second, "192.0.2.10", CTX)


def test_codes_are_rate_limited(world):
    account = open_account(world.w, world.patient)
    for _ in range(auth.CODES_PER_WINDOW):
        _code(account)
    refused = auth.request_code(account.email, "192.0.2.10", CTX)  # neutral, nothing sent
    assert refused.account is None and not refused.code_for_tests
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInCode)) == 3
    assert _events("patient_space.code_request", "denied")
    with clock.frozen(utcnow() + timedelta(minutes=auth.CODE_WINDOW_MINUTES + 1)):
        assert auth.request_code(account.email, "192.0.2.10", CTX).code_for_tests


def test_a_code_dies_after_five_wrong_attempts_without_locking_the_person(world):
    account = open_account(world.w, world.patient)
    code = _code(account)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"):
        with pytest.raises(InvalidInput):
            auth.verify_code(account.email, wrong, address, CTX)
        db.session.commit()
    # The code is dead (5 attempts), even for its owner at another address...
    with pytest.raises(InvalidInput):
        auth.verify_code(account.email, code, "203.0.113.9", CTX)
    db.session.commit()
    assert db.session.scalars(sa.select(SignInCode)).one().attempts == auth.MAX_ATTEMPTS
    # ...but the person is not locked out: a new code works at once.
    fresh = _code(account, "203.0.113.9")
    assert auth.verify_code(account.email, fresh, "203.0.113.9", CTX).id == account.id


def test_unknown_address_gets_the_same_answer(client, world):
    token = csrf_token(client, "/espace/connexion")
    page = client.post(
        "/espace/connexion", data={"email": "nobody@example.test", "csrf_token": token}
    )
    assert page.status_code == 200
    assert "Si cette adresse a un espace" in page.get_data(as_text=True)
    assert "le code est" not in page.get_data(as_text=True)


def test_wrong_code_form_shows_a_french_error_and_keeps_nothing(client, world):
    account = open_account(world.w, world.patient)
    wrong = f"{(int(_code(account)) + 1) % 1_000_000:06d}"
    token = csrf_token(client, "/espace/connexion")
    page = client.post(
        "/espace/connexion/code",
        data={"email": account.email, "code": wrong, "csrf_token": token},
    )
    assert page.status_code == 422
    assert "pas le bon" in page.get_data(as_text=True)
    assert client.get("/espace").status_code == 302  # not signed in
    db.session.refresh(account)
    assert account.last_login_at is None


def test_invitation_link_is_single_use(world):
    data = services.InvitationIn("a@example.test", "Aline", "self", frozenset())
    _, token = services.invite(world.w.coord, world.patient, data, SYSTEM)
    db.session.commit()
    auth.accept_invitation(token, SYSTEM)
    db.session.commit()
    with pytest.raises(InvalidInput, match="déjà servi"):
        auth.accept_invitation(token, SYSTEM)


def test_invitation_link_expires_after_seven_days(client, world):
    data = services.InvitationIn("b@example.test", "Bruno", "self", frozenset())
    _, token = services.invite(world.w.coord, world.patient, data, SYSTEM)
    db.session.commit()
    with clock.frozen(utcnow() + timedelta(days=7, minutes=1)):
        page = client.get(f"/espace/invitation/{token}")
        assert page.status_code == 410
        assert "expiré (7 jours)" in page.get_data(as_text=True)
        with pytest.raises(InvalidInput):
            auth.accept_invitation(token, SYSTEM)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientAccount)) == 0


def test_emails_carry_no_health_data(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_TRANSPORT", "smtp")  # queued, never sent here
    account = open_account(world.w, world.patient)
    sent = auth.request_code(account.email, "192.0.2.10", CTX)
    db.session.commit()
    assert sent.code_for_tests == ""  # with a transport the code is only in the e-mail
    mails = list(db.session.scalars(sa.select(MailMessage).order_by(MailMessage.id)))
    assert [m.recipient for m in mails] == [account.email, account.email]
    assert "/espace/invitation/" in mails[0].body
    assert re.search(r"\b\d{6}\b", mails[1].body)
    for mail in mails:
        text = mail.subject + mail.body
        assert world.patient.birth_name not in text
        assert "Chutes" not in text and "kiné" not in text


def test_sign_in_through_the_forms_reaches_the_home(client, world):
    account = open_account(world.w, world.patient)
    response = sign_in(client, account)
    assert response.status_code == 302
    home = client.get("/espace")
    assert home.status_code == 200
    assert "Un plan attend votre accord" in home.get_data(as_text=True)
    db.session.refresh(account)
    assert account.last_login_at is not None


def test_invitation_row_keeps_only_a_hash(world):
    _, token = services.invite(
        world.w.coord,
        world.patient,
        services.InvitationIn("c@example.test", "Carla", "self", frozenset()),
        SYSTEM,
    )
    row = db.session.scalars(sa.select(PatientInvitation)).one()
    assert token not in row.token_hash


def test_an_address_with_a_live_account_is_refused_and_the_link_kept(world):
    open_account(world.w, world.patient, email="dup@example.test")
    data = services.InvitationIn("dup@example.test", "Dup", "self", frozenset())
    _, token = services.invite(world.w.coord, world.other, data, SYSTEM)
    db.session.commit()
    with pytest.raises(InvalidInput, match="déjà un espace"):
        auth.accept_invitation(token, SYSTEM)
    db.session.commit()
    assert auth.find_live_invitation(token) is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientAccount)) == 1


def test_an_application_once_enrolled_is_asked_after_the_emailed_code(app, client, world):
    import pyotp

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    page = client.get("/espace/securite")
    assert page.status_code == 200
    secret = re.search(r'<code class="ps-key">([A-Z2-7]+)</code>', page.get_data(as_text=True))
    token = csrf_token(client, "/espace")
    wrong = client.post("/espace/securite", data={"code": "123456", "csrf_token": token})
    assert wrong.status_code in (422, 302)
    if wrong.status_code == 422:
        db.session.refresh(account)
        assert account.totp_secret is None
    totp = pyotp.TOTP(secret.group(1))
    ok = client.post("/espace/securite", data={"code": totp.now(), "csrf_token": token})
    assert ok.status_code == 302
    db.session.refresh(account)
    assert account.totp_secret == secret.group(1)
    # Next sign-in: the e-mailed code alone no longer opens the space.
    other = app.test_client()
    after_email = sign_in(other, account)
    assert after_email.status_code == 200
    assert "Code affiché par l" in after_email.get_data(as_text=True)
    assert other.get("/espace").status_code == 302
    form_token = csrf_token(other, "/espace/connexion")
    bad = other.post(
        "/espace/connexion/application", data={"code": "000000", "csrf_token": form_token}
    )
    assert bad.status_code in (422, 302)
    with clock.frozen(utcnow() + timedelta(seconds=31)):
        good = other.post(
            "/espace/connexion/application",
            data={"code": totp.at(clock.now()), "csrf_token": form_token},
        )
        assert good.status_code == 302
        assert other.get("/espace").status_code == 200
