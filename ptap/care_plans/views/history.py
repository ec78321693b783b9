"""Ready-made data for the versions: the list, one version read-only, change details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ptap.care_plans import queries
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    ACTION_TYPE_LABELS,
    DIMENSION_LABELS,
    PRIORITY_LABELS,
    Action,
    Objective,
    PlanContent,
    UnmetObjective,
    load_content,
)
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_plans.views.present import (
    approval_rows,
    general_info,
    plan_parts,
    today,
    user_ids,
    who,
)
from ptap.care_plans.views.rows import ApprovalRow, GeneralInfo, PlanParts
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import Patient

# --- versions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    number: int
    author: str
    at: datetime
    summary: str
    current: bool
    approvals: list[ApprovalRow]
    #: "Décidé en concertation du …" for a version a meeting produced, else "".
    provenance: str = ""


def version_rows(plan: CarePlan) -> list[VersionRow]:
    """Return the plan's versions, newest first, with their approvals (two queries)."""
    versions = queries.list_versions(plan.id)
    approvals = queries.approvals_by_version([v.id for v, _ in versions])
    return [
        VersionRow(
            v.number,
            author,
            v.created_at,
            v.change_summary,
            v.id == plan.current_version_id,
            approval_rows(v, approvals.get(v.id, [])),
            v.provenance_label,
        )
        for v, author in versions
    ]


@dataclass(frozen=True)
class VersionPage:
    """A read-only version in the four parts."""

    patient: Patient
    number: int
    current: bool
    general: GeneralInfo
    parts: PlanParts


def version_page(plan: CarePlan, patient: Patient, version: CarePlanVersion) -> VersionPage:
    """Return one published version, read-only, in the four parts."""
    content = load_content(version.content)
    on = today()
    names = team_queries.user_names(user_ids(content, patient.gp_user_id, version.created_by_id))
    return VersionPage(
        patient=patient,
        number=version.number,
        current=version.id == plan.current_version_id,
        general=general_info(plan, patient, content, version, names, on),
        parts=plan_parts(content, names, on),
    )


def content_parts(content: PlanContent) -> PlanParts:
    """Return a content's parts 2 to 4, read-only (the other's version in a conflict)."""
    return plan_parts(content, team_queries.user_names(user_ids(content)), today())


# --- change details ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeDetail:
    """One field of an item present on both sides that differs: before and after."""

    item: str
    field: str
    before: str
    after: str


def _fr(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _fields(item: Any, names: dict[int, str]) -> dict[str, str]:
    """Return the comparable fields of a content item, as French labels and texts."""
    if isinstance(item, Action):
        return {
            "Action": item.what,
            "Type": ACTION_TYPE_LABELS[item.action_type],
            "Qui": who(item, names),
            "Échéance": _fr(item.due_on),
            "Statut": ACTION_STATUS_LABELS[item.status],
            "Motif si non réalisée": item.not_achieved_reason,
        }
    if isinstance(item, Objective):
        return {"Objectif": item.title}
    if isinstance(item, UnmetObjective):
        return {"Objectif non atteint": item.objective, "Pourquoi": item.reason}
    return {
        "Dimension": DIMENSION_LABELS[item.dimension],
        "Problème ou besoin": item.description,
        "Priorité": PRIORITY_LABELS[item.priority],
    }


def change_details(old: PlanContent, new: PlanContent) -> list[ChangeDetail]:
    """Return what changed, field by field, in the items both contents hold (added and
    removed items are listed by queries.compare)."""
    names = team_queries.user_names(sorted({*user_ids(old), *user_ids(new)}))
    details: list[ChangeDetail] = []

    def add(item: str, before: dict[str, str], after: dict[str, str]) -> None:
        for name, value in after.items():
            if before.get(name, "") != value:
                details.append(ChangeDetail(item, name, before.get(name) or "—", value or "—"))

    def general(c: PlanContent) -> dict[str, str]:
        return {
            "Responsable du plan": names.get(c.lead_user_id or 0, ""),
            "Prochaine réévaluation": _fr(c.next_review_on),
            "Attentes de la personne": c.expectations,
            "Préférences de la personne": c.preferences,
        }

    add("Plan", general(old), general(new))
    pairs: list[tuple[str, list[Any], list[Any]]] = [
        ("Problème", old.problems, new.problems),
        ("Objectif", old.objectives, new.objectives),
        ("Action", [a for _, a in old.actions()], [a for _, a in new.actions()]),
        ("Objectif non atteint", old.unmet_objectives, new.unmet_objectives),
    ]
    for kind, before_items, after_items in pairs:
        before = {i.key: i for i in before_items}
        for item in after_items:
            if item.key in before:
                label = _fields(item, names)
                title = next(iter(label.values()))
                add(f"{kind} « {title} »", _fields(before[item.key], names), label)
    return details
