"""Deny by default, enforced centrally: a patient-side account crawls the whole URL map and
finds neither another person's data nor any professional page or API; professionals never
reach the patient space."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from ptap.core.policy import PUBLIC, declared_access, is_patient_side_view
from ptap.extensions import db
from tests.patient_space.conftest import open_account, sign_in

_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _url(rule: str, patient_id: int) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if name == "patient_id":
            return str(patient_id)
        return "1" if converter == "int" else "x"

    return _ARG.sub(fill, rule)


def _get_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "GET" not in (rule.methods or ()):
            continue
        yield rule


def test_every_patient_space_view_is_patient_side_or_public(app: Flask):
    for endpoint, view in app.view_functions.items():
        if (
            endpoint.startswith("patient_space.")
            and not endpoint.startswith(
                ("patient_space.patient_accounts", "patient_space.invite", "patient_space.revoke")
            )
            and endpoint != "patient_space.end_access"
        ):
            assert is_patient_side_view(view) or declared_access(view) == PUBLIC, endpoint


def test_a_patient_account_finds_nothing_of_another_person(app: Flask, client, world):
    account = open_account(world.w, world.patient)
    assert sign_in(client, account).status_code == 302
    other_name = world.other.birth_name
    reached = []
    for rule in _get_rules(app):
        view = app.view_functions[rule.endpoint]
        for patient_id in {world.other.id, world.patient.id}:
            response = client.get(_url(rule.rule, patient_id))
            body = response.get_data(as_text=True)
            assert other_name not in body, rule.endpoint
            if is_patient_side_view(view):
                continue
            if declared_access(view) == PUBLIC:
                assert response.status_code != 500, rule.endpoint
                continue
            # Every professional page and API endpoint is refused (the home page sends the
            # account to its own space).
            if rule.endpoint == "core.home":
                assert response.headers["Location"].endswith("/espace")
                continue
            assert response.status_code in (403, 404), (rule.endpoint, response.status_code)
            assert world.patient.birth_name not in body, rule.endpoint
        if is_patient_side_view(view):
            reached.append(rule.endpoint)
    assert {"patient_space.home", "patient_space.plan", "patient_space.accesses"} <= set(reached)
    # The patient's own pages show their own person only.
    assert "AUTREPERSONNE" not in client.get("/espace/acces").get_data(as_text=True)


def test_the_api_refuses_a_patient_session(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    response = client.get(f"/api/v1/patients/{world.patient.id}")
    assert response.status_code == 403
    assert world.patient.birth_name not in response.get_data(as_text=True)


def test_a_patient_account_cannot_post_to_professional_endpoints(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    from tests.conftest import csrf_token

    token = csrf_token(client, "/espace")
    response = client.post(
        f"/patients/{world.patient.id}/consents",
        data={"choice": "withdrawn", "method": "oral", "csrf_token": token},
    )
    assert response.status_code == 403
    db.session.refresh(world.patient)
    assert world.patient.sharing_consent is True


@pytest.mark.parametrize("path", ["/espace", "/espace/plan", "/espace/acces"])
def test_professionals_never_reach_the_patient_space(client, auth, world, path):
    auth.login(world.w.coord)
    assert client.get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_the_sign_in_page(client, world):
    response = client.get("/espace/plan")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/espace/connexion")


def test_an_ended_account_is_signed_out_at_its_next_request(client, world):
    from ptap.audit.services import SYSTEM
    from ptap.patient_space import services

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    assert client.get("/espace").status_code == 200
    services.end_access(world.w.coord, world.patient, account, SYSTEM)
    db.session.commit()
    assert client.get("/espace").status_code == 302


@pytest.mark.parametrize(
    "path",
    [
        "/espace",
        "/espace/plan",
        "/espace/plan/versions/1",
        "/espace/plan/accord",
        "/espace/cercle",
        "/espace/documents",
        "/espace/partage",
        "/espace/acces",
    ],
)
def test_every_patient_side_page_audits_its_read(client, world, path):
    import sqlalchemy as sa

    from ptap.audit.models import AuditEvent

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    before = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    assert client.get(path).status_code == 200
    events = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.id > before, AuditEvent.action == "patient_space.read"
        )
    ).all()
    assert [e.patient_id for e in events] == [world.patient.id]
    assert events[0].actor_id is None and f"#{account.id}" in events[0].actor_label
