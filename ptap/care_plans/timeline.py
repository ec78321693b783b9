"""Care-plan entries of the patient timeline: publications, the GP's validation, the person's
agreement, the plan coming into force and the actions done.

Two queries whatever the plan's size: the versions (with their content, which says which
actions were done by each) and the approvals; the coming into force is read from the audit
trail (the one place that dates it).
"""

from __future__ import annotations

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.models import AuditEvent, Outcome
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_plans.models import (
    APPROVAL_METHOD_LABELS,
    ApprovalKind,
    CarePlan,
    CarePlanVersion,
    PlanApproval,
)
from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.core.formatting import label
from ptap.extensions import db

PPCS = "Plan personnalisé de coordination"


@register_provider
def care_plan_publications(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per published version, and one per action first done in it."""
    rows = db.session.execute(
        sa.select(CarePlanVersion, User)
        .join(CarePlan, CarePlan.id == CarePlanVersion.plan_id)
        .join(User, User.id == CarePlanVersion.created_by_id)
        .where(CarePlan.patient_id == patient_id)
        .order_by(CarePlanVersion.plan_id, CarePlanVersion.number)
    ).all()
    entries = []
    done_before: set[tuple[int, str]] = set()
    for version, user in rows:
        entries.append(
            TimelineEntry(
                version.created_at,
                "care_plan",
                f"{PPCS} : version {version.number} publiée",
                detail=version.change_summary,
                actor=user.full_name,
            )
        )
        for _, action in load_content(version.content).actions():
            key = (version.plan_id, action.key)
            if action.status == ActionStatus.DONE and key not in done_before:
                done_before.add(key)
                entries.append(
                    TimelineEntry(
                        version.created_at,
                        "care_plan_action",
                        f"Action réalisée : {action.what}",
                        detail=f"Constatée dans la version {version.number} du plan",
                    )
                )
    return entries


@register_provider
def care_plan_approvals(patient_id: int) -> list[TimelineEntry]:
    """Return the GP's validations and the person's agreements of the versions."""
    rows = db.session.execute(
        sa.select(PlanApproval, CarePlanVersion.number, User)
        .join(CarePlanVersion, CarePlanVersion.id == PlanApproval.version_id)
        .join(CarePlan, CarePlan.id == CarePlanVersion.plan_id)
        .join(User, User.id == PlanApproval.recorded_by_id)
        .where(CarePlan.patient_id == patient_id)
    ).all()
    entries = []
    for approval, number, user in rows:
        if approval.kind == ApprovalKind.GP_VALIDATION:
            title = f"{PPCS} : version {number} validée par le médecin"
        else:
            title = f"{PPCS} : accord de la personne recueilli (version {number})"
        method = label(APPROVAL_METHOD_LABELS, approval.method)
        entries.append(
            TimelineEntry(
                approval.recorded_at,
                "care_plan_approval",
                title,
                detail=f"{method}{' — ' + approval.note if approval.note else ''}",
                actor=user.full_name,
            )
        )
    return entries


@register_provider
def care_plan_in_force(patient_id: int) -> list[TimelineEntry]:
    """Return each time the plan came into force (dated by the audit trail)."""
    rows = db.session.execute(
        sa.select(AuditEvent.occurred_at, User)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.patient_id == patient_id,
            AuditEvent.action == "care_plan.activate",
            AuditEvent.outcome == Outcome.SUCCESS,
        )
    ).all()
    return [
        TimelineEntry(at, "care_plan", f"{PPCS} : en vigueur", actor=user.full_name if user else "")
        for at, user in rows
    ]
