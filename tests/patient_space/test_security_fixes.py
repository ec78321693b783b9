"""Regression tests of the patient-space security review (caregiver grants, sign-in
enumeration and lock-out, code guessing, adult check, enrolment, TOTP, logs, races)."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.extensions import db
from tests.patient_space.conftest import open_account, sign_in


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
    account = open_account(
        world.w, world.patient, "caregiver", rights={"see_plan", "download"}
    )
    sign_in(client, account)
    assert client.get("/espace/cercle").status_code == 200
    assert client.get("/espace/documents").status_code == 200
    assert client.get("/espace/acces").status_code == 403  # the person's own log only
    person = open_account(world.w, world.patient)
    other = app.test_client()
    sign_in(other, person)
    assert other.get("/espace/acces").status_code == 200
