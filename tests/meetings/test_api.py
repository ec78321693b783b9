"""The meetings API: create, agenda, attendance, decisions; 422 naming the field; 409 on a
moved plan; need-to-know on the agenda; the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans.models import CarePlanVersion
from ptap.core import clock
from ptap.meetings import services
from ptap.meetings.models import Meeting, MeetingDecision
from tests.factories import make_user
from tests.filings.conftest import api_headers
from tests.meetings.helpers import build_meeting_world


def _decisions_body(w, base_version_id):
    return {
        "patient_id": w.patient.id,
        "summary": "Situation stable.",
        "base_version_id": base_version_id,
        "decisions": [
            {"kind": "add_objective", "payload": {"key": "aid", "title": "Soutenir l'aidante"}},
            {
                "kind": "add_action",
                "payload": {
                    "objective_key": "aid",
                    "what": "Demande d'accueil de jour",
                    "assignee_user_id": w.nurse.id,
                    "due_on": (clock.paris_today() + timedelta(days=10)).isoformat(),
                },
            },
        ],
    }


def test_create_meeting_and_bad_input(client, db):
    w = build_meeting_world()
    db.session.commit()
    headers = api_headers(w.coord)
    starts = (clock.now() + timedelta(days=3)).isoformat()
    body = {
        "team_id": w.team.id,
        "title": "RCP de décembre",
        "starts_at": starts,
        "duration_minutes": 60,
        "video_url": "https://visio.example/rcp",
        "chair_id": w.coord.id,
        "secretary_id": w.nurse.id,
    }
    response = client.post("/api/v1/meetings", json=body, headers=headers)
    assert response.status_code == 201, response.json
    assert response.json["status"] == "planned"
    assert response.json["quorum"]["ok"] is False
    bad = client.post(
        "/api/v1/meetings", json={**body, "starts_at": "2026-12-10T10:00:00"}, headers=headers
    )
    assert bad.status_code == 422 and bad.json["field"] == "starts_at"
    bad = client.post("/api/v1/meetings", json={**body, "video_url": "http://x"}, headers=headers)
    assert bad.status_code == 422 and bad.json["field"] == "video_url"
    other = client.post("/api/v1/meetings", json=body, headers=api_headers(w.outsider))
    assert other.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Meeting.id))) == 2


def test_decisions_flow_through_the_api(client, db):
    w = build_meeting_world()
    db.session.commit()
    headers = api_headers(w.coord)
    url = f"/api/v1/meetings/{w.meeting.id}"
    no_quorum = client.post(f"{url}/start", headers=headers)
    assert no_quorum.status_code == 200
    refused = client.post(
        f"{url}/decisions", json=_decisions_body(w, w.version.id), headers=headers
    )
    assert refused.status_code == 422
    assert refused.json["field"] == "quorum"
    assert refused.json["detail"].startswith("Quorum non atteint : 0 professionnel présent")
    participants = client.get(url, headers=headers).json["participants"]
    for p in participants[:3]:
        answer = client.put(
            f"{url}/participants/{p['id']}/attendance",
            json={"attendance": "present"},
            headers=headers,
        )
        assert answer.status_code == 200
    not_on_agenda = client.post(
        f"{url}/decisions",
        json={**_decisions_body(w, w.version.id), "patient_id": w.newcomer.id},
        headers=headers,
    )
    assert not_on_agenda.status_code == 422 and not_on_agenda.json["field"] == "patient_id"
    bad_date = _decisions_body(w, w.version.id)
    bad_date["decisions"][1]["payload"]["due_on"] = "2020-01-01"
    answer = client.post(f"{url}/decisions", json=bad_date, headers=headers)
    assert answer.status_code == 422 and answer.json["field"] == "decisions[1].due_on"
    stale = client.post(f"{url}/decisions", json=_decisions_body(w, 999_999), headers=headers)
    assert stale.status_code == 409 and stale.json["field"] == "base_version_id"
    assert db.session.scalar(sa.select(sa.func.count(MeetingDecision.id))) == 0
    ok = client.post(f"{url}/decisions", json=_decisions_body(w, w.version.id), headers=headers)
    assert ok.status_code == 201, ok.json
    assert ok.json["plan_version_number"] == 2
    assert [d["kind"] for d in ok.json["item"]["decisions"]] == ["add_objective", "add_action"]
    version = db.session.get(CarePlanVersion, ok.json["plan_version_id"])
    assert version.provenance_ref == f"meeting:{w.meeting.id}/item:{w.item.id}"
    versions = client.get(f"/api/v1/patients/{w.patient.id}/care-plan/versions", headers=headers)
    assert versions.json["items"][0]["provenance"]["ref"] == version.provenance_ref
    assert versions.json["items"][1]["provenance"] is None
    history = client.get(f"/api/v1/patients/{w.patient.id}/meetings", headers=headers)
    assert history.json["items"][0]["item"]["plan_version_id"] == version.id
    closed = client.post(f"{url}/close", headers=headers)
    assert closed.json["status"] == "closed"
    again = client.post(f"{url}/decisions", json=_decisions_body(w, version.id), headers=headers)
    assert again.status_code == 409
    assert again.json["detail"] == "Cette concertation est close : elle ne peut plus être modifiée."


def test_agenda_need_to_know_and_guest(client, db):
    w = build_meeting_world()
    guest = make_user(profession="pharmacist")
    db.session.commit()
    headers = api_headers(w.coord)
    url = f"/api/v1/meetings/{w.meeting.id}"
    suggestions = client.get(f"{url}/suggestions", headers=headers).json["items"]
    assert [s["patient_id"] for s in suggestions] == [w.newcomer.id]
    added = client.post(
        f"{url}/agenda", json={"patient_id": w.newcomer.id, "reason": "no_plan"}, headers=headers
    )
    assert added.status_code == 201
    foreign = client.post(f"{url}/agenda", json={"patient_id": w.other_patient.id}, headers=headers)
    assert foreign.status_code == 422 and foreign.json["field"] == "patient_id"
    invited = client.post(
        f"{url}/guests", json={"user_id": guest.id, "patient_ids": [w.patient.id]}, headers=headers
    )
    assert invited.status_code == 201, invited.json
    seen = client.get(url, headers=api_headers(guest)).json
    assert [i["patient_id"] for i in seen["agenda"]] == [w.patient.id]
    assert seen["hidden_agenda_items"] == 0  # a guest does not learn the agenda's size
    assert client.get(url, headers=api_headers(w.outsider)).status_code == 404
    removed = client.delete(f"{url}/agenda/{added.json['id']}", headers=headers)
    assert removed.status_code == 204


def test_suggestions_are_for_the_meetings_runners_only(client, db):
    w = build_meeting_world()
    guest = make_user(profession="pharmacist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)
    db.session.commit()
    url = f"/api/v1/meetings/{w.meeting.id}/suggestions"
    for user in (guest, w.physician):  # a guest, a member who does not run the meeting
        refused = client.get(url, headers=api_headers(user))
        assert refused.status_code == 403, refused.json
        assert "items" not in refused.json
    assert client.get(url, headers=api_headers(w.nurse)).status_code == 200  # the secretary


def test_quorum_is_set_by_coordinators(client, db):
    w = build_meeting_world()
    db.session.commit()
    url = f"/api/v1/teams/{w.team.id}/meeting-quorum"
    assert client.get(url, headers=api_headers(w.nurse)).json["min_present"] == 3
    body = {"min_present": 4, "min_professions": 3}
    assert client.put(url, json=body, headers=api_headers(w.nurse)).status_code == 403
    assert client.put(url, json=body, headers=api_headers(w.coord)).json["min_present"] == 4


def test_meetings_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/meetings/{meeting_id}/decisions" in paths
    assert "post" in paths["/api/v1/meetings"]
