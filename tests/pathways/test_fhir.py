"""FHIR PlanDefinition export and import: a valid resource, an equal round trip, refusals."""

from __future__ import annotations

import copy

import pytest
from fhir.resources.R4B.plandefinition import PlanDefinition

from ptap.core.errors import InvalidInput
from ptap.pathways.content import parse_content
from ptap.pathways.fhir import export_plan_definition, import_plan_definition
from ptap.pathways.models import TemplateStatus
from tests.pathways.helpers import heart_failure


def test_export_is_a_valid_plan_definition_with_activity_definitions():
    resource = export_plan_definition(heart_failure(), status=TemplateStatus.PUBLISHED, version=2)
    parsed = PlanDefinition.model_validate(resource)
    assert parsed.status == "active"
    assert parsed.version == "2"
    assert [a.title for a in parsed.action] == ["Consultation de sortie", "Surveillance à domicile"]
    kinds = {c.__resource_type__ for c in parsed.contained}
    assert kinds == {"ActivityDefinition"}
    assert parsed.action[1].relatedAction[0].actionId == "s1"


def test_round_trip_gives_an_equal_template():
    data = heart_failure(sources="HAS 2014\nESC 2021").model_dump(mode="json")
    data["steps"][0]["problems"][0]["priority"] = "high"
    original = parse_content(data)
    again = import_plan_definition(export_plan_definition(original, status=TemplateStatus.DRAFT))
    assert again == original
    assert again.steps[1].grid_key == "nyha"


def _exported():
    return copy.deepcopy(export_plan_definition(heart_failure(), status=TemplateStatus.DRAFT))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.update(resourceType="CarePlan"), "resourceType", "pas une PlanDefinition"),
        (lambda r: r.update(title={"fr": "x"}), "title", "ne se lit pas"),
        (lambda r: r["action"][0].update(timingDuration={"value": "sept"}), "action", "ne se lit"),
        (
            lambda r: r["action"][0].update(condition=[{"kind": "applicability"}]),
            "action[0].condition",
            "PTAP ne sait pas le représenter",
        ),
        (
            lambda r: r["action"][0]["action"][0].update(definitionCanonical="http://x/AD/1"),
            "action[0].action[0].definitionCanonical",
            "définition externe",
        ),
        (
            lambda r: r["contained"][0]["participant"][0]["role"]["coding"][0].update(
                code="sorcier"
            ),
            "steps.0.objectives.0.actions.0.profession",
            "profession inconnue",
        ),
        (
            lambda r: r["action"][0]["timingDuration"].update(value=-2),
            "steps.0.offset_days",
            "ne peut pas être négatif",
        ),
    ],
)
def test_import_refuses_what_does_not_parse_or_fit(change, field, words):
    resource = _exported()
    change(resource)
    with pytest.raises(InvalidInput) as exc:
        import_plan_definition(resource)
    assert exc.value.field.startswith(field)
    assert words in str(exc.value)
