"""The person's acts: agreeing to the plan (approval, then activation), asking a change,
caregivers' rights, representatives' legal basis, withdrawing sharing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.models import PlanApproval, PlanStatus
from ptap.care_teams.models import ConsentRecord
from ptap.core.errors import InvalidInput
from ptap.core.policy import can
from ptap.extensions import db
from ptap.patient_space import services
from ptap.patient_space.models import PatientInvitation, PlanResponse
from tests.conftest import csrf_token
from tests.patient_space.conftest import open_account, sign_in


def _post(client, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/espace")})


def _denied(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == "denied")
        )
    )


# --- agreement ------------------------------------------------------------------------------


def test_agreement_records_the_approval_and_the_plan_can_then_be_activated(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    page = client.get("/espace/plan/accord")
    assert page.status_code == 200
    assert "Prévenir les chutes" in page.get_data(as_text=True)
    version = world.plan.current_version
    response = _post(
        client, "/espace/plan/accord", {"version_id": version.id, "kind": "agree", "comment": ""}
    )
    assert response.status_code == 302
    approval = db.session.scalars(
        sa.select(PlanApproval).where(PlanApproval.kind == "patient_agreement")
    ).one()
    assert approval.method == "patient_space"  # never a method a professional records
    assert approval.version_id == version.id
    assert "Jeanne Test" in approval.note
    # The lead (the coordinator) is told.
    titles = db.session.scalars(
        sa.select(Notification.title).where(Notification.user_id == world.w.coord.id)
    ).all()
    assert any("accord de la personne" in t for t in titles)
    # The lifecycle goes on as today: the coordinator activates the plan.
    db.session.refresh(world.plan)
    plan_services.activate_plan(world.w.coord, world.plan, SYSTEM)
    assert world.plan.status == PlanStatus.ACTIVE
    # A second answer to the same version is refused, nothing added.
    again = _post(
        client, "/espace/plan/accord", {"version_id": version.id, "kind": "agree", "comment": ""}
    )
    assert again.status_code in (200, 409)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PlanApproval)) == 2


def test_asking_a_change_needs_a_comment_and_tells_the_lead(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    version = world.plan.current_version
    empty = _post(
        client, "/espace/plan/accord", {"version_id": version.id, "kind": "change", "comment": " "}
    )
    assert empty.status_code == 422
    assert "ce que vous souhaitez changer" in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PlanResponse)) == 0
    ok = _post(
        client,
        "/espace/plan/accord",
        {"version_id": version.id, "kind": "change", "comment": "Kiné le matin svp"},
    )
    assert ok.status_code == 302
    assert db.session.scalars(sa.select(PlanResponse)).one().comment == "Kiné le matin svp"
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                Notification.user_id == world.w.coord.id,
                Notification.kind == "care_plan_change_request",
            )
        )
        == 1
    )
    assert not db.session.scalars(
        sa.select(PlanApproval).where(PlanApproval.kind == "patient_agreement")
    ).all()


def test_an_answer_to_a_stale_version_is_refused(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    response = _post(
        client, "/espace/plan/accord", {"version_id": "999999", "kind": "agree", "comment": ""}
    )
    assert response.status_code == 409
    assert "a changé pendant votre lecture" in response.get_data(as_text=True)
    assert not db.session.scalars(
        sa.select(PlanApproval).where(PlanApproval.kind == "patient_agreement")
    ).all()


# --- caregivers' rights ---------------------------------------------------------------------


def test_a_caregiver_without_the_plan_right_is_refused_and_audited(client, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"message"})
    sign_in(client, account)
    page = client.get("/espace/plan")
    assert page.status_code == 403
    assert "pas donné le droit de voir son plan" in page.get_data(as_text=True)
    assert _denied("patient_space.read_plan")
    home = client.get("/espace").get_data(as_text=True)
    assert "Prévenir les chutes" not in home and "Le plan</a>" not in home


def test_a_caregiver_may_read_but_not_agree_nor_change_sharing(client, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"see_plan"})
    sign_in(client, account)
    assert client.get("/espace/plan").status_code == 200
    assert client.get("/espace/plan/accord").status_code == 403
    assert _denied("patient_space.answer_plan")
    response = _post(client, "/espace/partage", {"given": "0", "confirmed": "1"})
    assert response.status_code == 403
    assert _denied("patient_space.change_consent")
    db.session.refresh(world.patient)
    assert world.patient.sharing_consent is True
    assert not db.session.scalars(
        sa.select(PlanApproval).where(PlanApproval.kind == "patient_agreement")
    ).all()


def test_a_representative_of_an_adult_needs_a_legal_basis(world):
    data = services.InvitationIn(
        "rep@example.test", "Paul Rep", "legal_representative", frozenset()
    )
    with pytest.raises(InvalidInput, match="base légale"):
        services.invite(world.w.coord, world.patient, data, SYSTEM)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientInvitation)) == 0
    assert _denied("patient_space.invite")


def test_the_invitation_form_refusal_is_french_kept_and_audited(client, auth, world):
    auth.login(world.w.coord)
    response = auth.post(
        f"/patients/{world.patient.id}/patient-space/invitations",
        {
            "display_name": "Paul Rep",
            "email": "rep@example.test",
            "relationship": "legal_representative",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "base légale" in body and 'value="rep@example.test"' in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientInvitation)) == 0
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                AuditEvent.action == "patient_space.invite", AuditEvent.outcome == "failure"
            )
        )
        == 1
    )


def test_only_the_patients_coordinators_may_invite(world):
    data = services.InvitationIn("x@example.test", "X", "self", frozenset())
    for user in (world.w.nurse, world.w.outsider, world.w.admin):
        assert not can(user, "patient_space.manage", world.patient)
    assert can(world.w.coord, "patient_space.manage", world.patient)
    from ptap.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.invite(world.w.outsider, world.patient, data, SYSTEM)


# --- withdrawing sharing ----------------------------------------------------------------------


def test_withdrawing_sharing_is_confirmed_then_cuts_the_circle_at_once(client, world):
    guest = world.w.guest  # invited into this patient's circle only, outside the team
    assert can(guest, "patient.read", world.patient)
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    first = _post(client, "/espace/partage", {"given": "0"})
    assert first.status_code == 200
    assert "Confirmez le retrait du partage" in first.get_data(as_text=True)
    db.session.refresh(world.patient)
    assert world.patient.sharing_consent is True  # nothing changed before the confirmation
    done = _post(client, "/espace/partage", {"given": "0", "confirmed": "1"})
    assert done.status_code == 302
    db.session.refresh(world.patient)
    assert world.patient.sharing_consent is False
    record = db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id.desc())).first()
    assert record.method == "patient_space" and record.given is False
    assert not can(guest, "patient.read", world.patient)
    assert can(world.w.coord, "patient.read", world.patient)  # the enrolling team keeps it
    # Given again: the circle's access comes back.
    _post(client, "/espace/partage", {"given": "1"})
    db.session.refresh(world.patient)
    assert world.patient.sharing_consent is True
    assert can(guest, "patient.read", world.patient)


def test_the_plan_page_says_the_person_agreed_online_not_the_lead(client, world, app):
    """The approval row is filed under the plan's lead (it needs a professional); the plan
    page must not say the lead gave the person's agreement."""
    from ptap.care_plans.views.present import ONLINE_BY

    account = open_account(world.w, world.patient)
    sign_in(client, account)
    version = world.plan.current_version
    _post(client, "/espace/plan/accord", {"version_id": version.id, "kind": "agree", "comment": ""})
    from flask import url_for

    from tests.conftest import AuthActions

    professional = app.test_client()
    AuthActions(professional).login(world.w.coord)
    with app.test_request_context():
        url = url_for("care_plans.show_plan", patient_id=world.patient.id)
    page = professional.get(url).get_data(as_text=True)
    assert ONLINE_BY in page
    assert "Jeanne Test" in page  # the note names who
