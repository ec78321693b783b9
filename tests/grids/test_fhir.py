"""FHIR R4: grids as Questionnaires and assessments as QuestionnaireResponses, both validated
with the fhir.resources R4B models; imports refuse, with the reason, what PTAP cannot hold."""

from __future__ import annotations

import copy

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from ptap.core.errors import InvalidInput
from ptap.grids import fhir, present, queries, services
from ptap.grids.definition import parse_definition
from ptap.grids.demo_grids import DEMO_GRIDS
from ptap.grids.models import AssessmentGrid
from tests.grids.conftest import HIGH, ctx


@pytest.mark.parametrize(("key", "raw"), DEMO_GRIDS)
def test_round_trip_gives_an_equal_grid(key, raw):
    definition = parse_definition(raw)
    resource = fhir.questionnaire(key, definition, 3, "published")
    Questionnaire.model_validate(resource)  # valid R4(B)
    assert resource["status"] == "active" and resource["version"] == "3"
    plan = fhir.parse_questionnaire(resource)
    assert plan.key == key
    assert plan.definition == definition
    assert plan.definition.content_hash() == definition.content_hash()


def test_imported_grid_equals_the_exported_one_through_the_database(db, world):
    resource = present.grid_questionnaire(world.grid)
    copy_of = copy.deepcopy(resource)
    copy_of["identifier"][0]["value"] = "copie"
    grid = services.import_grid(world.coord, copy_of, "", ctx(world.coord))
    assert grid.key == "copie" and grid.status == "draft"
    original = queries.find_current_version(world.grid).definition
    assert grid.draft == original


def test_a_response_is_valid_fhir_and_reads_back_to_the_same_answers(db, world):
    assessment = services.start_assessment(world.nurse, world.patient, world.grid, ctx(world.nurse))
    services.save_assessment(world.nurse, assessment, world.patient, HIGH, 0, ctx(world.nurse))
    services.sign_assessment(world.nurse, assessment, world.patient, ctx(world.nurse))
    resource = present.assessment_response(assessment)
    QuestionnaireResponse.model_validate(resource)
    assert resource["status"] == "completed"
    assert resource["extension"][0]["valueInteger"] == 7
    definition = queries.version_definition(assessment.grid_version_id)
    assert fhir.parse_questionnaire_response(resource, definition) == HIGH


def _base() -> dict:
    key, raw = DEMO_GRIDS[1]
    return fhir.questionnaire(key, parse_definition(raw), 1, "published")


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda q: q["item"][0]["item"][0].update(
                enableWhen=[{"question": "x", "operator": "exists", "answerBoolean": True}]
            ),
            "resource.item[0].item[0].enableWhen",
            "question conditionnelle",
        ),
        (
            lambda q: q["item"][0]["item"][0].update(repeats=True),
            "resource.item[0].item[0].repeats",
            "répétable",
        ),
        (
            lambda q: q["item"][0]["item"][0].update(type="quantity"),
            "resource.item[0].item[0].type",
            "« quantity »",
        ),
        (
            lambda q: (
                q["item"][0]["item"][5].pop("answerOption"),
                q["item"][0]["item"][5].update(answerValueSet="http://x/vs"),
            ),
            "resource.item[0].item[5].answerValueSet",
            "answerValueSet",
        ),
        (
            lambda q: q["item"][0]["item"].append(
                {
                    "linkId": "g",
                    "type": "group",
                    "text": "G",
                    "item": [{"linkId": "z", "type": "boolean", "text": "Z"}],
                }
            ),
            "resource.item[0].item[6]",
            "groupe dans un groupe",
        ),
    ],
)
def test_import_refuses_what_ptap_cannot_represent_with_the_reason(mutate, field, words):
    resource = _base()
    mutate(resource)
    with pytest.raises(InvalidInput) as caught:
        fhir.parse_questionnaire(resource)
    assert caught.value.field == field
    assert "PTAP ne sait pas représenter" in caught.value.message and words in caught.value.message


def test_a_resource_that_does_not_parse_is_refused_naming_the_element():
    resource = _base()
    resource["item"][0]["item"][0]["required"] = "peut-être"
    with pytest.raises(InvalidInput) as caught:
        fhir.parse_questionnaire(resource)
    assert "n'est pas valide" in caught.value.message
    assert caught.value.field.startswith("resource.item")
    with pytest.raises(InvalidInput) as caught:
        fhir.parse_questionnaire({"resourceType": "Patient"})
    assert caught.value.field == "resource.resourceType"


def test_a_score_referencing_a_missing_item_in_an_import_is_refused(db, world):
    resource = _base()
    resource["extension"].append({"url": fhir.SCORE_ITEM, "valueString": "absent"})
    with pytest.raises(InvalidInput) as caught:
        services.import_grid(world.coord, resource, "autre", ctx(world.coord))
    assert "« absent », qui n'existe pas" in caught.value.message
    db.session.rollback()
    assert db.session.query(AssessmentGrid).filter_by(key="autre").count() == 0
