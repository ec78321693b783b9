"""FHIR R4 PlanDefinition (with contained ActivityDefinitions) export and import of templates.

Mapping (lossless for what PTAP holds, so export → import gives an equal template):
- PlanDefinition: `title`, `topic[0].text` = theme, `usage` = who it is for,
  `relatedArtifact[0]` (citation) = sources, `type` = clinical-protocol, `status` from the
  template's lifecycle, `goal[]` = the steps' objectives (id = the objective's key).
- one top-level `action` per step (id = step key, `title`): `timingDuration` (days) counts from
  the pathway's start; `relatedAction` [{actionId: previous step, relationship "after-end",
  offsetDuration}] counts from the previous step. `reason[]` = the step's problems (id = key,
  text, codings for dimension and goal-priority), `goalId` = its objectives in order.
- one sub-action per PPCS action (id = key, `goalId` = its objective, `definitionCanonical`
  "#<contained ActivityDefinition>"), the ActivityDefinition carrying `title` (what), `code`
  (action type) and `participant[0].role` (the profession, PTAP code system).
- an assessment grid: a sub-action whose `definitionCanonical` is the grid's Questionnaire
  canonical URL, as ptap.grids.fhir exports it (`questionnaire_url`; an imported `|version`
  suffix is accepted); the import resolves it to an existing grid (services.check_grids).

Import parses with fhir.resources R4B models (CarePlan-era R4 structures are unchanged here)
and refuses, naming the element, what PTAP cannot represent (conditions, triggers, other
timings, external definitions, actions without an objective, unknown professions).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.plandefinition import PlanDefinition
from pydantic import ValidationError

from ptap.core.errors import InvalidInput
from ptap.grids.fhir import grid_key_from_canonical, questionnaire_url
from ptap.pathways.content import OffsetFrom, TemplateContent, parse_content
from ptap.pathways.models import TemplateStatus

PTAP_FHIR = "https://ptap.example/fhir"
DIMENSION_SYSTEM = f"{PTAP_FHIR}/CodeSystem/problem-dimension"
ACTION_TYPE_SYSTEM = f"{PTAP_FHIR}/CodeSystem/action-type"
PROFESSION_SYSTEM = f"{PTAP_FHIR}/CodeSystem/profession"
PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-priority"
PLAN_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
UCUM = "http://unitsofmeasure.org"
_STATUS = {
    TemplateStatus.DRAFT: "draft",
    TemplateStatus.PUBLISHED: "active",
    TemplateStatus.RETIRED: "retired",
}


def _days(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "jours", "system": UCUM, "code": "d"}


def export_plan_definition(
    content: TemplateContent, *, status: TemplateStatus, version: int | None = None
) -> dict[str, Any]:
    """Return the PlanDefinition (JSON-ready dict) of a template content."""
    contained: list[dict[str, Any]] = []
    goals: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    previous = ""
    for step in content.steps:
        subs: list[dict[str, Any]] = []
        for objective in step.objectives:
            goals.append({"id": objective.key, "description": {"text": objective.title}})
            for action in objective.actions:
                contained.append(
                    {
                        "resourceType": "ActivityDefinition",
                        "id": f"ad-{action.key}",
                        "status": _STATUS[status],
                        "title": action.what,
                        "code": {
                            "coding": [{"system": ACTION_TYPE_SYSTEM, "code": action.action_type}]
                        },
                        "participant": [
                            {
                                "type": "practitioner",
                                "role": {
                                    "coding": [
                                        {"system": PROFESSION_SYSTEM, "code": action.profession}
                                    ],
                                    "text": action.profession_label,
                                },
                            }
                        ],
                    }
                )
                subs.append(
                    {
                        "id": action.key,
                        "title": action.what,
                        "goalId": [objective.key],
                        "definitionCanonical": f"#ad-{action.key}",
                    }
                )
        if step.grid_key:
            subs.append(
                {
                    "title": "Grille d'évaluation à remplir",
                    "definitionCanonical": questionnaire_url(step.grid_key),
                }
            )
        item: dict[str, Any] = {"id": step.key, "title": step.title}
        if step.offset_from == OffsetFrom.PREVIOUS and previous:
            item["relatedAction"] = [
                {
                    "actionId": previous,
                    "relationship": "after-end",
                    "offsetDuration": _days(step.offset_days),
                }
            ]
        else:
            item["timingDuration"] = _days(step.offset_days)
        if step.problems:
            item["reason"] = [
                {
                    "id": p.key,
                    "text": p.description,
                    "coding": [
                        {"system": DIMENSION_SYSTEM, "code": p.dimension},
                        {"system": PRIORITY_SYSTEM, "code": f"{p.priority}-priority"},
                    ],
                }
                for p in step.problems
            ]
        if step.objectives:
            item["goalId"] = [o.key for o in step.objectives]
        if subs:
            item["action"] = subs
        actions.append(item)
        previous = step.key
    resource: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "status": _STATUS[status],
        "title": content.title,
        "type": {"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "clinical-protocol"}]},
    }
    if version is not None:
        resource["version"] = str(version)
    if content.theme:
        resource["topic"] = [{"text": content.theme}]
    if content.audience:
        resource["usage"] = content.audience
    if content.sources:
        resource["relatedArtifact"] = [{"type": "citation", "citation": content.sources}]
    if contained:
        resource["contained"] = contained
    if goals:
        resource["goal"] = goals
    if actions:
        resource["action"] = actions
    return resource


class Unrepresentable(InvalidInput):
    """A valid FHIR resource using something PTAP templates cannot hold."""


def _refuse(where: str, what: str) -> Unrepresentable:
    return Unrepresentable(f"{where} : {what} — PTAP ne sait pas le représenter.", field=where)


def _code(concept: Any, system: str) -> str | None:
    for coding in (concept.coding or []) if concept is not None else []:
        if coding.system == system:
            return str(coding.code)
    return None


def _duration_days(duration: Any, where: str) -> int:
    if duration is None or duration.value is None:
        raise _refuse(where, "un délai sans valeur")
    if (duration.code or "d") != "d":
        raise _refuse(where, f"un délai en « {duration.code} » (seuls les jours sont admis)")
    if duration.value != int(duration.value):
        raise _refuse(where, "un délai en jours non entier")
    return int(duration.value)


_UNSUPPORTED = ("condition", "trigger", "dynamicValue", "input", "output", "transform")
_OTHER_TIMINGS = ("timingAge", "timingDateTime", "timingPeriod", "timingRange", "timingTiming")


def _check_supported(action: Any, where: str) -> None:
    for name in _UNSUPPORTED:
        if getattr(action, name, None):
            raise _refuse(f"{where}.{name}", f"l'élément « {name} »")
    for name in _OTHER_TIMINGS:
        if getattr(action, name, None):
            raise _refuse(f"{where}.{name}", "un délai autre qu'une durée en jours")


def _activity(resource: PlanDefinition, canonical: str, where: str) -> Any:
    if not canonical.startswith("#"):
        raise _refuse(where, f"une définition externe « {canonical} »")
    for item in resource.contained or []:
        if item.id == canonical[1:] and item.__resource_type__ == "ActivityDefinition":
            return item
    raise _refuse(where, f"une définition « {canonical} » absente des ressources contenues")


def _step(resource: PlanDefinition, index: int, action: Any, goals: dict[str, str]) -> dict:
    where = f"action[{index}]"
    _check_supported(action, where)
    step: dict[str, Any] = {"title": action.title or "", "grid_key": None}
    if action.id:
        step["key"] = action.id
    related = action.relatedAction or []
    if related:
        if len(related) > 1 or related[0].relationship != "after-end" or index == 0:
            raise _refuse(
                f"{where}.relatedAction", "un enchaînement autre que « après l'étape précédente »"
            )
        step["offset_from"] = OffsetFrom.PREVIOUS
        step["offset_days"] = _duration_days(related[0].offsetDuration, f"{where}.relatedAction")
    else:
        step["offset_days"] = _duration_days(action.timingDuration, f"{where}.timingDuration")
    step["problems"] = [
        {
            "key": reason.id,
            "description": reason.text or "",
            "dimension": _code(reason, DIMENSION_SYSTEM) or "medical",
            "priority": (_code(reason, PRIORITY_SYSTEM) or "medium-priority").removesuffix(
                "-priority"
            ),
        }
        for reason in action.reason or []
    ]
    for problem in step["problems"]:
        if problem["key"] is None:
            del problem["key"]
    objectives: dict[str, dict[str, Any]] = {
        key: {"key": key, "title": goals.get(key, ""), "actions": []} for key in action.goalId or []
    }
    for j, sub in enumerate(action.action or []):
        sub_where = f"{where}.action[{j}]"
        _check_supported(sub, sub_where)
        if sub.action:
            raise _refuse(sub_where, "des actions imbriquées sur plus de deux niveaux")
        canonical = sub.definitionCanonical or ""
        grid_key = grid_key_from_canonical(canonical)
        if grid_key is not None:
            if step["grid_key"] not in (None, grid_key):
                raise _refuse(
                    f"{sub_where}.definitionCanonical", "plusieurs grilles pour une étape"
                )
            step["grid_key"] = grid_key
            continue
        if not sub.goalId or sub.goalId[0] not in goals:
            raise _refuse(f"{sub_where}.goalId", "une action rattachée à aucun objectif")
        goal = sub.goalId[0]
        objectives.setdefault(goal, {"key": goal, "title": goals[goal], "actions": []})
        definition = _activity(resource, canonical, f"{sub_where}.definitionCanonical")
        role = definition.participant[0].role if definition.participant else None
        profession = _code(role, PROFESSION_SYSTEM)
        if profession is None:
            raise _refuse(
                f"{sub_where}.definitionCanonical",
                "une action sans profession (participant.role, système PTAP)",
            )
        item = {
            "what": definition.title or sub.title or "",
            "action_type": _code(definition.code, ACTION_TYPE_SYSTEM) or "other",
            "profession": profession,
        }
        if sub.id:
            item["key"] = sub.id
        objectives[goal]["actions"].append(item)
    step["objectives"] = list(objectives.values())
    return step


def import_plan_definition(data: Any) -> TemplateContent:
    """Parse a FHIR R4 PlanDefinition into a template content; refuse in French what PTAP
    cannot represent, naming the element (InvalidInput, `field` = the FHIR path)."""
    if not isinstance(data, dict) or data.get("resourceType") != "PlanDefinition":
        raise InvalidInput(
            "La ressource n'est pas une PlanDefinition FHIR (resourceType).", field="resourceType"
        )
    try:
        resource = PlanDefinition.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(p) for p in error["loc"]) or "PlanDefinition"
        raise InvalidInput(
            f"La PlanDefinition FHIR ne se lit pas : élément « {path} » invalide.", field=path
        ) from None
    goals = {
        goal.id: (goal.description.text or "") if goal.description else ""
        for goal in resource.goal or []
        if goal.id
    }
    for i, goal in enumerate(resource.goal or []):
        if not goal.id:
            raise _refuse(f"goal[{i}].id", "un objectif sans identifiant")
    related = resource.relatedArtifact or []
    content = {
        "title": resource.title or resource.name or "",
        "theme": (resource.topic[0].text or "") if resource.topic else "",
        "audience": resource.usage or "",
        "sources": "\n".join(a.citation or a.display or "" for a in related).strip(),
        "steps": [
            _step(resource, i, action, goals) for i, action in enumerate(resource.action or [])
        ],
    }
    return parse_content(content)
