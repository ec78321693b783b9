"""Fixtures of the patient-space tests: a world with a plan awaiting agreement, accounts, and
signing in through the real forms (e-mail, then the 6-digit code)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.extensions import db as _db
from ptap.patient_space import auth, services
from ptap.patient_space.models import PatientAccount
from tests.care_plans.test_services import build_world, drafted_plan
from tests.conftest import csrf_token

CODE_RE = re.compile(r"le code est <strong>(\d{6})</strong>")


def open_account(
    w, patient, relationship="self", rights=frozenset(), email=None, name="Jeanne Test"
) -> PatientAccount:
    """Invite and accept (the real services), as the patient's coordinator."""
    data = services.InvitationIn(
        email=email or f"{relationship}-{patient.id}@example.test",
        display_name=name,
        relationship=relationship,
        rights=frozenset(rights),
        legal_basis="Tutelle (jugement du 3 mars 2024)" if relationship != "self" else "",
    )
    _, token = services.invite(w.coord, patient, data, SYSTEM)
    account = auth.accept_invitation(token, SYSTEM)
    _db.session.commit()
    return account


def sign_in(client: FlaskClient, account: PatientAccount):
    """Sign in through the forms; return the last response."""
    _db.session.commit()
    token = csrf_token(client, "/espace/connexion")
    page = client.post("/espace/connexion", data={"email": account.email, "csrf_token": token})
    match = CODE_RE.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    token = csrf_token(client, "/espace/connexion")
    return client.post(
        "/espace/connexion/code",
        data={"email": account.email, "code": match.group(1), "csrf_token": token},
    )


@pytest.fixture
def world(db):
    """The care-plans world with version 1 published and validated by the GP (awaiting the
    person's agreement), plus a second patient with their own account."""
    w = build_world()
    plan = drafted_plan(w)
    plan_services.publish_version(w.coord, plan, "Première version", SYSTEM)
    plan_services.record_approval(w.physician, plan, "gp_validation", "in_person", "", SYSTEM)
    _db.session.commit()
    from tests.factories import make_patient

    other = make_patient(w.team, w.coord, birth_name="AUTREPERSONNE")
    _db.session.commit()
    return SimpleNamespace(w=w, plan=plan, patient=w.patient, other=other)
