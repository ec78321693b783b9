"""Ready-made data for the grid and assessment pages and the FHIR downloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ptap.core.formatting import label
from ptap.grids import fhir, queries
from ptap.grids.definition import (
    ITEM_TYPE_LABELS,
    GridDefinition,
    Item,
    ItemType,
    band_for,
    compute_score,
    parse_definition,
)
from ptap.grids.models import Assessment, AssessmentGrid
from ptap.grids.queries import AssessmentRow
from ptap.grids.schemas import AssessmentImportOut, GridImportOut
from ptap.grids.services import AssessmentImportPlan


def import_summary(plan: fhir.ImportPlan, created_id: int | None) -> GridImportOut:
    """Return what an import creates."""
    definition = plan.definition
    return GridImportOut(
        key=plan.key,
        title=definition.title,
        sections=len(definition.sections),
        items=len(definition.items()),
        score_items=list(definition.score_items),
        thresholds=[t.label for t in definition.thresholds],
        created_id=created_id,
    )


def assessment_import_summary(
    plan: AssessmentImportPlan, created_id: int | None
) -> AssessmentImportOut:
    """Return what an assessment import creates."""
    _, band = live_band(plan.definition, plan.answers)
    return AssessmentImportOut(
        grid_key=plan.grid.key,
        grid_title=plan.grid.title,
        version=plan.version.number,
        answers=plan.answers,
        score=plan.score,
        band_label=band,
        created_id=created_id,
    )


def grid_questionnaire(grid: AssessmentGrid) -> dict[str, Any]:
    """Return the grid's version in force (or its draft before any) as a Questionnaire."""
    version = queries.find_current_version(grid)
    if version is None:
        return fhir.questionnaire(grid.key, parse_definition(grid.draft), 0, grid.status)
    return fhir.questionnaire(
        grid.key, parse_definition(version.definition), version.number, grid.status
    )


def assessment_response(assessment: Assessment) -> dict[str, Any]:
    """Return the assessment as a QuestionnaireResponse."""
    version = queries.get_version(assessment.grid_version_id)
    grid = queries.get_grid(assessment.grid_id)
    return fhir.questionnaire_response(
        key=grid.key,
        number=version.number,
        definition=parse_definition(version.definition),
        answers=assessment.answers,
        status=assessment.status,
        patient_id=assessment.patient_id,
        author_id=assessment.author_id,
        authored=assessment.signed_at or assessment.updated_at,
        score=assessment.score if assessment.status == "signed" else None,
    )


@dataclass(frozen=True)
class ItemView:
    """One question of the filling screen, with its answer as text for read-only pages."""

    key: str
    label: str
    type: str
    required: bool
    options: list[tuple[str, str]]
    value: Any
    shown: str
    points: str
    help: str = ""


def _shown(item: Item, value: Any) -> str:
    if value is None:
        return "—"
    if item.type == ItemType.YESNO:
        return "Oui" if value else "Non"
    if item.type == ItemType.CHOICE:
        return next((o.label for o in item.options if o.code == value), str(value))
    if item.type == ItemType.DATE:
        year, month, day = str(value).split("-")
        return f"{day}/{month}/{year}"
    return str(value).replace(".", ",") if item.type == ItemType.NUMBER else str(value)


def _points(item: Item, definition: GridDefinition) -> str:
    if item.key not in definition.score_items:
        return ""
    if item.type == ItemType.YESNO:
        return f"oui : {item.points_yes} pt, non : {item.points_no} pt"
    return ", ".join(f"{o.label} : {o.points} pt" for o in item.options)


def sections(definition: GridDefinition, answers: dict[str, Any]) -> list[tuple[str, list]]:
    """Return the sections with their items ready for the filling and reading pages."""
    return [
        (
            section.title,
            [
                ItemView(
                    key=i.key,
                    label=i.label,
                    type=i.type,
                    required=i.required,
                    options=[(o.code, o.label) for o in i.options],
                    value=answers.get(i.key),
                    shown=_shown(i, answers.get(i.key)),
                    points=_points(i, definition),
                    help=i.help,
                )
                for i in section.items
            ],
        )
        for section in definition.sections
    ]


def live_band(definition: GridDefinition, answers: dict[str, Any]) -> tuple[int | None, str]:
    """Return the current score and its band label (for a draft: no band until every scored
    item is answered, so a half-filled grid never reads as reassuring)."""
    score = compute_score(definition, answers)
    if any(key not in answers for key in definition.score_items):
        return score, ""
    band = band_for(definition, score)
    return score, band.label if band else ""


def proposed_actions(definition: GridDefinition, band_label: str) -> list[str]:
    """Return the actions the band of a signed assessment proposes for the plan."""
    band = next((t for t in definition.thresholds if t.label == band_label), None)
    return list(band.actions) if band else []


@dataclass(frozen=True)
class GridHistory:
    """One grid's signed assessments of a patient, oldest first (the chart's table)."""

    grid_id: int
    title: str
    rows: list[AssessmentRow]


def histories(rows: list[AssessmentRow]) -> list[GridHistory]:
    """Group the signed assessments by grid, oldest first, for the score-over-time charts."""
    by_grid: dict[int, GridHistory] = {}
    for row in reversed(rows):
        if row.status != "signed" or row.score is None:
            continue
        history = by_grid.setdefault(row.grid_id, GridHistory(row.grid_id, row.grid_title, []))
        history.rows.append(row)
    return list(by_grid.values())


def type_label(kind: str) -> str:
    """Return the French label of an item type."""
    return label(ITEM_TYPE_LABELS, kind)
