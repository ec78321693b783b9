"""The professionals' side: the "Espace patient" tab, invitations, ending access, timeline."""

from __future__ import annotations

import re

import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_teams.timeline import patient_timeline
from ptap.extensions import db
from ptap.patient_space import services
from ptap.patient_space.models import PatientAccount, PatientInvitation
from tests.patient_space.conftest import open_account, sign_in


def test_the_tab_lists_accounts_invitations_and_last_sign_in(app, client, auth, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"see_plan"})
    sign_in(app.test_client(), account)
    services.invite(
        world.w.coord,
        world.patient,
        services.InvitationIn("fille@example.test", "Sophie Martin", "caregiver", frozenset()),
        SYSTEM,
    )
    db.session.commit()
    auth.login(world.w.coord)
    record = client.get(f"/patients/{world.patient.id}")
    assert "Espace patient" in record.get_data(as_text=True)  # reachable from the record
    page = client.get(f"/patients/{world.patient.id}/patient-space")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Jeanne Test" in body and "Voir le plan de coordination" in body
    assert "Sophie Martin" in body and "Annuler l&#39;invitation" in body.replace("'", "&#39;")
    assert "Jamais" not in body.split("Invitations en attente")[0]  # a sign-in is shown


def test_outsiders_and_team_members_cannot_open_the_tab(app, world):
    from tests.conftest import AuthActions

    open_account(world.w, world.patient)
    for user in (world.w.outsider, world.w.nurse):
        client = app.test_client()
        AuthActions(client).login(user)
        response = client.get(f"/patients/{world.patient.id}/patient-space")
        assert response.status_code in (403, 404)  # a stranger is not told the record exists
        assert "Jeanne Test" not in response.get_data(as_text=True)


def test_revoking_an_invitation_kills_its_link(client, auth, world):
    _, token = services.invite(
        world.w.coord,
        world.patient,
        services.InvitationIn("x@example.test", "Xavier", "self", frozenset()),
        SYSTEM,
    )
    db.session.commit()
    invitation = db.session.scalars(sa.select(PatientInvitation)).one()
    auth.login(world.w.coord)
    response = auth.post(
        f"/patients/{world.patient.id}/patient-space/invitations/{invitation.id}/revoke"
    )
    assert response.status_code == 302
    page = client.get(f"/espace/invitation/{token}")
    assert page.status_code == 410


def test_ending_a_caregivers_access_signs_them_out(app, auth, world):
    account = open_account(world.w, world.patient, "caregiver", rights={"see_plan"})
    caregiver = app.test_client()
    sign_in(caregiver, account)
    assert caregiver.get("/espace").status_code == 200
    coordinator = app.test_client()
    from tests.conftest import AuthActions

    pro = AuthActions(coordinator)
    pro.login(world.w.coord)
    response = pro.post(f"/patients/{world.patient.id}/patient-space/accounts/{account.id}/end")
    assert response.status_code == 302
    db.session.refresh(account)
    assert account.ended_at is not None
    assert caregiver.get("/espace").status_code == 302  # back to the sign-in page


def test_invite_through_the_form_shows_the_link_outside_production(client, auth, world):
    auth.login(world.w.coord)
    response = auth.post(
        f"/patients/{world.patient.id}/patient-space/invitations",
        {
            "display_name": "Sophie Martin",
            "email": "Sophie@Example.test",
            "relationship": "caregiver",
            "rights": ["see_plan", "download"],
        },
    )
    assert response.status_code == 200
    link = re.search(r'href="[^"]*(/espace/invitation/[^"]+)"', response.get_data(as_text=True))
    assert link
    invitation = db.session.scalars(sa.select(PatientInvitation)).one()
    assert invitation.email == "sophie@example.test"
    assert invitation.right_set == {"see_plan", "download"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientAccount)) == 0


def test_patient_side_acts_show_in_the_timeline(client, world):
    account = open_account(world.w, world.patient)
    sign_in(client, account)
    titles = [e.title for e in patient_timeline(world.patient.id)]
    for title in (
        "Invitation à l'espace patient envoyée",
        "Espace patient ouvert",
        "Connexion à l'espace patient",
    ):
        assert title in titles
    assert not any(
        "espace patient" in t.lower() for t in (e.title for e in patient_timeline(world.other.id))
    )


def test_the_timeline_entries_take_one_query_whatever_their_number(app, world, count_queries):
    from ptap.patient_space.queries import patient_space_events

    account = open_account(world.w, world.patient)
    patient_id = world.patient.id
    with count_queries() as few:
        small = patient_space_events(patient_id)
    sign_in(app.test_client(), account)
    sign_in(app.test_client(), account)
    with count_queries() as more:
        large = patient_space_events(patient_id)
    assert len(large) > len(small)
    assert len(few) == len(more) == 1
