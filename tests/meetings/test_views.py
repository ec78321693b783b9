"""Meeting pages: reachable from the menu, planner, agenda & attendance, suggestions added in
one click, quorum, a patient's meetings; permissions and need-to-know."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.meetings import services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import Meeting, MeetingAgendaItem, MeetingQuorum
from tests.factories import make_user
from tests.meetings.helpers import build_meeting_world, reach_quorum


def test_menu_leads_to_the_meetings_and_the_planner(client, auth, db):
    w = build_meeting_world()
    auth.login(w.coord)
    home = client.get("/meetings")
    html = home.get_data(as_text=True)
    assert home.status_code == 200
    assert 'href="/meetings"' in client.get("/account").get_data(as_text=True)
    assert "Concertation mensuelle" in html
    assert f"/teams/{w.team.id}/meetings/new" in html
    form = client.get(f"/teams/{w.team.id}/meetings/new")
    assert form.status_code == 200
    day = (clock.now() + timedelta(days=5)).astimezone(PARIS).date()
    answer = auth.post(
        f"/teams/{w.team.id}/meetings/new",
        {
            "title": "RCP gériatrique",
            "day": day.isoformat(),
            "at": "14:30",
            "duration_minutes": "60",
            "place": "Salle B",
            "video_url": "",
            "chair_id": str(w.coord.id),
            "secretary_id": str(w.nurse.id),
        },
    )
    assert answer.status_code == 302
    meeting = db.session.scalars(sa.select(Meeting).filter_by(title="RCP gériatrique")).one()
    assert meeting.starts_at.astimezone(PARIS).hour == 14
    bad = auth.post(
        f"/teams/{w.team.id}/meetings/new",
        {
            "title": "X",
            "day": day.isoformat(),
            "at": "10:00",
            "duration_minutes": "60",
            "place": "",
            "video_url": "",
            "chair_id": str(w.coord.id),
            "secretary_id": str(w.nurse.id),
        },
    )
    assert bad.status_code == 422
    assert "Indiquez un lieu ou un lien de visioconférence." in bad.get_data(as_text=True)


def test_agenda_page_adds_a_suggestion_in_one_click_and_records_attendance(client, auth, db):
    w = build_meeting_world()
    auth.login(w.coord)
    url = f"/meetings/{w.meeting.id}"
    page = client.get(url).get_data(as_text=True)
    assert "BERNARD" in page and "LEROY" in page  # on the agenda / suggested
    assert "Nouvelle inclusion sans plan" in page
    answer = auth.post(f"{url}/agenda", {"patient_id": str(w.newcomer.id), "reason": "no_plan"})
    assert answer.status_code == 302
    item = db.session.scalars(
        sa.select(MeetingAgendaItem).filter_by(patient_id=w.newcomer.id)
    ).one()
    assert item.reason == "no_plan"
    participant = w.participant(w.physician)
    answer = auth.post(f"{url}/participants/{participant.id}/attendance", {"attendance": "present"})
    assert answer.status_code == 302
    db.session.refresh(participant)
    assert participant.attendance == "present"


def test_other_team_and_guest_see_what_they_may(client, auth, db):
    w = build_meeting_world()
    services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM)
    guest = make_user(profession="pharmacist")
    services.invite_guest(w.coord, w.meeting, guest, [w.newcomer.id], SYSTEM)
    db.session.commit()
    auth.login(w.outsider)
    assert client.get(f"/meetings/{w.meeting.id}").status_code == 404
    assert auth.post(f"/meetings/{w.meeting.id}/start").status_code == 404
    auth.post("/logout")
    auth.login(guest)
    page = client.get(f"/meetings/{w.meeting.id}").get_data(as_text=True)
    assert "LEROY" in page and "BERNARD" not in page
    # A guest does not even learn how many other people are on the agenda.
    assert "hors de votre cercle" not in page


def test_quorum_page_for_coordinators_only(client, auth, db):
    w = build_meeting_world()
    auth.login(w.nurse)
    assert "Seuls les coordinateurs" in client.get(f"/teams/{w.team.id}/meeting-quorum").get_data(
        as_text=True
    )
    auth.post("/logout")
    auth.login(w.coord)
    answer = auth.post(
        f"/teams/{w.team.id}/meeting-quorum", {"min_present": "4", "min_professions": "2"}
    )
    assert answer.status_code == 302
    assert db.session.scalars(sa.select(MeetingQuorum)).one().min_present == 4


def test_patient_meetings_tab_shows_decisions_and_the_version(client, auth, db):
    w = build_meeting_world()
    reach_quorum(w)
    services.record_decisions(
        w.coord,
        w.item,
        "Aidante épuisée.",
        [DecisionInput("add_objective", {"title": "Soutenir l'aidante"})],
        w.version.id,
        SYSTEM,
    )
    services.close_meeting(w.coord, w.meeting, SYSTEM)
    auth.login(w.nurse)
    record = client.get(f"/patients/{w.patient.id}").get_data(as_text=True)
    assert f'href="/patients/{w.patient.id}/meetings"' in record
    page = client.get(f"/patients/{w.patient.id}/meetings").get_data(as_text=True)
    assert "Aidante épuisée." in page
    assert "Nouvel objectif : Soutenir l&#39;aidante" in page
    assert "Version 2 du plan" in page
    closed = client.get(f"/meetings/{w.meeting.id}").get_data(as_text=True)
    assert "Non modifiable" in closed and "Ouvrir la séance" not in closed


def test_the_agenda_page_is_audited_for_the_patients_it_shows(client, auth, db):
    from ptap.audit.models import AuditEvent

    w = build_meeting_world()
    auth.login(w.nurse)
    assert client.get(f"/meetings/{w.meeting.id}").status_code == 200
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "patient.list"))
    named = {pid for e in events for pid in e.reason.split(": ")[-1].split(",")}
    assert str(w.patient.id) in named


def test_plan_history_comparison_and_pdf_say_decided_in_meeting(client, auth, db):
    from ptap.care_plans.documents import load_sources, version_document

    w = build_meeting_world()
    reach_quorum(w)
    version = services.record_decisions(
        w.coord,
        w.item,
        "",
        [DecisionInput("add_objective", {"title": "Soutenir l'aidante"})],
        w.version.id,
        SYSTEM,
    )
    label = f"Décidé en concertation du {clock.paris_day(w.meeting.starts_at):%d/%m/%Y}"
    assert version is not None
    assert version_document(load_sources(version))["version"]["provenance"] == label
    auth.login(w.coord)
    base = f"/patients/{w.patient.id}/care-plan"
    for path in (f"{base}/versions", f"{base}/versions/2", f"{base}/compare?from=1&to=2"):
        page = client.get(path)
        assert page.status_code == 200
        assert label in page.get_data(as_text=True), path
