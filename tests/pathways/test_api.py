"""The pathway API: template CRUD and lifecycle, FHIR, patients' pathways, French 422s."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.care_plans.content import load_content
from ptap.care_plans.models import CarePlan
from ptap.pathways.models import PathwayTemplate, PatientPathway
from tests.care_plans.test_services import build_world, open_plan
from tests.filings.conftest import api_headers
from tests.pathways.helpers import heart_failure

BASE = "/api/v1/pathway-templates"


def _setup(db):
    w = build_world()
    open_plan(w)
    db.session.commit()
    return w, api_headers(w.coord), api_headers(w.nurse)


def _create(client, headers, w, **over):
    content = heart_failure(**over).model_dump(mode="json")
    return client.post(BASE, json={"team_id": w.team.id, "content": content}, headers=headers)


def test_template_crud_publish_retire_and_fhir(client, db):
    w, coord, nurse = _setup(db)
    created = _create(client, coord, w)
    assert created.status_code == 201, created.json
    tid = created.json["id"]
    assert created.json["status"] == "draft"
    published = client.post(f"{BASE}/{tid}/publish", headers=coord)
    assert published.json["status"] == "published"
    assert published.json["version"] == 1
    listed = client.get(f"{BASE}?q=cardiaque", headers=nurse)
    assert [t["id"] for t in listed.json["items"]] == [tid]
    assert client.get(f"{BASE}?q=palliatif", headers=nurse).json["items"] == []
    fhir = client.get(f"{BASE}/{tid}/fhir", headers=nurse)
    assert fhir.json["resourceType"] == "PlanDefinition"
    preview = client.post(
        f"{BASE}/fhir-import",
        json={"team_id": w.team.id, "resource": fhir.json, "dry_run": True},
        headers=coord,
    )
    assert preview.status_code == 201
    assert preview.json["template"] is None
    assert db.session.scalar(sa.select(sa.func.count(PathwayTemplate.id))) == 1
    imported = client.post(
        f"{BASE}/fhir-import", json={"team_id": w.team.id, "resource": fhir.json}, headers=coord
    )
    assert imported.json["template"]["title"] == created.json["title"]
    retired = client.post(f"{BASE}/{tid}/retire", headers=coord)
    assert retired.json["status"] == "retired"


def test_member_cannot_write_and_outsider_sees_nothing(client, db):
    w, coord, nurse = _setup(db)
    assert _create(client, nurse, w).status_code == 403
    tid = _create(client, coord, w).json["id"]
    assert client.post(f"{BASE}/{tid}/publish", headers=nurse).status_code == 403
    outsider = api_headers(w.outsider)
    db.session.commit()
    assert client.get(f"{BASE}/{tid}", headers=outsider).status_code == 404
    assert client.get(BASE, headers=outsider).json["items"] == []


def test_bad_template_is_a_french_422_naming_the_field_and_creates_nothing(client, db):
    w, coord, _ = _setup(db)
    content = heart_failure().model_dump(mode="json")
    content["steps"][1]["offset_days"] = -5
    answer = client.post(BASE, json={"team_id": w.team.id, "content": content}, headers=coord)
    assert answer.status_code == 422
    assert "ne peut pas être négatif" in answer.json["detail"]
    assert "steps.1.offset_days" in str(answer.json)
    content["steps"][1]["offset_days"] = 5
    content["steps"][0]["objectives"][0]["actions"][0]["profession"] = "astrologue"
    answer = client.post(BASE, json={"team_id": w.team.id, "content": content}, headers=coord)
    assert answer.status_code == 422
    assert "profession inconnue « astrologue »" in answer.json["detail"]
    broken = client.post(
        f"{BASE}/fhir-import",
        json={"team_id": w.team.id, "resource": {"resourceType": "PlanDefinition", "action": 3}},
        headers=coord,
    )
    assert broken.status_code == 422
    assert "ne se lit pas" in broken.json["detail"]
    assert db.session.scalar(sa.select(sa.func.count(PathwayTemplate.id))) == 0


def test_start_list_and_stop_a_patient_pathway(client, db):
    w, coord, nurse = _setup(db)
    tid = _create(client, coord, w).json["id"]
    client.post(f"{BASE}/{tid}/publish", headers=coord)
    url = f"/api/v1/patients/{w.patient.id}/pathways"
    started = client.post(url, json={"template_id": tid, "started_on": "2026-03-02"}, headers=nurse)
    assert started.status_code == 201, started.json
    assert [s["due_on"] for s in started.json["steps"]] == ["2026-03-09", "2026-03-23"]
    plan = db.session.scalar(sa.select(CarePlan).filter_by(patient_id=w.patient.id))
    assert len(load_content(plan.draft).objectives) == 2
    listed = client.get(url, headers=nurse)
    assert [p["title"] for p in listed.json["items"]] == [started.json["title"]]
    assert db.session.scalar(
        sa.select(sa.func.count(AuditEvent.id)).where(
            AuditEvent.patient_id == w.patient.id, AuditEvent.action == "pathway.start"
        )
    )
    pid = started.json["id"]
    bad = client.post(f"{url}/{pid}/stop", json={"open_actions": "peut-être"}, headers=nurse)
    assert bad.status_code == 422
    stopped = client.post(f"{url}/{pid}/stop", json={"open_actions": "cancel"}, headers=nurse)
    assert stopped.json["stopped"] is True
    assert db.session.get(PatientPathway, pid).stopped_at is not None


def test_outsider_cannot_start_a_pathway(client, db):
    w, coord, _ = _setup(db)
    tid = _create(client, coord, w).json["id"]
    client.post(f"{BASE}/{tid}/publish", headers=coord)
    outsider = api_headers(w.outsider)
    db.session.commit()
    url = f"/api/v1/patients/{w.patient.id}/pathways"
    answer = client.post(
        url, json={"template_id": tid, "started_on": "2026-03-02"}, headers=outsider
    )
    assert answer.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0


def test_reader_who_may_not_edit_the_plan_is_refused_and_the_refusal_audited(client, db):
    w, coord, _ = _setup(db)
    tid = _create(client, coord, w).json["id"]
    client.post(f"{BASE}/{tid}/publish", headers=coord)
    visitor = api_headers(w.visitor)  # break-glass: reads the record, never edits the plan
    db.session.commit()
    url = f"/api/v1/patients/{w.patient.id}/pathways"
    answer = client.post(
        url, json={"template_id": tid, "started_on": "2026-03-02"}, headers=visitor
    )
    assert answer.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0
    denied = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "pathway.start", AuditEvent.actor_id == w.visitor.id
        )
    ).all()
    assert [(e.outcome, e.patient_id) for e in denied] == [("denied", w.patient.id)]
