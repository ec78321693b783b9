"""Regression tests of the patient-space security review (caregiver grants, sign-in
enumeration and lock-out, code guessing, adult check, enrolment, TOTP, logs, races)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ptap.accounts.models import LoginThrottle
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM, AuditContext
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.extensions import db
from ptap.patient_space import auth, services
from ptap.patient_space.models import SignInCode
from tests.conftest import csrf_token
from tests.patient_space.conftest import CODE_RE, open_account, sign_in

CTX = AuditContext(ip_address="192.0.2.10")


def _denied(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == "denied")
        )
    )


def test_a_caregiver_sees_only_the_pages_the_person_granted(client, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"message"})
    sign_in(client, account)
    for path, action in (
        ("/espace/cercle", "patient_space.read_circle"),
        ("/espace/documents", "patient_space.read_documents"),
        ("/espace/acces", "patient_space.read_access_log"),
    ):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "pas donné le droit" in page.get_data(as_text=True)
        assert _denied(action)
    home = client.get("/espace").get_data(as_text=True)
    assert "/espace/cercle" not in home and "/espace/documents" not in home
    assert "/espace/acces" not in home


def test_granted_caregiver_and_person_still_reach_their_pages(app, client, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"see_plan", "download"})
    sign_in(client, account)
    assert client.get("/espace/cercle").status_code == 200
    assert client.get("/espace/documents").status_code == 200
    assert client.get("/espace/acces").status_code == 403  # the person's own log only
    person = open_account(world.w, world.patient)
    other = app.test_client()
    sign_in(other, person)
    assert other.get("/espace/acces").status_code == 200


# --- 2. sign-in tells no one who has an account, and no stranger can lock the person out --


def _ask(client, email: str):
    token = csrf_token(client, "/espace/connexion")
    return client.post("/espace/connexion", data={"email": email, "csrf_token": token})


def _try(client, email: str, code: str):
    token = csrf_token(client, "/espace/connexion")
    return client.post(
        "/espace/connexion/code", data={"email": email, "code": code, "csrf_token": token}
    )


def _answer(page) -> tuple[int, str]:
    text = page.get_data(as_text=True)
    text = re.sub(r'name="csrf[-_]token"[^>]*>', "", text)
    text = re.sub(r'content="[A-Za-z0-9_.-]{40,}"', "", text)
    text = re.sub(r'value="[^"]*@example\.test"', "", text)
    text = CODE_RE.sub("", text)
    return page.status_code, re.sub(r"\s+", " ", text)


def test_code_requests_answer_the_same_whether_the_account_exists(app, world):
    account = open_account(world.w, world.patient)
    known, unknown = app.test_client(), app.test_client()
    for _ in range(auth.CODES_PER_WINDOW + 1):
        a = _ask(known, account.email)
        b = _ask(unknown, "nobody@example.test")
        assert a.status_code == b.status_code == 200
    assert "le code est" not in a.get_data(as_text=True)  # rate-limited: nothing sent
    assert _answer(a)[1].replace(account.email, "") == _answer(b)[1].replace(
        "nobody@example.test", ""
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInCode)) == 3


def test_wrong_codes_answer_the_same_and_lock_only_the_guessers_address(app, world):
    account = open_account(world.w, world.patient)
    known, unknown = app.test_client(), app.test_client()
    for _ in range(6):
        a = _try(known, account.email, "000000")
        b = _try(unknown, "nobody@example.test", "000000")
        assert a.status_code == b.status_code
    assert a.status_code == 429  # the guesser's (e-mail, address) pair, for both alike
    # The person, at their own address, is not locked out: a fresh code signs them in.
    sent = auth.request_code(account.email, "203.0.113.7", CTX)
    db.session.commit()
    assert auth.verify_code(account.email, sent.code_for_tests, "203.0.113.7", CTX)


# --- 3. parallel guesses: an attempt is reserved before the comparison --------------------


def test_a_code_allows_five_attempts_even_when_reserved_concurrently(world, monkeypatch):
    account = open_account(world.w, world.patient)
    code = auth.request_code(account.email, "192.0.2.1", CTX).code_for_tests
    db.session.commit()
    row = db.session.scalars(sa.select(SignInCode)).one()
    # Five racing requests already reserved their attempts: the right code is now refused
    # without being compared.
    db.session.execute(sa.update(SignInCode).values(attempts=auth.MAX_ATTEMPTS))
    db.session.commit()
    compared = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    with pytest.raises(InvalidInput):
        auth.verify_code(account.email, code, "192.0.2.1", CTX)
    assert compared == []
    db.session.rollback()
    db.session.refresh(row)
    assert row.used_at is None and row.attempts == auth.MAX_ATTEMPTS


# --- 6. TOTP: the e-mailed code alone is not a sign-in; non-ASCII digits are refused -------


def test_with_an_application_the_emailed_code_alone_records_no_sign_in(world):
    account = open_account(world.w, world.patient)
    account.totp_secret = auth.new_totp_secret()
    db.session.commit()
    code = auth.request_code(account.email, "192.0.2.1", CTX).code_for_tests
    db.session.commit()
    auth.verify_code(account.email, code, "192.0.2.1", CTX)
    db.session.commit()
    db.session.refresh(account)
    assert account.last_login_at is None
    assert not db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "patient_space.sign_in", AuditEvent.outcome == "success"
        )
    ).all()
    trusted = db.session.scalars(
        sa.select(LoginThrottle).where(LoginThrottle.trusted_at.is_not(None))
    ).all()
    assert trusted == []


def test_arabic_indic_digits_are_a_wrong_code_not_a_500(client, world):
    account = open_account(world.w, world.patient)
    auth.request_code(account.email, "192.0.2.1", CTX)
    db.session.commit()
    page = _try(client, account.email, "١٢٣٤٥٦")
    assert page.status_code == 422
    assert not auth.six_digits("١٢٣٤٥٦") and auth.six_digits("123456")


# --- 4. the adult check counts months and days ---------------------------------------------


@pytest.mark.parametrize(
    ("month", "day", "adult"),
    [(6, 15, True), (6, 16, False), (6, None, True), (7, None, False), (None, None, True)],
)
def test_the_adult_check_counts_months_and_days(world, month, day, adult):
    # 15 June 2026 at noon in Paris: born 15/06/2008 is 18 today; 16/06/2008 is still 17.
    world.patient.birth_year, world.patient.birth_month = 2008, month
    world.patient.birth_day = day
    with clock.frozen(datetime(2026, 6, 15, 10, tzinfo=UTC)):
        assert services.is_adult(world.patient) is adult


def test_a_representative_of_an_eighteen_year_old_needs_a_legal_basis(world):
    world.patient.birth_year, world.patient.birth_month, world.patient.birth_day = 2008, 6, 15
    db.session.commit()
    data = services.InvitationIn(
        "rep@example.test", "Paul Rep", "legal_representative", frozenset()
    )
    with (
        clock.frozen(datetime(2026, 6, 15, 10, tzinfo=UTC)),
        pytest.raises(InvalidInput, match="base légale"),
    ):
        services.invite(world.w.coord, world.patient, data, SYSTEM)


# --- 5. access ends with the last enrolment -------------------------------------------------


def test_no_page_of_the_record_once_the_person_is_no_longer_followed(client, world):
    from ptap.care_teams.models import Enrolment
    from ptap.core.models import utcnow

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    assert client.get("/espace").status_code == 200
    for enrolment in db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == world.patient.id)
    ):
        enrolment.ended_at = utcnow()
    db.session.commit()
    for path in ("/espace", "/espace/plan", "/espace/cercle", "/espace/partage", "/espace/acces"):
        assert client.get(path).status_code == 403, path


# --- 8. races end in a French conflict, never a 500 -----------------------------------------


def test_two_links_to_one_address_accepted_at_once_give_a_conflict(world, monkeypatch):
    from ptap.core.errors import Conflict
    from ptap.patient_space.models import PatientAccount

    open_account(world.w, world.patient, email="same@example.test")
    data = services.InvitationIn("same@example.test", "Jeanne", "self", frozenset())
    _, token = services.invite(world.w.coord, world.other, data, SYSTEM)
    db.session.commit()
    # The racing request inserted its account after this one looked: the check sees nothing.
    monkeypatch.setattr(auth, "_account_at", lambda email: None)
    with pytest.raises(Conflict, match="déjà un espace"):
        auth.accept_invitation(token, SYSTEM)
    db.session.commit()
    assert auth.find_live_invitation(token) is not None  # the link stays usable
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientAccount)) == 1


def test_a_double_submitted_agreement_gives_a_conflict(world, monkeypatch):
    from ptap.care_plans import services as plan_services
    from ptap.care_plans.models import PlanApproval
    from ptap.core.errors import Conflict

    account = open_account(world.w, world.patient)
    version = world.plan.current_version
    services.answer_plan(account, world.plan, version, "agree", "", SYSTEM)
    db.session.commit()
    # The second submission read "no agreement yet" before the first one committed.
    monkeypatch.setattr(plan_services, "_approval", lambda *a, **k: None)
    with pytest.raises(Conflict, match="déjà enregistré"):
        services.answer_plan(account, world.plan, version, "agree", "", SYSTEM)
    db.session.rollback()
    kinds = db.session.scalars(
        sa.select(PlanApproval.kind).where(PlanApproval.version_id == version.id)
    ).all()
    assert kinds.count("patient_agreement") == 1


def test_revoking_an_invitation_accepted_meanwhile_says_so_and_writes_nothing(world):
    from ptap.core.errors import Conflict
    from ptap.core.models import utcnow
    from ptap.patient_space.models import PatientInvitation

    data = services.InvitationIn("late@example.test", "Jeanne", "self", frozenset())
    invitation, _ = services.invite(world.w.coord, world.patient, data, SYSTEM)
    db.session.commit()
    assert invitation.used_at is None
    db.session.execute(  # accepted by another request after this one loaded it
        sa.update(PatientInvitation)
        .where(PatientInvitation.id == invitation.id)
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict, match="déjà été acceptée"):
        services.revoke_invitation(world.w.coord, world.patient, invitation, SYSTEM)
    db.session.commit()
    db.session.refresh(invitation)
    assert invitation.revoked_at is None and invitation.used_at is not None


# --- 9. a patient-side session has a maximum age --------------------------------------------


def test_a_patient_session_ends_after_session_max_hours_however_active(app, client, world):
    from datetime import timedelta

    from ptap.core.models import utcnow

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    start = utcnow()
    hours = int(app.config["SESSION_MAX_HOURS"])
    # Active every 20 minutes (never idle), until the maximum age is passed.
    minute = 0
    while minute <= hours * 60 - 20:
        minute += 20
        with clock.frozen(start + timedelta(minutes=minute)):
            assert client.get("/espace/partage").status_code == 200, minute
    with clock.frozen(start + timedelta(hours=hours, minutes=5)):
        assert client.get("/espace/partage").status_code == 302


# --- 10. a change request tells the lead and the coordinators, active users only -----------


def test_a_change_request_tells_every_active_coordinator_not_an_inactive_lead(world):
    from ptap.accounts.notifications import Notification
    from tests.factories import add_member, make_user

    account = open_account(world.w, world.patient)
    second = make_user(role="coordinator", profession="nurse")
    add_member(world.w.team, second, "coordinator")
    world.w.coord.active = False  # the plan's lead has left
    db.session.commit()
    version = world.plan.current_version
    services.answer_plan(account, world.plan, version, "change", "Kiné le matin", SYSTEM)
    db.session.commit()
    told = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.kind == "care_plan_change_request")
    ).all()
    assert told == [second.id]
