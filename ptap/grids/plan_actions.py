"""Turn an action a signed assessment's band proposes into an action of the patient's plan."""

from __future__ import annotations

from dataclasses import dataclass

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_plans import queries as plan_queries
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, load_content
from ptap.care_plans.models import CarePlan, PlanStatus
from ptap.care_teams.models import Patient
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import can
from ptap.grids import queries
from ptap.grids.models import Assessment, AssessmentStatus
from ptap.grids.present import proposed_actions


@dataclass(frozen=True)
class PlanTarget:
    """The open plan the proposed actions may go to, and its objectives (key, title)."""

    plan_id: int
    objectives: list[tuple[str, str]]


def open_plan(patient: Patient) -> CarePlan | None:
    """Return the patient's plan if it is open (not closed)."""
    plan = plan_queries.find_plan_for_patient(patient.id)
    return plan if plan is not None and plan.status != PlanStatus.CLOSED else None


def plan_target(user: User, patient: Patient) -> PlanTarget | None:
    """Return where the user may add proposed actions (None: no open plan, or not allowed)."""
    plan = open_plan(patient)
    if plan is None or not can(user, "care_plan.edit", plan):
        return None
    objectives = [(o.key, o.title) for o in load_content(plan.draft).objectives]
    return PlanTarget(plan.id, objectives) if objectives else None


def add_proposed_action(
    user: User,
    assessment: Assessment,
    patient: Patient,
    index: int,
    objective_key: str,
    ctx: AuditContext,
) -> Action:
    """Add the signed assessment's proposed action number `index` to an objective of the
    patient's open plan (the plan's own rules decide who may edit it)."""
    if assessment.status != AssessmentStatus.SIGNED:
        raise InvalidInput("Signez l'évaluation avant d'en reprendre les actions.")
    definition = queries.version_definition(assessment.grid_version_id)
    actions = proposed_actions(definition, assessment.band_label)
    if not 0 <= index < len(actions):
        raise InvalidInput("Action proposée introuvable.", field="action")
    plan = open_plan(patient)
    if plan is None:
        raise NotFound("Ce patient n'a pas de plan personnalisé ouvert.")
    action = plan_services.add_action(user, plan, objective_key, Action(what=actions[index]), ctx)
    record_event(
        ctx,
        "assessment.to_plan_action",
        object_type="assessment",
        object_id=assessment.id,
        patient_id=patient.id,
        reason=f"care plan {plan.id}",
    )
    return action
