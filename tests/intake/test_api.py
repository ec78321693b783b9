"""JSON API of request intake: need-to-know, roles, payload errors, clocks, conversion."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.core.ins import InsOid
from ptap.intake.models import SupportRequest
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir
from tests.filings.conftest import api_headers

NOW = datetime(2026, 4, 3, 17, 30, tzinfo=PARIS)  # Friday before Easter Monday


@pytest.fixture
def world(db):
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="nurse")
    analyst = make_user(role="ars_analyst", profession="other")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider, "coordinator")
    db.session.commit()
    with clock.frozen(NOW):
        yield {
            "team": team,
            "other_team": other_team,
            "coord": coord,
            "member": member,
            "outsider": outsider,
            "analyst": analyst,
        }


def body(team: int, **changes) -> dict:
    data = {
        "team_id": team,
        "received_at": "2026-04-03T17:00:00+02:00",
        "requester_kind": "gp",
        "channel": "phone",
        "requester_name": "Dr Martin",
        "requester_contact": "04 78 00 00 00",
        "person_summary": "Dame de 84 ans, chutes répétées.",
        "problem_categories": ["medical", "social"],
    }
    data.update(changes)
    return data


def create(client, world, user="member", **changes):
    return client.post(
        "/api/v1/requests",
        json=body(world["team"].id, **changes),
        headers=api_headers(world[user]),
    )


def test_create_returns_the_request_with_its_clocks(client, world):
    response = create(client, world)
    assert response.status_code == 201, response.json
    data = response.json
    assert data["status"] == "received" and data["late"] is False
    first = data["clocks"]["first_answer"]
    assert first["target"] == 2 and first["unit"] == "working_days"
    assert first["due_at"].startswith("2026-04-08T22:00:00")  # end of Wednesday, Paris
    assert data["clocks"]["ppcs"]["running"] is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"problem_categories": []}, "problem_categories"),
        ({"received_at": "2026-04-03T17:00:00"}, "received_at"),  # naive
        ({"received_at": "2026-05-03T17:00:00+02:00"}, "received_at"),  # future
        ({"unknown": 1}, "unknown"),
        ({"team_id": "x"}, "team_id"),
    ],
)
def test_create_names_the_offending_field(client, world, changes, field):
    response = create(client, world, **changes)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["field"] == field


def test_create_in_another_team_is_not_found(client, world):
    response = client.post(
        "/api/v1/requests",
        json=body(world["other_team"].id),
        headers=api_headers(world["member"]),
    )
    assert response.status_code == 404
    assert response.json["field"] == "team_id"


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_get_nothing(client, world, db, role):
    create(client, world)
    user = world["analyst"] if role == "analyst" else make_user(role="admin")
    db.session.commit()
    headers = api_headers(user)
    assert client.get("/api/v1/requests", headers=headers).status_code == 403
    assert client.get("/api/v1/requests/1", headers=headers).status_code == 403
    assert client.post("/api/v1/requests", json=body(1), headers=headers).status_code == 403


def test_other_team_gets_404_and_an_empty_list(client, world):
    created = create(client, world).json
    headers = api_headers(world["outsider"])
    assert client.get(f"/api/v1/requests/{created['id']}", headers=headers).status_code == 404
    response = client.post(
        f"/api/v1/requests/{created['id']}/answer", json={"note": "x"}, headers=headers
    )
    assert response.status_code == 404
    assert client.get("/api/v1/requests", headers=headers).json["items"] == []


def test_lifecycle_triage_answer_close(client, world, db):
    created = create(client, world).json
    rid = created["id"]
    member, coord = api_headers(world["member"]), api_headers(world["coord"])
    response = client.post(
        f"/api/v1/requests/{rid}/triage", json={"mission_type": "information"}, headers=member
    )
    assert response.status_code == 403
    response = client.post(
        f"/api/v1/requests/{rid}/triage", json={"mission_type": "therapy"}, headers=coord
    )
    assert response.status_code == 422 and response.json["field"] == "mission_type"
    response = client.post(
        f"/api/v1/requests/{rid}/triage", json={"mission_type": "information"}, headers=coord
    )
    assert response.json["status"] == "triaged"
    response = client.post(f"/api/v1/requests/{rid}/answer", json={"note": ""}, headers=member)
    assert response.status_code == 422 and response.json["field"] == "note"
    response = client.post(
        f"/api/v1/requests/{rid}/answer", json={"note": "Droits APA expliqués."}, headers=member
    )
    assert response.json["status"] == "answered"
    assert response.json["clocks"]["first_answer"]["running"] is False
    response = client.post(
        f"/api/v1/requests/{rid}/close", json={"outcome": "other", "note": ""}, headers=coord
    )
    assert response.status_code == 422 and response.json["field"] == "note"
    response = client.post(
        f"/api/v1/requests/{rid}/close",
        json={"outcome": "information_given"},
        headers=coord,
    )
    assert response.json["status"] == "closed"
    response = client.post(f"/api/v1/requests/{rid}/answer", json={"note": "x"}, headers=member)
    assert response.status_code == 409
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.object_type == "support_request")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["request.register", "request.triage", "request.answer", "request.close"]


def test_late_filter_and_patch(client, world):
    rid = create(client, world).json["id"]
    member = api_headers(world["member"])
    with clock.frozen(datetime(2026, 4, 9, 9, 0, tzinfo=PARIS)):
        late = client.get("/api/v1/requests?late=true", headers=member).json["items"]
        assert [r["id"] for r in late] == [rid] and late[0]["late"] is True
        response = client.patch(
            f"/api/v1/requests/{rid}",
            json={"received_at": "2026-04-08T10:00:00+02:00", "urgent": True},
            headers=member,
        )
        assert response.status_code == 200 and response.json["urgent"] is True
        assert client.get("/api/v1/requests?late=true", headers=member).json["items"] == []
    assert client.get("/api/v1/requests?status=bogus", headers=member).status_code == 422
    assert client.get("/api/v1/requests?late=maybe", headers=member).status_code == 422


def _identity(**changes):
    data = {
        "birth_name": "Durand",
        "first_names": "Marie Louise",
        "birth_date": {"year": 1942, "month": 3, "day": 9},
        "sex": "F",
        "birthplace_code": "69381",
        "ins_matricule": valid_nir("F", 1942, 3),
        "ins_oid": str(InsOid.TEST_NIR),
        "identity_status": "validated",
        "identity_check_method": "passport",
    }
    data.update(changes)
    return data


def test_convert_creates_then_links(client, world, db):
    rid = create(client, world).json["id"]
    coord = api_headers(world["coord"])
    client.post(
        f"/api/v1/requests/{rid}/triage", json={"mission_type": "coordination"}, headers=coord
    )
    bad = client.post(
        f"/api/v1/requests/{rid}/convert",
        json={"identity": _identity(birth_name="")},
        headers=coord,
    )
    assert bad.status_code == 422 and bad.json["field"] == "identity.birth_name"
    both = client.post(
        f"/api/v1/requests/{rid}/convert",
        json={"identity": _identity(), "patient_id": 1},
        headers=coord,
    )
    assert both.status_code == 422
    response = client.post(
        f"/api/v1/requests/{rid}/convert", json={"identity": _identity()}, headers=coord
    )
    assert response.status_code == 201, response.json
    data = response.json
    assert data["request"]["status"] == "converted"
    assert data["request"]["patient_id"] == data["patient_id"]
    req = db.session.get(SupportRequest, rid)
    assert req.enrolment_id == data["enrolment_id"]


def test_convert_with_an_ins_held_elsewhere_names_whom_to_contact(client, world, db):
    hidden = make_patient(world["other_team"], world["outsider"])
    db.session.commit()
    rid = create(client, world, user="coord").json["id"]
    coord = api_headers(world["coord"])
    client.post(
        f"/api/v1/requests/{rid}/triage", json={"mission_type": "coordination"}, headers=coord
    )
    response = client.post(
        f"/api/v1/requests/{rid}/convert",
        json={
            "identity": _identity(
                ins_matricule=hidden.ins_matricule,
                birth_date={"year": 1940, "month": 5, "day": 12},
            )
        },
        headers=coord,
    )
    assert response.status_code == 409
    assert response.json["contacts"] and "existing" not in response.json
    assert db.session.get(SupportRequest, rid).status == "triaged"


def test_targets(client, world):
    team_id = world["team"].id
    coord, member = api_headers(world["coord"]), api_headers(world["member"])
    assert client.get(f"/api/v1/teams/{team_id}/intake-targets", headers=member).json == {
        "team_id": team_id,
        "first_answer_working_days": 2,
        "evaluation_working_days": 10,
        "ppcs_days": 60,
    }
    targets = {"first_answer_working_days": 1, "evaluation_working_days": 5, "ppcs_days": 30}
    url = f"/api/v1/teams/{team_id}/intake-targets"
    assert client.put(url, json=targets, headers=member).status_code == 403
    response = client.put(url, json={**targets, "ppcs_days": 0}, headers=coord)
    assert response.status_code == 422 and response.json["field"] == "ppcs_days"
    assert client.put(url, json=targets, headers=coord).json["ppcs_days"] == 30
    outsider = api_headers(world["outsider"])
    assert client.get(url, headers=outsider).status_code == 404


def test_openapi_documents_the_request_endpoints(client, db):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/requests"])
    assert {"get", "patch"} <= set(paths["/api/v1/requests/{request_id}"])
    for action in ("triage", "answer", "evaluation", "close", "convert"):
        assert "post" in paths[f"/api/v1/requests/{{request_id}}/{action}"]
    assert {"get", "post"} <= set(paths["/api/v1/patients/{patient_id}/events"])


def test_a_request_keeps_its_targets_through_a_target_change_and_a_patch(client, world):
    created = create(client, world).json
    url = f"/api/v1/teams/{world['team'].id}/intake-targets"
    targets = {"first_answer_working_days": 1, "evaluation_working_days": 5, "ppcs_days": 30}
    client.put(url, json=targets, headers=api_headers(world["coord"]))
    member = api_headers(world["member"])
    patched = client.patch(
        f"/api/v1/requests/{created['id']}", json={"urgent": True}, headers=member
    ).json
    for shown in (patched, client.get(f"/api/v1/requests/{created['id']}", headers=member).json):
        clocks = shown["clocks"]
        assert clocks["first_answer"] == created["clocks"]["first_answer"]
        assert clocks["first_answer"]["target"] == 2 and clocks["evaluation"]["target"] == 10
        assert clocks["ppcs"]["target"] == 60
    fresh = create(client, world).json
    assert fresh["clocks"]["first_answer"]["target"] == 1
