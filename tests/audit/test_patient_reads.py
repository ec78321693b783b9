"""Every response that shows a patient's identity writes an audit event (issue 11 #7).

The URL map is walked: every GET endpoint is classified here, and a test fails on any
endpoint left unclassified. Each patient-showing endpoint is then requested as an
authorised user and must leave an audit event naming the patient (a list: ONE event).
"""

import pytest
import sqlalchemy as sa
from flask import Flask

from ptap.audit.context import shown_by
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_teams import circle
from ptap.care_teams.models import DuplicateFlag
from ptap.core.models import utcnow
from ptap.intake import services as intake_services
from ptap.messaging import services as messaging_services
from tests.factories import add_member, make_patient, make_team, make_user
from tests.filings.conftest import api_headers, make_row

#: Endpoints showing patients' identity, requested below: path with {patient}, {team},
#: {submission} placeholders.
SHOWS_PATIENTS = {
    "care_teams.list_patients": "/patients",
    "api.care_teams_list_patients": "/api/v1/patients",
    "care_teams.show_patient": "/patients/{patient}",
    "api.care_teams_get_patient": "/api/v1/patients/{patient}",
    "care_teams.edit_identity": "/patients/{patient}/identity",
    "care_teams.consents": "/patients/{patient}/consents",
    "api.care_teams_list_consents": "/api/v1/patients/{patient}/consents",
    "care_teams.patient_circle": "/patients/{patient}/circle",
    "api.care_teams_list_circle": "/api/v1/patients/{patient}/circle",
    "care_teams.access_log": "/patients/{patient}/access-log",
    "care_teams.list_duplicates": "/duplicates",
    "care_teams.break_glass_reviews": "/break-glass/reviews",
    "messaging.list_conversations": "/conversations",
    "api.messaging_list_conversations": "/api/v1/conversations",
    "filings.patient_filings": "/patients/{patient}/dmp",
    "filings.team_panel": "/teams/{team}/dmp",
    "api.filings_list_dmp_submissions": "/api/v1/dmp/submissions",
    "api.filings_get_dmp_submission": "/api/v1/dmp/submissions/{submission}",
    "care_plans.show_plan": "/patients/{patient}/care-plan",
    "dashboards.team_dashboard": "/teams/{team}/dashboard",
    "dashboards.dashboard_rows": "/teams/{team}/dashboard/rows?patient_id={patient}",
    "api.dashboards_get_team_dashboard": "/api/v1/dashboard/teams/{team}",
    "intake.list_requests": "/requests",
    "api.intake_list_requests": "/api/v1/requests",
    "intake.show_request": "/requests/{request}",
    "api.intake_get_request": "/api/v1/requests/{request}",
    "intake.convert_request": "/requests/{request}/convert",
    "intake.edit_request": "/requests/{request}/edit",
    "care_events.patient_events": "/patients/{patient}/events",
    "api.care_events_list_events": "/api/v1/patients/{patient}/events",
    "letters.patient_letters": "/patients/{patient}/letters",
    "api.letters_list_letters": "/api/v1/letters?patient_id={patient}",
    "grids.patient_assessments": "/patients/{patient}/assessments",
    "api.grids_list_assessments": "/api/v1/patients/{patient}/assessments",
    "meetings.patient_meetings": "/patients/{patient}/meetings",
    "patient_space.patient_accounts": "/patients/{patient}/patient-space",
    "api.meetings_list_patient_meetings": "/api/v1/patients/{patient}/meetings",
    "search.patient_search": "/patients/{patient}/search?q=dossier",
    "api.search_patient_search": "/api/v1/patients/{patient}/search?q=dossier",
    "api.pathways_list_patient_pathways": "/api/v1/patients/{patient}/pathways",
    "pathways.patient_pathways": "/patients/{patient}/pathways",
}

#: Endpoints that show patients but need more set-up than this walk makes (a published plan,
#: a task, a message, an emergency access); each names the test or mechanism covering it.
COVERED_ELSEWHERE = {
    # The patient space (patient-side accounts only): _patient() writes patient_space.read
    # naming the person before any render (tests/patient_space/test_crawl.py).
    "patient_space.security": "patient_space.read event (tests/patient_space/test_codes.py)",
    "patient_space.home": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.plan": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.plan_version": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.agreement": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.circle": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.documents": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.sharing": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "patient_space.accesses": "patient_space.read event (tests/patient_space/test_crawl.py)",
    "dashboards.dashboard_requests": "@shows_patients + note_patients_shown (requests with a "
    "patient; tests/dashboards)",
    "care_plans.list_tasks": "@shows_patients + note_patients_shown (task rows)",
    "api.care_plans_list_my_tasks": "@shows_patients + note_patients_shown (task rows)",
    "api.care_plans_get_care_plan": "load_patient (patient.read); 404 without a plan",
    "care_plans.list_versions": "load_patient (patient.read)",
    "care_plans.show_version": "load_patient (patient.read)",
    "care_plans.compare_versions": "load_patient (patient.read)",
    "care_plans.edit_draft": "load_patient",
    "api.care_plans_list_care_plan_versions": "load_patient (patient.read)",
    "api.care_plans_get_care_plan_version": "load_patient (patient.read)",
    "api.care_plans_export_version_fhir": "load_patient (patient.read)",
    "api.care_plans_export_version_pdf": "load_patient (patient.read)",
    "api.care_teams_list_access_log": "load_patient + access-log consultation event",
    "care_teams.access_log_pdf": "load_patient + access-log consultation event",
    "care_teams.consent_document": "load_patient (patient.read)",
    "care_teams.break_glass": "break_glass.open event (tests/care_teams)",
    "messaging.show_conversation": "conversation.read event (messaging.services.record_read)",
    "api.messaging_list_messages": "conversation.read event (messaging.services.record_read)",
    "api.messaging_search_messages": "conversation.read event per conversation found",
    "api.messaging_download_attachment": "attachment download event (messaging)",
    "api.filings_get_dmp_submission_cda": "filings.services.download_payload event",
    "api.filings_get_dmp_submission_request": "filings.services.download_payload event",
    "meetings.live": "@shows_patients + note_patients_shown (the agenda patients the viewer may "
    "see; tests/meetings/test_live_views.py)",
    "meetings.live_state": "@shows_patients + note_patients_shown (as meetings.live)",
    "letters.team_letters": "@shows_patients + note_patients_shown (letter rows; tests/letters)",
    "grids.show_assessment": "load_patient (patient.read) of the assessment's patient "
    "(tests/grids/test_web.py)",
    "api.grids_get_assessment": "load_patient (patient.read) of the assessment's patient",
    "api.grids_assessment_fhir": "load_patient (patient.read) of the assessment's patient",
    "letters.show_letter": "load_patient (patient.read) of the letter's patient (tests/letters)",
    "letters.letter_pdf": "load_patient (patient.read) of the letter's patient",
    "api.letters_get_letter": "load_patient (patient.read) of the letter's patient",
    "api.letters_letter_pdf": "load_patient (patient.read) of the letter's patient",
    "meetings.show_meeting": "@shows_patients + note_patients_shown (agenda and suggestions; "
    "tests/meetings/test_views.py)",
    "api.meetings_get_meeting": "@shows_patients + note_patients_shown (visible agenda)",
    "api.meetings_list_suggestions": "@shows_patients + note_patients_shown (suggestions)",
    # Meeting reports and minutes (tests/meetings/test_report_views.py).
    "meeting_reports.show_report": "load_patient (patient.read)",
    "meeting_reports.download_report": "load_patient (patient.read)",
    "meeting_reports.list_reports": "note_patients_shown (the visible agenda)",
    "meeting_reports.download_minutes": "note_patients_shown (every agenda patient)",
    "api.meetings_report_get": "load_patient (patient.read)",
    "api.meetings_report_pdf": "load_patient (patient.read)",
    "api.meetings_minutes_pdf": "note_patients_shown (every agenda patient)",
    "care_plans.list_actions_to_define": "@shows_patients + note_patients_shown (action rows; "
    "tests/care_plans/test_editor.py)",
    "care_teams.edit_circle_structure": "load_patient (patient.structures.manage)",
    "messaging.patient_messages": "load_patient + conversation.read event (record_read)",
    # DMP consultation (tests/filings/test_consultation.py): load_patient, then a
    # patient.dmp_consult or patient.dmp_document event per list and per document opened.
    "filings.dmp_documents": "load_patient + patient.dmp_consult event",
    "filings.dmp_document": "load_patient + patient.dmp_document event",
    "filings.dmp_document_content": "load_patient + patient.dmp_document event",
    "api.filings_list_patient_dmp_documents": "load_patient + patient.dmp_consult event",
    "api.filings_get_patient_dmp_document": "load_patient + patient.dmp_document event",
    # DMP documents filed into the coordination file (tests/filings/test_filed.py): load_patient,
    # then a patient.dmp_filed_read event per copy read.
    "filings.filed_document": "load_patient + patient.dmp_filed_read event",
    "filings.filed_document_content": "load_patient + patient.dmp_filed_read event",
    "api.filings_list_filed_dmp_documents": "load_patient (patient.read)",
    "api.filings_get_filed_dmp_document_content": "load_patient + patient.dmp_filed_read event",
}

#: Endpoints that show no patient identity.
NO_PATIENT_IDENTITY = {
    # Patient-space sign-in and invitation pages: the invitee's own name, never the record.
    "patient_space.sign_in",
    "patient_space.accept_invitation",
    "static",
    "core.healthz",
    "core.readyz",
    "core.socketio_transport",  # never reached: Flask-SocketIO answers /socket.io/ first
    # Counters by endpoint name, job and kind: no patient or user identity (bearer token).
    "core.metrics",
    "accounts.activate",
    # Professionals (name, profession), never patients.
    "api.care_teams_search_professionals",
    "core.home",
    "api.openapi_document",
    "accounts.login",
    "accounts.second_factor",
    "accounts.enrol",
    "accounts.account",
    "accounts.list_sessions",
    "accounts.change_password",
    "accounts.notifications",
    "api.accounts_me",
    "api.accounts_list_tokens",
    "api.accounts_list_users",
    "admin.list_users",
    "admin.create_user",
    "admin.show_user",
    "admin.security_log",
    "care_teams.list_teams",
    # Covers: coordinators and dates, never patients.
    "care_teams.absences",
    "api.care_teams_list_teams",
    "care_teams.show_team",
    "care_teams.organisation",
    "care_teams.create_patient",
    "filings.my_panels",
    # The team picker: team names only.
    "dashboards.home",
    # The workload table: professionals and their action counts, no person cared for.
    "dashboards.dashboard_workload",
    # Request registration form and team targets: no person shown.
    "intake.register_request",
    "intake.team_targets",
    "api.intake_get_targets",
    # Aggregated counts under statistical secrecy (tests/monitoring/test_privacy_crawl.py).
    "monitoring.indicators",
    "monitoring.export_csv",
    "monitoring.export_json",
    "monitoring.list_reports",
    "monitoring.download_report",
    "api.monitoring_get_indicators",
    # Assessment grids: questionnaires, no patient (tests/grids).
    "grids.list_grids",
    "grids.new_grid",
    "grids.show_grid",
    "grids.edit_grid",
    "grids.import_grid",
    "api.grids_list_grids",
    "api.grids_get_grid",
    "api.grids_grid_fhir",
    # Letter templates: a team's texts, previewed with a fictitious record.
    "letters.team_templates",
    "letters.edit_template",
    "api.letters_list_letter_templates",
    "api.letters_get_letter_template",
    # Pathway templates: a team's or territory's steps and professions, never a patient.
    "api.pathways_list_pathway_templates",
    "api.pathways_get_pathway_template",
    "api.pathways_export_pathway_template_fhir",
    "pathways.list_templates",
    "pathways.edit_template",
    # Meetings: dates, places, participants (professionals), quorum; never the agenda.
    "meetings.list_meetings",
    "meetings.create_meeting",
    "meetings.edit_meeting",
    "meetings.team_quorum",
    "api.meetings_list_meetings",
    "api.meetings_get_quorum",
    # Calendars never name a patient (tests/meetings/test_calendar.py).
    "calendars.meeting_ics",
    "api.meetings_calendar_meeting_ics",
    "calendars.my_calendar",
    "calendars.feed",
}


def _get_endpoints(app: Flask) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if "GET" in (r.methods or ())}


def test_every_get_endpoint_is_classified(app: Flask):
    classified = set(SHOWS_PATIENTS) | set(COVERED_ELSEWHERE) | NO_PATIENT_IDENTITY
    assert sorted(_get_endpoints(app) - classified) == []
    assert sorted(classified - _get_endpoints(app)) == []


def test_marked_endpoints_are_walked_or_covered(app: Flask):
    marked = {e for e, view in app.view_functions.items() if shown_by(view)}
    assert marked <= set(SHOWS_PATIENTS) | set(COVERED_ELSEWHERE)
    assert not marked & NO_PATIENT_IDENTITY


@pytest.fixture
def world(db):
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord)
    twin = make_patient(team, coord)
    db.session.add(DuplicateFlag(patient_id=twin.id, other_patient_id=patient.id))
    messaging_services.get_or_create_patient_conversation(coord, patient)
    stranger = make_user()
    add_member(make_team("Équipe Vaise"), stranger)
    circle.open_break_glass(
        stranger, patient, "Urgence vitale : patient inconscient aux urgences", SYSTEM
    )
    submission = make_row(patient, team, by=coord, status="failed", last_error="refus")
    request = intake_services.register_request(
        coord,
        team,
        intake_services.RequestData(
            received_at=utcnow(),
            requester_kind="gp",
            channel="phone",
            problem_categories=("medical",),
            patient_id=patient.id,
        ),
        SYSTEM,
    )
    db.session.commit()
    return {
        "team": team,
        "coord": coord,
        "patient": patient,
        "submission": submission,
        "request": request,
    }


def _events_naming(db, patient_id: int) -> list[AuditEvent]:
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    return [
        e
        for e in rows
        if e.patient_id == patient_id
        or (e.action == "patient.list" and str(patient_id) in e.reason.split(": ")[-1].split(","))
    ]


@pytest.mark.parametrize("endpoint", sorted(SHOWS_PATIENTS))
def test_patient_showing_endpoint_writes_an_audit_event(client, auth, db, world, endpoint):
    patient, coord = world["patient"], world["coord"]
    path = SHOWS_PATIENTS[endpoint].format(
        patient=patient.id,
        team=world["team"].id,
        submission=world["submission"].id,
        request=world["request"].id,
    )
    if path.startswith("/api/"):
        headers = api_headers(coord)
    else:
        auth.login(coord)
        headers = {}
    before = len(_events_naming(db, patient.id))
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    after = _events_naming(db, patient.id)
    assert len(after) > before, f"{endpoint} showed patient {patient.id} without audit"


def test_a_list_writes_one_event_naming_every_patient_shown(client, db, world):
    coord = world["coord"]
    others = [make_patient(world["team"], coord) for _ in range(3)]
    db.session.commit()
    response = client.get("/api/v1/patients", headers=api_headers(coord))
    assert response.status_code == 200
    lists = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "patient.list"))
    (event,) = lists.all()
    named = {int(pid) for pid in event.reason.split(": ")[-1].split(",")}
    assert {world["patient"].id, *(p.id for p in others)} <= named
    assert event.actor_id == coord.id
    assert event.object_id == "patient search"


def test_an_empty_list_writes_no_event(client, db):
    lonely = make_user(role="coordinator")
    db.session.commit()
    response = client.get("/api/v1/patients", headers=api_headers(lonely))
    assert response.status_code == 200
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "patient.list")
        )
        == 0
    )
