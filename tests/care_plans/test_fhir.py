"""FHIR R4 export of a version: a valid Bundle, INS and RPPS identifiers, statuses, references.

fhir.resources 8 ships no R4 (4.0.1) package any more: its `R4B` (4.3.0) models are used to
validate, and CarePlan, Goal, Condition, CareTeam, Patient, Practitioner, Organization and
Provenance are unchanged between R4 and R4B.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_plans.fhir import RPPS_SYSTEM, version_bundle
from tests.care_plans.test_documents import (  # noqa: F401 - fixture
    PlanWorld,
    build_plan,
    headers,
)
from tests.factories import make_user


@pytest.fixture
def world(db) -> PlanWorld:
    return build_plan()


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def only(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    (resource,) = resources(bundle, kind)
    return resource


def references(value: Any) -> Iterator[str]:
    """Every `reference` string anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def test_bundle_validates_and_every_reference_resolves(world):
    bundle = version_bundle(world.version)
    Bundle.model_validate(bundle)  # raises on any invalid element
    assert bundle["type"] == "collection"
    assert bundle["entry"][0]["resource"]["resourceType"] == "CarePlan"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    found = list(references(bundle))
    assert found and set(found) <= set(full_urls)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == {
        "CarePlan",
        "Patient",
        "Practitioner",
        "Organization",
        "CareTeam",
        "Condition",
        "Goal",
        "Provenance",
    }
    assert json.loads(json.dumps(bundle)) == bundle  # plain JSON data


def test_export_is_stable(world):
    first, second = version_bundle(world.version), version_bundle(world.version)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_patient_carries_the_ins_names_and_birth_date(world):
    patient = only(version_bundle(world.version), "Patient")
    ins = patient["identifier"][0]
    assert ins["system"] == f"urn:oid:{world.patient.ins_oid}"
    assert ins["value"] == world.patient.ins_matricule
    assert ins["type"]["coding"][0]["code"] == "INS-NIR"
    assert patient["name"][0] == {
        "use": "official",
        "family": "DUPONT",
        "given": ["Jeanne", "Marie"],
    }
    assert patient["name"][1]["family"] == "MARTIN"
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1940-05-12"
    assert patient["generalPractitioner"][0]["display"] == world.gp.full_name


@pytest.mark.parametrize(
    ("month", "day", "expected"),
    [(5, None, "1940-05"), (None, None, "1940"), (5, 12, "1940-05-12")],
)
def test_partial_birth_dates(db, month, day, expected):
    world = build_plan(birth_month=month, birth_day=day)
    bundle = version_bundle(world.version)
    Bundle.model_validate(bundle)
    assert only(bundle, "Patient")["birthDate"] == expected


def test_identity_not_qualified_travels_without_ins(db):
    world = build_plan(status="provisional", identity_check_method="", sex="I")
    patient = only(version_bundle(world.version), "Patient")
    systems = {i["system"] for i in patient["identifier"]}
    assert not any(s.startswith("urn:oid:1.2.250.1.213.1.4.") for s in systems)
    assert patient["gender"] == "unknown"


def test_practitioners_and_care_team(world):
    bundle = version_bundle(world.version)
    by_rpps = {
        i["value"]: p
        for p in resources(bundle, "Practitioner")
        for i in p["identifier"]
        if i["system"] == RPPS_SYSTEM
    }
    assert set(by_rpps) == {"8" + world.gp.rpps, "8" + world.kine.rpps}
    assert by_rpps["8" + world.gp.rpps]["name"][0]["family"] == world.gp.last_name
    team = only(bundle, "CareTeam")
    members = {p["member"]["display"] for p in team["participant"]}
    assert members == {world.coord.full_name, world.gp.full_name, world.kine.full_name}
    assert team["name"] == "Croix-Rousse"


def test_conditions_goals_and_activities(world):
    bundle = version_bundle(world.version)
    urls = {id(e["resource"]): e["fullUrl"] for e in bundle["entry"]}
    conditions = resources(bundle, "Condition")
    falls = next(c for c in conditions if c["code"]["text"] == "Chutes répétées à domicile")
    assert falls["category"][1]["coding"][0]["code"] == "medical"
    assert falls["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "high"
    goals = {g["description"]["text"]: g for g in resources(bundle, "Goal")}
    assert goals["Prévenir les chutes"]["addresses"] == [{"reference": urls[id(falls)]}]
    assert goals["Prévenir les chutes"]["lifecycleStatus"] == "proposed"  # plan not in force
    unmet = goals["Reprendre la marche au parc"]
    assert unmet["lifecycleStatus"] == "completed"
    assert unmet["achievementStatus"]["coding"][0]["code"] == "not-achieved"
    assert unmet["note"] == [{"text": "Douleurs de hanche"}]
    plan = only(bundle, "CarePlan")
    details = {a["detail"]["description"]: a["detail"] for a in plan["activity"]}
    assert {d["description"]: d["status"] for d in details.values()} == {
        "Bilan de kinésithérapie": "not-started",
        "Adapter le traitement diurétique": "in-progress",
        "Installer une téléassistance": "completed",
        "Atelier équilibre": "cancelled",
        "Portage des repas": "stopped",
    }
    assert details["Portage des repas"]["statusReason"] == {"text": "Refus de la personne"}
    bilan = details["Bilan de kinésithérapie"]
    assert bilan["scheduledPeriod"] == {"end": "2026-02-01"}
    assert bilan["performer"][0]["display"] == world.kine.full_name
    assert bilan["code"]["text"] == "Soin"
    assert details["Installer une téléassistance"]["performer"] == [{"display": "CCAS de Lyon"}]
    assert "performer" not in details["Atelier équilibre"]


def test_care_plan_version_and_status_follow_the_lifecycle(world):
    plan = only(version_bundle(world.version), "CarePlan")
    # Validated by the GP, the patient has not agreed yet: a published proposal, not a draft.
    assert (plan["status"], plan["intent"]) == ("active", "proposal")
    assert plan["note"][0] == {
        "text": "Statut du plan dans PTAP : "
        "Validée par le médecin, en attente de l'accord de la personne."
    }
    assert plan["meta"]["versionId"] == "1"
    assert {
        "system": "https://ptap.example/fhir/care-plan-version",
        "value": f"{world.plan.id}-1",
    } in plan["identifier"]
    assert plan["period"]["end"] == "2027-06-01"
    services.record_approval(world.coord, world.plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(world.coord, world.plan, SYSTEM)
    active = version_bundle(world.version)
    assert (only(active, "CarePlan")["status"], only(active, "CarePlan")["intent"]) == (
        "active",
        "plan",
    )
    assert len(resources(active, "Provenance")) == 2
    # A follow-up version replaces version 1, which is then revoked.
    content = load_content(world.plan.draft)
    content.objectives[0].actions[0].status = ActionStatus.DONE
    services.save_draft(world.coord, world.plan, content, world.plan.draft_revision, SYSTEM)
    v2 = services.publish_version(world.coord, world.plan, "Suivi", SYSTEM)
    assert v2 is not None
    assert only(version_bundle(world.version), "CarePlan")["status"] == "revoked"
    assert only(version_bundle(v2), "CarePlan")["status"] == "active"
    services.close_plan(world.coord, world.plan, "Objectifs atteints", SYSTEM)
    assert only(version_bundle(v2), "CarePlan")["status"] == "completed"


# --- endpoint ------------------------------------------------------------------------------------


def fhir_url(world: PlanWorld, number: int = 1) -> str:
    return f"/api/v1/patients/{world.patient.id}/care-plan/versions/{number}/fhir"


def test_member_gets_the_fhir_bundle(client, world):
    response = client.get(fhir_url(world), headers=headers(world.kine))
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    bundle = json.loads(response.get_data(as_text=True))
    Bundle.model_validate(bundle)
    assert only(bundle, "Patient")["identifier"][0]["value"] == world.patient.ins_matricule


def test_fhir_refusals(client, world):
    outsider = client.get(fhir_url(world), headers=headers(world.outsider))
    assert outsider.status_code == 404
    assert "DUPONT" not in outsider.get_data(as_text=True)
    assert client.get(fhir_url(world, 9), headers=headers(world.kine)).status_code == 404
    for role, profession in (("admin", "administrative"), ("ars_analyst", "public_health")):
        user = make_user(role=role, profession=profession)
        response = client.get(fhir_url(world), headers=headers(user))
        assert response.status_code == 403
        assert "DUPONT" not in response.get_data(as_text=True)
