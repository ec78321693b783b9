"""Grid and assessment pages and API: the tab, fill then sign, history, access rules (audited
404 for outsiders, audited reads, authorised writes), 422s with French errors naming the field."""

from __future__ import annotations

import json

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.grids import fhir, present
from ptap.grids.demo_grids import HOME_SITUATION
from ptap.grids.models import Assessment, AssessmentAlert, AssessmentGrid
from tests.filings.conftest import api_headers
from tests.grids.conftest import HIGH


def events(db, action: str, patient_id: int | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return list(db.session.scalars(stmt))


def form_of(answers: dict) -> dict:
    return {
        f"a-{k}": ("oui" if v is True else "non" if v is False else v) for k, v in answers.items()
    }


def test_record_links_to_the_tab_and_nav_links_to_grids(client, auth, world):
    auth.login(world.nurse)
    record = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert f'href="/patients/{world.patient.id}/assessments"' in record
    assert 'href="/grids"' in record


def test_fill_autosave_sign_then_history_and_read_only(client, auth, db, world):
    auth.login(world.nurse)
    pid = world.patient.id
    page = client.get(f"/patients/{pid}/assessments").get_data(as_text=True)
    assert "Repérage de la fragilité" in page and "Commencer l'évaluation" in page
    started = auth.post(f"/patients/{pid}/assessments", {"grid_id": str(world.grid.id)})
    assert started.status_code == 302
    assessment = db.session.scalars(sa.select(Assessment)).one()
    fill = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    assert "Signer l'évaluation" in fill and 'name="a-vit-seul"' in fill
    saved = auth.post(
        f"/assessments/{assessment.id}/autosave", {"revision": "0", "a-vit-seul": "oui"}
    )
    assert saved.status_code == 200 and saved.json == {
        "revision": 1,
        "score": 1,
        "band": "",  # no band until every scored item is answered
    }
    stale = auth.post(f"/assessments/{assessment.id}/autosave", {"revision": "0"})
    assert stale.status_code == 409 and "rechargez" in stale.json["error"]
    incomplete = auth.post(
        f"/assessments/{assessment.id}", {"revision": "1", "a-vit-seul": "oui", "action": "sign"}
    )
    assert incomplete.status_code == 422
    text = incomplete.get_data(as_text=True)
    assert "avant de signer" in text and 'href="#a-perte-poids"' in text
    assert 'value="oui" checked' in text  # the input is kept
    signed = auth.post(
        f"/assessments/{assessment.id}", {"revision": "1", **form_of(HIGH), "action": "sign"}
    )
    assert signed.status_code == 302
    db.session.refresh(assessment)
    assert assessment.signed_at is not None and assessment.score == 7
    show = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    assert "Signer" not in show and "Seuil d'alerte atteint" in show
    assert "Évaluation gériatrique rapide" in show  # proposed actions
    again = auth.post(f"/assessments/{assessment.id}", {"revision": "2", "action": "sign"})
    assert again.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AssessmentAlert)) == 1
    history = client.get(f"/patients/{pid}/assessments").get_data(as_text=True)
    assert "Évolution du score" in history and 'data-value="7"' in history
    assert history.count("<h1") == 1  # the patient's name, from _patient_header.html


def test_outsider_gets_the_audited_404_and_reads_are_audited(client, auth, db, world):
    auth.login(world.nurse)
    auth.post(f"/patients/{world.patient.id}/assessments", {"grid_id": str(world.grid.id)})
    assessment = db.session.scalars(sa.select(Assessment)).one()
    reads = len(events(db, "patient.read", world.patient.id))
    client.get(f"/assessments/{assessment.id}")
    assert len(events(db, "patient.read", world.patient.id)) == reads + 1
    auth.post("/logout")
    auth.login(world.outsider)
    for path in (f"/patients/{world.patient.id}/assessments", f"/assessments/{assessment.id}"):
        assert client.get(path).status_code == 404
    denied = [e for e in events(db, "patient.read", world.patient.id) if e.outcome == "denied"]
    assert len(denied) == 2
    refused = auth.post(f"/assessments/{assessment.id}/autosave", {"revision": "0"})
    assert refused.status_code == 404
    headers = api_headers(world.outsider)
    api = client.get(f"/api/v1/patients/{world.patient.id}/assessments", headers=headers)
    assert api.status_code == 404


def test_a_colleague_may_read_but_not_edit_a_draft(client, auth, db, world):
    auth.login(world.nurse)
    auth.post(f"/patients/{world.patient.id}/assessments", {"grid_id": str(world.grid.id)})
    assessment = db.session.scalars(sa.select(Assessment)).one()
    auth.post("/logout")
    auth.login(world.physician)
    page = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    assert "seul son auteur" in page and 'name="a-vit-seul"' not in page
    refused = auth.post(f"/assessments/{assessment.id}/autosave", {"revision": "0"})
    assert refused.status_code == 403


def test_only_coordinators_reach_the_grid_editor(client, auth, db, world):
    auth.login(world.nurse)
    assert client.get("/grids").status_code == 200
    assert "Nouvelle grille" not in client.get("/grids").get_data(as_text=True)
    assert client.get("/grids/new").status_code == 403
    headers = api_headers(world.nurse)
    body = {"key": "x", "definition": HOME_SITUATION}
    assert client.post("/api/v1/grids", json=body, headers=headers).status_code == 403


def test_import_page_previews_then_creates(client, auth, db, world):
    auth.login(world.coord)
    resource = present.grid_questionnaire(world.grid)
    resource["identifier"][0]["value"] = "importee"
    raw = json.dumps(resource)
    preview = auth.post("/grids/import", {"resource": raw})
    assert preview.status_code == 200
    assert "Ce qui sera créé" in preview.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AssessmentGrid)) == 1
    done = auth.post("/grids/import", {"resource": raw, "confirm": "1"})
    assert done.status_code == 302
    resource["item"][0]["item"][0]["repeats"] = True
    refused = auth.post("/grids/import", {"resource": json.dumps(resource), "key": "autre"})
    assert refused.status_code == 422
    assert "élément répétable" in refused.get_data(as_text=True)


def test_api_grids_and_assessments(client, db, world):
    coord, nurse = api_headers(world.coord), api_headers(world.nurse)
    listed = client.get("/api/v1/grids", headers=nurse)
    assert listed.status_code == 200 and listed.json["items"][0]["key"] == "reperage-fragilite"
    broken = {"key": "y", "definition": {**HOME_SITUATION, "score_items": ["absent"]}}
    refused = client.post("/api/v1/grids", json=broken, headers=coord)
    assert refused.status_code == 422
    assert "absent" in json.dumps(refused.json, ensure_ascii=False)
    assert "score_items[0]" in json.dumps(refused.json)
    bad_fhir = {"resource": {"resourceType": "Questionnaire", "status": "nonsense"}}
    refused = client.post("/api/v1/grids/import", json=bad_fhir, headers=coord)
    assert refused.status_code == 422 and "status" in json.dumps(refused.json)
    dry = client.post(
        "/api/v1/grids/import",
        json={"resource": present.grid_questionnaire(world.grid), "key": "z", "dry_run": True},
        headers=coord,
    )
    assert dry.status_code == 201 and dry.json["created_id"] is None and dry.json["items"] == 6
    pid = world.patient.id
    created = client.post(
        f"/api/v1/patients/{pid}/assessments",
        json={"grid_key": "reperage-fragilite"},
        headers=nurse,
    )
    assert created.status_code == 201
    aid = created.json["id"]
    wrong = client.patch(
        f"/api/v1/assessments/{aid}",
        json={"answers": {"sorties": 3}, "revision": 0},
        headers=nurse,
    )
    assert wrong.status_code == 422 and "answers.sorties" in json.dumps(wrong.json)
    saved = client.patch(
        f"/api/v1/assessments/{aid}", json={"answers": HIGH, "revision": 0}, headers=nurse
    )
    assert saved.status_code == 200 and saved.json["score"] == 7
    signed = client.post(f"/api/v1/assessments/{aid}/sign", headers=nurse)
    assert signed.status_code == 200 and signed.json["band_alert"] is True
    assert client.post(f"/api/v1/assessments/{aid}/sign", headers=nurse).status_code == 409
    response = client.get(f"/api/v1/assessments/{aid}/fhir", headers=nurse)
    assert response.mimetype == "application/fhir+json"
    assert (
        fhir.parse_questionnaire_response(response.json, fhir.parse_definition(world.grid.draft))
        == HIGH
    )
    page = client.get(f"/api/v1/patients/{pid}/assessments", headers=nurse)
    assert [a["id"] for a in page.json["items"]] == [aid]


def test_grid_and_assessment_endpoints_are_in_the_openapi_document(client, db):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/grids",
        "/grids/import",
        "/grids/{grid_id}/fhir",
        "/patients/{patient_id}/assessments",
        "/assessments/{assessment_id}/sign",
    ):
        assert any(p.endswith(path) for p in paths), path


def test_a_proposed_action_goes_to_an_objective_of_the_open_plan(client, auth, db, world):
    from ptap.care_plans import services as plan_services
    from ptap.care_plans.content import Objective, PlanContent, load_content
    from ptap.care_teams.models import Enrolment
    from ptap.grids import services
    from tests.grids.conftest import ctx

    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == world.patient.id)
    ).one()
    plan = plan_services.create_plan(world.coord, enrolment, ctx(world.coord))
    content = PlanContent(
        lead_user_id=world.coord.id, objectives=[Objective(key="o1", title="Rester à domicile")]
    )
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, ctx(world.coord))
    assessment = services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))
    services.save_assessment(world.nurse, assessment, world.patient, HIGH, 0, ctx(world.nurse))
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.commit()
    auth.login(world.coord)
    page = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    assert "Ajouter au plan" in page and "Rester à domicile" in page
    added = auth.post(
        f"/assessments/{assessment.id}/plan-actions", {"action": "1", "objective": "o1"}
    )
    assert added.status_code == 302
    db.session.refresh(plan)
    actions = load_content(plan.draft).objectives[0].actions
    assert [a.what for a in actions] == ["Bilan kinésithérapique (équilibre)"]
    auth.post(f"/assessments/{assessment.id}/plan-actions", {"action": "9", "objective": "o1"})
    db.session.refresh(plan)
    assert len(load_content(plan.draft).objectives[0].actions) == 1


def test_a_drafts_partial_score_is_not_shown_as_a_result_to_others(client, db, world):
    """A draft's score is partial (some items unanswered) and may change: its author sees
    the running score; anyone else sees no score until it is signed (pages, API, FHIR)."""
    nurse, physician = api_headers(world.nurse), api_headers(world.physician)
    pid = world.patient.id
    created = client.post(
        f"/api/v1/patients/{pid}/assessments",
        json={"grid_key": "reperage-fragilite"},
        headers=nurse,
    )
    aid = created.json["id"]
    saved = client.patch(
        f"/api/v1/assessments/{aid}", json={"answers": HIGH, "revision": 0}, headers=nurse
    )
    assert saved.json["score"] == 7  # the author's running score
    seen = client.get(f"/api/v1/assessments/{aid}", headers=physician).json
    assert seen["score"] is None and seen["band_label"] == "" and seen["band_alert"] is False
    listed = client.get(f"/api/v1/patients/{pid}/assessments", headers=physician).json
    assert [a["score"] for a in listed["items"]] == [None]
    response = client.get(f"/api/v1/assessments/{aid}/fhir", headers=physician).json
    assert not any(e["url"] == fhir.SCORE for e in response.get("extension", []))
    signed = client.post(f"/api/v1/assessments/{aid}/sign", headers=nurse)
    assert signed.status_code == 200
    assert client.get(f"/api/v1/assessments/{aid}", headers=physician).json["score"] == 7
