"""Every response to a form or API write that shows a patient's identity is audited too.

A refused form re-rendered after its rollback (the DMP panel's cancel without a motive, a
consent form with an error...) shows the patient like the GET page does, but the GET's
audit event is not there: the safety net (`ptap.audit.context.audit_unaudited_patients`)
writes one for every patient a loader or view named and no committed event names.

The URL map is walked as for GET endpoints: every endpoint that writes is classified here,
and the form endpoints that re-render a page showing patients are requested with a refused
form and must leave an event naming the patient.
"""

import time

import pytest
import sqlalchemy as sa
from flask import Flask
from itsdangerous import URLSafeSerializer

from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_teams import circle
from ptap.care_teams.models import BreakGlassAccess
from ptap.care_teams.views import emergency
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user
from tests.filings.conftest import api_headers, make_row

#: Form endpoints that show the page again, patient included, when the form is refused:
#: requested below with a refused form. Values: (path, form fields, who posts).
RERENDERS_PATIENTS = {
    "filings.cancel_submission": ("/dmp/submissions/{submission}/cancel", "cancel", "coord"),
    "filings.request_change": ("/dmp/submissions/{submission}/changes", "change", "coord"),
    "care_teams.record_consent": ("/patients/{patient}/consents", {}, "coord"),
    "care_teams.invite_to_circle": ("/patients/{patient}/circle/invitations", {}, "coord"),
    "care_teams.update_details": ("/patients/{patient}/details", {"phone": "x" * 40}, "coord"),
    "care_teams.add_contact": ("/patients/{patient}/contacts", {}, "coord"),
    "care_teams.edit_identity": ("/patients/{patient}/identity", {}, "coord"),
    "care_teams.review_break_glass": ("/break-glass/{grant}/review", "review", "coord"),
    "care_teams.open_break_glass": ("/break-glass/open", "ticket", "stranger"),
    "grids.start_assessment": ("/patients/{patient}/assessments", {}, "coord"),
    "grids.import_assessment": ("/patients/{patient}/assessments/import", {}, "coord"),
    "patient_space.invite": ("/patients/{patient}/patient-space/invitations", {}, "coord"),
}

#: Form endpoints that re-render a patient page but need more set-up (a care plan, an
#: enrolment to end, an emergency search); each names what audits it.
RERENDERS_COVERED_ELSEWHERE = {
    "patient_space.agreement": "patient-side: _patient() writes patient_space.read first",
    "patient_space.sharing": "patient-side: _patient() writes patient_space.read first",
    "patient_space.security": "patient-side: _patient() writes patient_space.read first",
    "care_plans.create_plan": "load_patient(patient.read) committed before the render",
    "care_plans.edit_draft": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.add_action": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.update_action": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.add_objective": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.publish_version": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.record_approval": "reload_plan: an audited read after the rollback; safety net",
    "care_plans.activate_plan": "load_patient notes the patient; safety net",
    "care_plans.start_revision": "load_patient notes the patient; safety net",
    "care_plans.close_plan": "load_patient notes the patient; safety net",
    "pathways.start_pathway": "load_patient notes the patient; preview commits the audited read",
    "pathways.stop_pathway": "load_patient notes the patient; safety net",
    "care_teams.end_enrolment": "_rerender_record: an audited read after the rollback",
    "care_teams.break_glass": "patient.break_glass_search event naming the person found",
    "intake.triage_request": "_render_request notes the linked patient; safety net",
    "intake.answer_request": "_render_request notes the linked patient; safety net",
    "intake.evaluate_request": "_render_request notes the linked patient; safety net",
    "intake.close_request": "_render_request notes the linked patient; safety net",
    "intake.convert_request": "@shows_patients, notes the linked patient",
    "intake.edit_request": "@shows_patients, notes the linked patient; safety net",
    "grids.save_assessment": "load_patient of the assessment's patient, read again after the "
    "rollback (tests/grids/test_web.py)",
    "care_events.record_event": "load_patient notes the patient; safety net",
    "care_events.withdraw_event": "load_patient notes the patient; safety net",
    "meeting_reports.edit_report": "load_patient (patient.read) notes the patient; safety net",
    "meeting_reports.correct_report": "load_patient (patient.read) notes the patient; safety net",
    "meeting_reports.approve_report": "load_patient (patient.read) notes the patient; safety net",
    "meetings.live_record_decisions": "the live screen re-rendered after the rollback notes "
    "the agenda patients; safety net (tests/meetings/test_live_views.py)",
    "letters.create_letter": "load_patient notes the patient; safety net (tests/letters)",
    "letters.edit_letter": "load_patient of the letter's patient; safety net (tests/letters)",
    "letters.send_letter": "load_patient of the letter's patient; safety net (tests/letters)",
    "messaging.send_message": "a refused message shows the thread again after the rollback: "
    "record_read audits it (conversation.read event; tests/messaging/test_patient_tab.py)",
    "care_plans.edit_rows": "load_plan (care_plan.edit) notes the patient; the row partial "
    "names no one (tests/care_plans/test_editor.py)",
    "care_teams.add_circle_structure": "load_patient notes the patient; the circle page "
    "re-rendered after the rollback; safety net (tests/care_teams/test_circle_structures.py)",
    "care_teams.update_circle_structure": "load_patient notes the patient; safety net",
    "care_teams.end_circle_structure": "load_patient notes the patient; safety net",
    "filings.remove_filed_document": "a refused removal re-renders the copy after the rollback "
    "through load_patient and a patient.dmp_filed_read event (tests/filings/test_filed.py)",
}

#: Form endpoints that only redirect, or whose pages show no patient identity.
NO_PATIENT_IDENTITY = {
    # Patient-space sign-in, sign-out and invitation acceptance: no record shown.
    "patient_space.sign_in",
    "patient_space.verify_code",
    "patient_space.verify_totp",
    "patient_space.accept_invitation",
    "patient_space.sign_out",
    # Revoking an invitation and ending an access redirect to the tab (audited by services).
    "patient_space.revoke_invitation",
    "patient_space.end_access",
    "accounts.login",
    "accounts.second_factor",
    "accounts.enrol",
    "accounts.activate",
    "accounts.logout",
    "accounts.logout_everywhere",
    "accounts.change_password",
    "accounts.regenerate_recovery_codes",
    "accounts.create_token",
    "accounts.revoke_token",
    "accounts.mark_notifications_read",
    "accounts.end_own_session",
    "accounts.end_other_sessions",
    "admin.create_user",
    "admin.reset_password",
    "admin.set_active",
    "care_teams.organisation",
    # The form shows back what was typed; a duplicate INS names the teams, not the record.
    "care_teams.create_patient",
    # Team pages list professionals, never patients.
    "care_teams.add_team_member",
    "care_teams.approve_team_member",
    "care_teams.reject_team_member",
    "care_teams.end_team_membership",
    # Redirect with a flash, whatever happens.
    "care_teams.remove_contact",
    "care_teams.revoke_invitation",
    "care_teams.resolve_duplicate",
    "care_teams.query_insi",
    "care_teams.check_identity_document",
    "care_teams.unmerge",
    "filings.retry_submission",
    "filings.release_submission",
    # Filing a DMP document: redirect with a flash, whatever happens.
    "filings.file_dmp_document",
    "messaging.open_team_conversation",
    "messaging.open_direct_conversation",
    "messaging.acknowledge_message",
    "messaging.open_patient_conversation",
    # The referent form and the absences page redirect, or list coordinators only.
    "care_teams.change_referent",
    "care_teams.declare_cover",
    "care_teams.cancel_cover",
    # The form shows back what was typed: no patient record is linked yet.
    "intake.register_request",
    "intake.team_targets",
    "monitoring.order_report",
    # The live meeting screen's controls: redirect with a flash, whatever happens.
    "meetings.live_start",
    "meetings.live_set_current",
    "meetings.live_close",
    "meetings.live_attendance",
    # Grid pages: questionnaires, no patient; the autosave answers revision and score only.
    "grids.new_grid",
    "grids.edit_grid",
    "grids.publish_grid",
    "grids.retire_grid",
    "grids.import_grid",
    "grids.autosave_assessment",
    "grids.add_to_plan",
    # Redirect with a flash, whatever happens.
    "letters.sign_letter",
    "letters.file_letter",
    "letters.retry_letter_pdf",
    "letters.archive_template",
    # Template pages: a team's texts, previewed with a fictitious record.
    "letters.create_template",
    "letters.save_template",
    # Pathway templates: steps and professions, never a patient.
    "pathways.create_template",
    "pathways.save_template",
    # Meeting forms show what was typed (no patient); the meeting's actions redirect with a flash.
    "meetings.create_meeting",
    "meetings.edit_meeting",
    "meetings.team_quorum",
    "meetings.start_meeting",
    "meetings.close_meeting",
    "meetings.cancel_meeting",
    "meetings.add_agenda_item",
    "meetings.remove_agenda_item",
    "meetings.record_attendance",
    "meetings.invite_members",
    "meetings.invite_guest",
    # Redirect with a flash, whatever happens.
    "meeting_reports.prepare_report",
    "meeting_reports.request_minutes",
    "meeting_reports.retry_render",
    # The account's calendar feed: no patient.
    "calendars.create_feed",
    "calendars.revoke_feed",
}

#: JSON writes. Patient-scoped ones load the patient (or the DMP row) through loaders that
#: name it for the safety net; the others answer without patient identity.
API_WRITES = {
    "api.care_plans_activate_care_plan": "load_patient",
    "api.care_plans_close_care_plan": "load_patient",
    "api.care_plans_create_care_plan": "load_patient",
    "api.care_plans_publish_care_plan_version": "load_patient",
    "api.care_plans_record_care_plan_approval": "load_patient",
    "api.care_plans_revise_care_plan": "load_patient",
    "api.care_plans_save_care_plan_draft": "load_patient",
    "api.care_teams_record_consent": "load_patient",
    "api.care_teams_update_patient": "load_patient",
    "api.care_teams_create_patient": "patient.create event naming the new record",
    "api.filings_cancel_dmp_submission": "load_submission",
    "api.filings_release_dmp_submission": "load_submission",
    "api.filings_request_dmp_submission_change": "load_submission",
    "api.filings_retry_dmp_submission": "load_submission",
    "api.filings_file_patient_dmp_document": "load_patient",
    "api.filings_remove_filed_dmp_document": "load_patient",
    "api.accounts_create_token": "no patient identity",
    "api.accounts_revoke_token": "no patient identity",
    "api.care_teams_add_team_member": "no patient identity",
    "api.care_teams_create_team": "no patient identity",
    "api.messaging_acknowledge_message": "message payload, no patient identity",
    "api.messaging_edit_message": "message payload, no patient identity",
    "api.messaging_retract_message": "message payload, no patient identity",
    "api.messaging_send_message": "message payload, no patient identity",
    "api.messaging_upload_attachment": "message payload, no patient identity",
    "api.messaging_mark_read": "read state, no patient identity",
    "api.messaging_message_to_action": "plan id and action text, no patient identity",
    "api.messaging_open_conversation": "notes the patient its summary's title names",
    "api.care_events_record_event": "load_patient",
    "api.care_events_withdraw_event": "load_patient",
    "api.intake_create_request": "_out notes the linked patient",
    "api.intake_update_request": "_out notes the linked patient",
    "api.intake_triage_request": "_out notes the linked patient",
    "api.intake_answer_request": "_out notes the linked patient",
    "api.intake_evaluate_request": "_out notes the linked patient",
    "api.intake_close_request": "_out notes the linked patient",
    "api.intake_convert_request": "_out notes the linked patient",
    "api.intake_set_targets": "no patient identity",
    "api.letters_create_letter": "load_patient",
    "api.letters_edit_letter": "load_patient of the letter's patient",
    "api.letters_sign_letter": "load_patient of the letter's patient",
    "api.letters_file_letter": "load_patient of the letter's patient",
    "api.letters_send_letter": "load_patient of the letter's patient",
    "api.letters_retry_letter_pdf": "load_patient of the letter's patient",
    "api.letters_create_letter_template": "no patient identity",
    "api.letters_update_letter_template": "no patient identity",
    "api.letters_archive_letter_template": "no patient identity",
    "api.pathways_create_pathway_template": "no patient identity",
    "api.pathways_update_pathway_template": "no patient identity",
    "api.pathways_publish_pathway_template": "no patient identity",
    "api.pathways_retire_pathway_template": "no patient identity",
    "api.pathways_import_pathway_template_fhir": "no patient identity",
    "api.pathways_start_patient_pathway": "load_patient",
    "api.pathways_stop_patient_pathway": "load_patient",
    "api.meetings_create_meeting": "_out notes the agenda patients shown",
    "api.meetings_update_meeting": "_out notes the agenda patients shown",
    "api.meetings_start_meeting": "_out notes the agenda patients shown",
    "api.meetings_close_meeting": "_out notes the agenda patients shown",
    "api.meetings_cancel_meeting": "_out notes the agenda patients shown",
    "api.meetings_add_agenda_item": "_patient notes the patient",
    "api.meetings_remove_agenda_item": "notes the item's patient; 204 without body",
    "api.meetings_invite_members": "participants, no patient identity",
    "api.meetings_invite_guest": "_patient notes each patient named",
    "api.meetings_record_attendance": "participant, no patient identity",
    "api.meetings_record_decisions": "notes the item's patient",
    "api.meetings_set_quorum": "no patient identity",
    "api.meetings_report_prepare": "load_patient",
    "api.meetings_report_edit": "load_patient",
    "api.meetings_report_approve": "load_patient",
    "api.meetings_report_correct": "load_patient",
    "api.meetings_minutes_request": "minutes status, no patient identity",
    "api.grids_create_grid": "no patient identity",
    "api.grids_update_grid": "no patient identity",
    "api.grids_publish_grid": "no patient identity",
    "api.grids_retire_grid": "no patient identity",
    "api.grids_import_grid": "no patient identity",
    "api.grids_create_assessment": "load_patient",
    "api.grids_import_assessment": "load_patient",
    "api.grids_save_assessment": "load_patient of the assessment's patient",
    "api.grids_sign_assessment": "load_patient of the assessment's patient",
}


def _write_endpoints(app: Flask) -> set[str]:
    writes = {"POST", "PUT", "PATCH", "DELETE"}
    return {r.endpoint for r in app.url_map.iter_rules() if writes & set(r.methods or ())}


def test_every_write_endpoint_is_classified(app: Flask):
    groups = [RERENDERS_PATIENTS, RERENDERS_COVERED_ELSEWHERE, NO_PATIENT_IDENTITY, API_WRITES]
    classified = set().union(*groups)
    assert sum(len(g) for g in groups) == len(classified), "an endpoint is in two groups"
    assert sorted(_write_endpoints(app) - classified) == []
    assert sorted(classified - _write_endpoints(app)) == []


@pytest.fixture
def world(db):
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord)
    stranger = make_user()
    add_member(make_team("Équipe Vaise"), stranger)
    other = make_user()
    add_member(make_team("Équipe Gerland"), other)
    grant = circle.open_break_glass(
        other, patient, "Urgence vitale : patient inconscient aux urgences", SYSTEM
    )
    submission = make_row(patient, team, by=coord, status="failed", last_error="refus")
    db.session.commit()
    assert isinstance(grant, BreakGlassAccess)
    return {
        "team": team,
        "coord": coord,
        "stranger": stranger,
        "patient": patient,
        "submission": submission,
        "grant": grant,
    }


def _events_naming(db, patient_id: int) -> list[AuditEvent]:
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    return [
        e
        for e in rows
        if e.patient_id == patient_id
        or (e.action == "patient.list" and str(patient_id) in e.reason.split(": ")[-1].split(","))
    ]


def _fields(kind, world, app) -> dict[str, str]:
    row = world["submission"].id
    if kind == "cancel":  # no motive
        return {f"s{row}-back": "team", f"s{row}-reason": " "}
    if kind == "change":  # no operation chosen
        return {f"s{row}-back": "team"}
    if kind == "review":  # no conclusion
        return {f"grant-{world['grant'].id}-review_note": ""}
    if kind == "ticket":  # a genuine search result, but no reason given
        serializer = URLSafeSerializer(str(app.config["SECRET_KEY"]), salt=emergency._TICKET_SALT)
        ticket = serializer.dumps(
            {"p": world["patient"].id, "u": world["stranger"].id, "t": int(time.time())}
        )
        return {"ticket": ticket, "reason": ""}
    return dict(kind)


@pytest.mark.parametrize("endpoint", sorted(RERENDERS_PATIENTS))
def test_a_refused_form_showing_a_patient_writes_an_audit_event(
    app, client, auth, db, world, endpoint
):
    path, kind, who = RERENDERS_PATIENTS[endpoint]
    patient = world["patient"]
    auth.login(world[who])
    url = path.format(
        patient=patient.id, submission=world["submission"].id, grant=world["grant"].id
    )
    data = {**_fields(kind, world, app), "csrf_token": csrf_token(client, "/account")}
    before = len(_events_naming(db, patient.id))
    response = client.post(url, data=data)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert patient.birth_name in response.get_data(as_text=True)
    after = _events_naming(db, patient.id)
    assert len(after) > before, f"{endpoint} showed patient {patient.id} without audit"
    assert after[-1].actor_id == world[who].id


def test_the_team_panel_rerender_names_the_patient_once(client, auth, db, world):
    """The DMP panel's refused cancel: one event naming the patient, labelled by endpoint."""
    auth.login(world["coord"])
    row = world["submission"].id
    token = csrf_token(client, "/account")
    before = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    response = client.post(
        f"/dmp/submissions/{row}/cancel",
        data={f"s{row}-back": "team", f"s{row}-reason": "", "csrf_token": token},
    )
    assert response.status_code == 422
    new = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id > before)).all()
    (event,) = [e for e in new if e.action == "patient.list"]
    assert event.object_id == "filings.cancel_submission"
    assert event.reason == f"filings.cancel_submission: {world['patient'].id}"


def test_a_redirect_after_a_success_writes_no_extra_event(client, auth, db, world):
    """The safety net audits what is shown: a redirect shows nothing."""
    auth.login(world["coord"])
    row = world["submission"].id
    token = csrf_token(client, "/account")
    response = client.post(
        f"/dmp/submissions/{row}/cancel",
        data={f"s{row}-back": "team", f"s{row}-reason": "Plan clos", "csrf_token": token},
    )
    assert response.status_code == 302
    lists = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "patient.list"))
    assert lists.all() == []


def test_a_read_already_audited_is_not_audited_twice(client, auth, db, world):
    auth.login(world["coord"])
    before = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    assert client.get(f"/patients/{world['patient'].id}").status_code == 200
    new = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id > before)).all()
    assert [e.action for e in new] == ["patient.read"]


def test_api_writes_answering_with_the_record_are_audited(client, db, world):
    row = world["submission"]
    before = len(_events_naming(db, world["patient"].id))
    response = client.post(
        f"/api/v1/dmp/submissions/{row.id}/cancel",
        json={"reason": "Plan clos"},
        headers=api_headers(world["coord"], scopes=("api:read", "api:write")),
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert len(_events_naming(db, world["patient"].id)) > before


def test_opening_a_patient_conversation_by_api_is_audited(client, db, world):
    patient = world["patient"]
    before = len(_events_naming(db, patient.id))
    response = client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": patient.id},
        headers=api_headers(world["coord"], scopes=("api:read", "api:write")),
    )
    assert response.status_code in (200, 201)
    assert len(_events_naming(db, patient.id)) > before


def test_an_error_page_shows_no_record_and_writes_no_extra_event(client, db, world):
    """A refusal answered by the error handler (here a 409 problem) shows nothing of the row."""
    row = world["submission"]
    headers = api_headers(world["coord"], scopes=("api:read", "api:write"))
    url = f"/api/v1/dmp/submissions/{row.id}/cancel"
    assert client.post(url, json={"reason": "Plan clos"}, headers=headers).status_code == 200
    again = client.post(url, json={"reason": "Plan clos"}, headers=headers)
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"
    lists = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "patient.list"))
    assert lists.all() == []
