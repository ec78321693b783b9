"""Importing a filled grid (FHIR R4 QuestionnaireResponse) for a patient: a DRAFT of the
importing professional's, with the answers checked against the published grid version the
response names; dry_run creates nothing; every refusal is a 422 naming the field; the same
access rules as starting an assessment (outsider: audited 404)."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core.errors import InvalidInput
from ptap.grids import fhir, services
from ptap.grids.demo_grids import HOME_SITUATION
from ptap.grids.models import Assessment
from tests.factories import make_patient, make_user
from tests.filings.conftest import api_headers
from tests.grids.conftest import HIGH, ctx


def count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Assessment))


def events(db, action: str, patient_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.patient_id == patient_id
            )
        )
    )


@pytest.fixture
def exported(client, db, world) -> dict:
    """A signed assessment (score 7) of the patient, exported through the API."""
    assessment = services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))
    services.save_assessment(world.nurse, assessment, world.patient, HIGH, 0, ctx(world.nurse))
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    db.session.commit()
    response = client.get(
        f"/api/v1/assessments/{assessment.id}/fhir", headers=api_headers(world.nurse)
    )
    assert response.status_code == 200 and response.json["status"] == "completed"
    return response.json


def url(world) -> str:
    return f"/api/v1/patients/{world.patient.id}/assessments/import"


def answer_of(resource: dict, link_id: str) -> dict:
    """Return the item of the response answering `link_id` (to mutate it)."""
    for group in resource["item"]:
        for item in group["item"]:
            if item["linkId"] == link_id:
                return item
    raise AssertionError(link_id)


def test_an_exported_response_imports_as_a_draft_with_the_same_answers(client, db, world, exported):
    before = count(db)
    headers = api_headers(world.physician)
    response = client.post(url(world), json={"resource": exported}, headers=headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["grid_key"] == "reperage-fragilite" and body["version"] == 1
    assert body["answers"] == HIGH and body["score"] == 7
    assert body["band_label"] == "Fragilité probable"
    assert count(db) == before + 1
    imported = db.session.get(Assessment, body["created_id"])
    assert imported.status == "draft" and imported.signed_at is None  # never signed for anyone
    assert imported.author_id == world.physician.id  # the importer, not the FHIR author
    assert imported.patient_id == world.patient.id
    assert imported.answers == HIGH and imported.score == 7
    [event] = events(db, "assessment.import", world.patient.id)
    assert event.actor_id == world.physician.id and event.object_id == str(imported.id)
    assert "importé depuis FHIR" in event.reason and "reperage-fragilite v1" in event.reason
    # The importer reviews it in the filling screen, then signs it themself.
    signed = client.post(f"/api/v1/assessments/{imported.id}/sign", headers=headers)
    assert signed.status_code == 200 and signed.json["score"] == 7


def test_a_dry_run_shows_the_plan_and_creates_nothing(client, db, world, exported):
    before = count(db)
    response = client.post(
        url(world),
        json={"resource": exported, "dry_run": True},
        headers=api_headers(world.physician),
    )
    assert response.status_code == 201
    assert response.json["created_id"] is None
    assert response.json["answers"] == HIGH and response.json["score"] == 7
    assert count(db) == before
    assert events(db, "assessment.import", world.patient.id) == []


def test_a_response_without_subject_imports(client, db, world, exported):
    del exported["subject"]
    exported["item"][0]["item"] = exported["item"][0]["item"][:2]  # a partial answer set
    response = client.post(
        url(world), json={"resource": exported}, headers=api_headers(world.nurse)
    )
    assert response.status_code == 201
    assert response.json["answers"] == {"vit-seul": True, "perte-poids": True}
    assert response.json["band_label"] == ""  # no band until every scored item is answered


def _set(path: str, value):
    def mutate(resource, world):
        resource[path] = value(world) if callable(value) else value

    return mutate


def _unknown_item(resource, world):
    resource["item"][0]["item"].append({"linkId": "inconnu", "answer": [{"valueBoolean": True}]})


def _wrong_type(resource, world):
    answer_of(resource, "vit-seul")["answer"] = [{"valueString": "oui"}]


def _unknown_option(resource, world):
    answer_of(resource, "sorties")["answer"] = [{"valueCoding": {"code": "jamais-vu"}}]


def _two_answers(resource, world):
    answer_of(resource, "fatigue")["answer"].append({"valueBoolean": False})


def _other_patient(resource, world):
    other = make_patient(world.team, world.coord)
    resource["subject"] = {"reference": f"Patient/{other.id}"}


Q = fhir.questionnaire_url("reperage-fragilite")
REFUSALS = [
    ("not-a-qr", _set("resourceType", "Questionnaire"), "resource.resourceType", "attendue"),
    ("not-r4", _set("authored", "hier"), "resource.authored", "pas valide"),
    ("no-questionnaire", _set("questionnaire", None), "resource.questionnaire", "grille"),
    ("foreign", _set("questionnaire", "http://x.org/Q/a|1"), "resource.questionnaire", "PTAP"),
    ("no-version", _set("questionnaire", Q), "resource.questionnaire", "version"),
    ("unknown", _set("questionnaire", f"{Q}x|1"), "resource.questionnaire", "inconnue"),
    ("unpublished", _set("questionnaire", f"{Q}|2"), "resource.questionnaire", "pas publiée"),
    ("unknown-item", _unknown_item, "resource.item[0].item[6].linkId", "inconnu"),
    ("wrong-type", _wrong_type, "resource.item[0].item[0].answer[0]", "valueBoolean"),
    ("unknown-option", _unknown_option, ".answer[0]", "options"),
    ("two-answers", _two_answers, "resource.item[0].item[2].answer", "plusieurs"),
    ("other-patient", _other_patient, "resource.subject", "autre patient"),
    ("not-a-patient", _set("subject", {"reference": "Group/3"}), "resource.subject", "patient"),
]


@pytest.mark.parametrize(
    ("mutate", "field", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_response_is_a_422_naming_the_field_and_creates_nothing(
    client, db, world, exported, mutate, field, words
):
    resource = copy.deepcopy(exported)
    mutate(resource, world)
    db.session.commit()
    before = count(db)
    for dry_run in (True, False):
        refused = client.post(
            url(world),
            json={"resource": resource, "dry_run": dry_run},
            headers=api_headers(world.physician),
        )
        assert refused.status_code == 422, refused.json
        assert field in refused.json["field"], refused.json
        assert words in refused.json["detail"], refused.json
    assert count(db) == before
    assert events(db, "assessment.import", world.patient.id) == []


def test_a_retired_grid_and_a_malformed_body_are_refused(client, db, world, exported):
    headers = api_headers(world.physician)
    before = count(db)
    not_json = client.post(
        url(world), data="{pas du json", content_type="application/json", headers=headers
    )
    assert not_json.status_code == 422 and not_json.json["field"] == "body"
    not_object = client.post(url(world), json={"resource": "texte"}, headers=headers)
    assert not_object.status_code == 422 and not_object.json["field"].startswith("resource")
    services.retire_grid(world.coord, world.grid, ctx(world.coord))
    db.session.commit()
    retired = client.post(url(world), json={"resource": exported}, headers=headers)
    assert retired.status_code == 422 and "retirée" in retired.json["detail"]
    assert retired.json["field"] == "resource.questionnaire"
    assert count(db) == before


def test_wrong_role_and_outsider_are_refused_the_outsider_with_an_audited_404(
    client, db, world, exported
):
    before = count(db)
    admin = make_user(role="admin", profession="administrative")
    db.session.commit()
    body = {"resource": exported}
    assert client.post(url(world), json=body, headers=api_headers(admin)).status_code == 403
    outsider = client.post(url(world), json=body, headers=api_headers(world.outsider))
    assert outsider.status_code == 404
    denied = [e for e in events(db, "assessments.fill", world.patient.id) if e.outcome == "denied"]
    assert [e.actor_id for e in denied] == [world.outsider.id]
    read_only = api_headers(world.physician, scopes=("api:read",))
    assert client.post(url(world), json=body, headers=read_only).status_code == 403
    assert count(db) == before


def test_the_import_is_in_the_openapi_document(client, db):
    doc = client.get("/api/v1/openapi.json").json
    [path] = [p for p in doc["paths"] if p.endswith("/patients/{patient_id}/assessments/import")]
    operation = doc["paths"][path]["post"]
    assert "QuestionnaireResponse" in operation["summary"]
    assert "422" in operation["responses"]
    assert json.dumps(operation["requestBody"]).count("AssessmentImport") >= 1


def test_the_evaluations_page_previews_then_creates_the_draft(client, auth, db, world, exported):
    auth.login(world.physician)
    pid = world.patient.id
    page = client.get(f"/patients/{pid}/assessments").get_data(as_text=True)
    assert "Importer une évaluation remplie (FHIR)" in page
    assert f'action="/patients/{pid}/assessments/import"' in page
    raw = json.dumps(exported)
    before = count(db)
    preview = auth.post(f"/patients/{pid}/assessments/import", {"resource": raw})
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Ce qui sera créé" in text
    assert "Fragilité probable" in text and "Créer le brouillon" in text
    assert count(db) == before
    done = auth.post(f"/patients/{pid}/assessments/import", {"resource": raw, "confirm": "1"})
    assert done.status_code == 302
    created = db.session.scalars(sa.select(Assessment).order_by(Assessment.id.desc())).first()
    assert done.headers["Location"].endswith(f"/assessments/{created.id}")
    assert created.status == "draft" and created.author_id == world.physician.id
    fill = client.get(f"/assessments/{created.id}").get_data(as_text=True)
    assert "Signer l'évaluation" in fill  # the importer reviews and signs it


def test_the_evaluations_page_accepts_a_file_and_keeps_a_refused_input(
    client, auth, db, world, exported
):
    auth.login(world.physician)
    pid = world.patient.id
    upload = (io.BytesIO(json.dumps(exported).encode()), "reponse.json")
    preview = auth.post(f"/patients/{pid}/assessments/import", {"upload": upload})
    assert preview.status_code == 200 and "Ce qui sera créé" in preview.get_data(as_text=True)
    exported["questionnaire"] = fhir.questionnaire_url("reperage-fragilite") + "|9"
    before = count(db)
    refused = auth.post(f"/patients/{pid}/assessments/import", {"resource": json.dumps(exported)})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "pas publiée" in text
    assert "|9" in text  # the input is kept
    empty = auth.post(f"/patients/{pid}/assessments/import", {"resource": ""})
    assert empty.status_code == 422 and "Collez la ressource" in empty.get_data(as_text=True)
    assert count(db) == before
    assert events(db, "assessment.import", pid) == []


def _home_response(**answers) -> tuple[dict, object]:
    definition = fhir.parse_definition(HOME_SITUATION)
    full = {
        "logement-obstacles": True,
        "logement-chauffage": False,
        "visite-date": "2026-11-30",
        "entourage": "hebdo",
        "aidant-epuise": True,
        "heures-aide": 4.5,
        "observations": "Voisine présente le matin.",
        **answers,
    }
    resource = fhir.questionnaire_response(
        key="situation-domicile",
        number=1,
        definition=definition,
        answers=full,
        status="signed",
        patient_id=1,
        author_id=1,
        authored=datetime(2026, 11, 30, 9, tzinfo=UTC),
        score=None,
    )
    return resource, definition


def test_every_item_type_reads_back_and_a_partial_date_is_refused():
    resource, definition = _home_response()
    answers = fhir.parse_questionnaire_response(resource, definition)
    assert answers["visite-date"] == "2026-11-30" and answers["heures-aide"] == 4.5
    assert answers["observations"] == "Voisine présente le matin."
    resource["item"][0]["item"][2]["answer"] = [{"valueDate": "2026"}]  # partial: valid FHIR
    with pytest.raises(InvalidInput) as refused:
        fhir.parse_questionnaire_response(resource, definition)
    assert refused.value.field == "resource.item[0].item[2].answer[0]"
    assert "date" in refused.value.message
    resource["item"][0]["item"][2]["answer"] = [{"valueDateTime": "2026-11-30T09:00:00Z"}]
    with pytest.raises(InvalidInput, match="valueDate"):
        fhir.parse_questionnaire_response(resource, definition)
    resource["item"][1]["item"][2]["answer"] = [{"valueInteger": 4}]  # integer for a number
    resource["item"][0]["item"][2]["answer"] = [{"valueDate": "2026-11-30"}]
    assert fhir.parse_questionnaire_response(resource, definition)["heures-aide"] == 4
