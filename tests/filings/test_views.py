"""DMP filing pages: the patient's section, the team panel, buttons and who sees them."""

from __future__ import annotations

import html

import pytest

from ptap.dmp_bridge import gates
from ptap.dmp_bridge.models import DmpSubmission, SubmissionStatus
from tests.conftest import AuthActions, csrf_token
from tests.factories import add_member, make_patient
from tests.filings.conftest import CDA, add_payload, make_row

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def post_form(client, row, action: str, **fields):
    """Post a row's form (its fields carry the row's prefix) with a valid CSRF token."""
    token = csrf_token(client, "/account")
    data = {f"s{row.id}-{k}": v for k, v in {"csrf_token": token, **fields}.items()}
    return client.post(f"/dmp/submissions/{row.id}/{action}", data=data)


def blocked_row(org):
    return make_row(
        org.patient,
        org.team,
        by=org.gp,
        status=SubmissionStatus.BLOCKED,
        status_reason=gates.NOT_QUALIFIED,
    )


# --- The patient's section -------------------------------------------------------------------


def test_patient_page_has_the_dmp_include_point(db, client, auth, org):
    auth.login(org.nurse)
    page = text(client.get(f"/patients/{org.patient.id}"))
    assert f'hx-get="/patients/{org.patient.id}/dmp"' in page
    assert "Dossier médical partagé (DMP)" in page
    assert f'<a href="/patients/{org.patient.id}/dmp">' in page  # the page without JavaScript


def test_coordinator_sees_status_reason_buttons_and_downloads(db, client, auth, org):
    row = blocked_row(org)
    filed = make_row(org.patient, org.team, status=SubmissionStatus.FILED, version_number=1)
    add_payload(filed)
    auth.login(org.coord)
    fragment = client.get(f"/patients/{org.patient.id}/dmp", headers=HTMX)
    body = text(fragment)
    assert fragment.status_code == 200
    assert "<html" not in body  # a fragment for htmx
    assert "Bloqué" in body and gates.NOT_QUALIFIED in body
    assert "Déposé dans le DMP" in body
    assert f"/dmp/submissions/{row.id}/release" in body
    assert f"/dmp/submissions/{row.id}/cancel" in body
    assert f"/api/v1/dmp/submissions/{filed.id}/cda" in body
    assert f"/api/v1/dmp/submissions/{filed.id}/request" in body
    assert f"/dmp/submissions/{filed.id}/changes" in body
    assert f'name="s{row.id}-back" type="hidden" value="record"' in body
    # Without JavaScript the same section is a whole page, with the patient's header.
    page = text(client.get(f"/patients/{org.patient.id}/dmp"))
    assert "<html" in page and org.patient.display_name in page and "Bloqué" in page


def test_card_says_which_version_is_which(db, client, auth, org):
    """Bug: under "... version 2" (the plan's version) the card said "Version 1" (the DMP's)."""
    title = "Plan personnalisé de coordination en santé — version 2"
    first = make_row(org.patient, org.team, title=title, status=SubmissionStatus.FILED)
    auth.login(org.coord)
    body = text(client.get(f"/patients/{org.patient.id}/dmp", headers=HTMX))
    assert title in body
    assert "<dt>Version</dt>" not in body
    assert "<dt>Version dans le DMP</dt><dd>1 (premier dépôt de ce document)</dd>" in body
    first.version_number = 3
    db.session.commit()
    body = text(client.get(f"/patients/{org.patient.id}/dmp", headers=HTMX))
    assert "<dd>3 (remplace la version 2 déposée)</dd>" in body


def test_download_links_work_with_the_page_session(db, client, auth, org):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    add_payload(row)
    auth.login(org.coord)
    response = client.get(f"/api/v1/dmp/submissions/{row.id}/cda")
    assert response.status_code == 200
    assert response.data == CDA
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_members_see_the_section_without_buttons_or_downloads(db, client, auth, org):
    row = blocked_row(org)
    add_payload(row)
    auth.login(org.nurse)
    body = text(client.get(f"/patients/{org.patient.id}/dmp", headers=HTMX))
    assert "Bloqué" in body and gates.NOT_QUALIFIED in body
    assert "/dmp/submissions/" not in body and "Télécharger" not in body
    assert "<form" not in body


def test_outsiders_get_404_on_the_section(db, client, auth, org):
    make_row(org.patient, org.team)
    auth.login(org.other_coord)
    assert client.get(f"/patients/{org.patient.id}/dmp").status_code == 404


def test_empty_section_says_so(db, client, auth, org):
    auth.login(org.coord)
    body = text(client.get(f"/patients/{org.patient.id}/dmp", headers=HTMX))
    assert "Aucun document n'a été envoyé au DMP pour cette personne." in body


# --- Buttons ---------------------------------------------------------------------------------


def test_cancel_from_the_record_goes_back_with_a_message(db, client, auth, org):
    row = blocked_row(org)
    auth.login(org.coord)
    response = post_form(client, row, "cancel", reason="Plan clos", back="record")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/patients/{org.patient.id}"
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.CANCELLED
    page = text(client.get(f"/patients/{org.patient.id}"))
    assert "est annulé." in page


def test_cancel_without_a_motive_shows_the_form_again(db, client, auth, org):
    row = blocked_row(org)
    auth.login(org.coord)
    response = post_form(client, row, "cancel", reason=" ", back="record")
    body = text(response)
    assert response.status_code == 422
    assert "Indiquez le motif de l'annulation." in body
    assert f'id="s{row.id}-reason-error"' in body
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.BLOCKED


def test_cancel_without_csrf_is_refused(db, client, auth, org):
    row = blocked_row(org)
    auth.login(org.coord)
    response = client.post(f"/dmp/submissions/{row.id}/cancel", data={f"s{row.id}-reason": "x"})
    assert response.status_code == 400
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.BLOCKED


def test_release_that_stays_blocked_says_why(db, client, auth, org):
    org.patient.identity_status = "validated"
    row = make_row(org.patient, org.team)
    auth.login(org.coord)
    response = post_form(client, row, "release", back="filings")
    assert response.headers["Location"] == f"/patients/{org.patient.id}/dmp"
    page = text(client.get(response.headers["Location"]))
    assert "L'envoi reste bloqué" in page and gates.NOT_QUALIFIED in page


def test_a_stale_button_says_what_happened(db, client, auth, org):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    auth.login(org.coord)
    response = post_form(client, row, "retry", back="filings")
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "Seul un envoi en échec peut être relancé." in page


def test_members_cannot_press_the_buttons(db, client, auth, org):
    row = blocked_row(org)
    auth.login(org.nurse)
    response = post_form(client, row, "release", back="record")
    assert response.status_code == 403
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.BLOCKED


def test_dmp_change_form_queues_an_operation(db, client, auth, org):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    auth.login(org.coord)
    response = post_form(
        client,
        row,
        "changes",
        operation="update_visibility",
        confidentiality="hidden_from_patient",
        back="filings",
    )
    assert response.status_code == 302
    change = db.session.query(DmpSubmission).filter_by(target_id=row.id).one()
    assert (change.operation, change.confidentiality) == (
        "update_visibility",
        "hidden_from_patient",
    )
    missing = post_form(client, row, "changes", operation="update_visibility")
    assert missing.status_code == 422
    assert "Indiquez la visibilité voulue." in text(missing)


# --- The team panel --------------------------------------------------------------------------


def test_team_panel_lists_blocked_and_failed_rows_with_actions(db, client, auth, org):
    blocked = blocked_row(org)
    other = make_patient(org.team, org.coord, birth_name="MARTIN", search_birth_name="MARTIN")
    failed = make_row(
        other, org.team, status=SubmissionStatus.FAILED, status_reason="Échec après 8 tentatives"
    )
    make_row(org.patient, org.team, status=SubmissionStatus.FILED, title="Déjà déposé")
    make_row(org.other_patient, org.other_team, status=SubmissionStatus.FAILED, title="Ailleurs")
    auth.login(org.coord)
    response = client.get(f"/teams/{org.team.id}/dmp")
    body = text(response)
    assert response.status_code == 200
    assert "Envois au DMP à traiter" in body and "2 envois de l'équipe" in body
    assert "MARTIN" in body and org.patient.display_name in body
    assert "Échec après 8 tentatives" in body and gates.NOT_QUALIFIED in body
    assert "Déjà déposé" not in body and "Ailleurs" not in body
    assert f"/dmp/submissions/{blocked.id}/release" in body
    assert f"/dmp/submissions/{failed.id}/retry" in body
    assert "Télécharger" not in body  # documents stay behind need-to-know on the patient page
    response = post_form(client, failed, "retry", back="team")
    assert response.headers["Location"] == f"/teams/{org.team.id}/dmp"
    assert "sera renvoyé au DMP sous peu" in text(client.get(response.headers["Location"]))


def test_team_panel_refused_to_members_and_other_coordinators(db, app, client, auth, org):
    auth.login(org.nurse)
    assert client.get(f"/teams/{org.team.id}/dmp").status_code == 403
    assert client.get("/dmp").status_code == 403
    assert "Envois au DMP" not in text(client.get(f"/teams/{org.team.id}"))
    other = app.test_client()
    AuthActions(other).login(org.other_coord)
    assert other.get(f"/teams/{org.team.id}/dmp").status_code == 403


def test_team_page_and_navigation_link_the_panel_for_coordinators(db, client, auth, org):
    blocked_row(org)
    auth.login(org.coord)
    page = text(client.get(f"/teams/{org.team.id}"))
    assert f'<a href="/teams/{org.team.id}/dmp">Envois au DMP à traiter : 1</a>' in page
    assert '<a href="/dmp">Envois au DMP</a>' in page
    response = client.get("/dmp")
    assert response.headers["Location"] == f"/teams/{org.team.id}/dmp"


@pytest.mark.parametrize("path", ["patient", "team"])
def test_pages_run_a_constant_number_of_queries(db, client, auth, org, count_queries, path):
    auth.login(org.coord)
    url = f"/patients/{org.patient.id}/dmp" if path == "patient" else f"/teams/{org.team.id}/dmp"
    counts = []
    for n in (1, 6):
        for _ in range(n):
            row = blocked_row(org)
            add_payload(row)
        with count_queries() as seen:
            assert client.get(url, headers=HTMX).status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1]


def test_coordinators_of_several_teams_choose_a_panel(db, client, auth, org):
    add_member(org.other_team, org.coord, "coordinator")
    blocked_row(org)
    auth.login(org.coord)
    body = text(client.get("/dmp"))
    assert f'<a href="/teams/{org.team.id}/dmp">Équipe Croix-Rousse</a> : 1 envoi à traiter' in body
    assert f'<a href="/teams/{org.other_team.id}/dmp">Équipe Vaise</a> : 0 envoi à traiter' in body
