"""Who may do what with care plans; rules registered in the core policy."""

from __future__ import annotations

from typing import Any

from ptap.care_plans.models import CarePlan, PlanStatus
from ptap.care_teams import access
from ptap.care_teams.models import Patient, TeamRole
from ptap.core.policy import Actor, is_clinician, rule
from ptap.extensions import db

#: Bases that make someone part of the team around the patient (not an emergency visitor).
CIRCLE_BASES = frozenset(
    {
        access.AccessBasis.MEMBER,
        access.AccessBasis.INVITED,
        access.AccessBasis.ENROLLING_COORDINATOR,
    }
)


def _patient(plan: CarePlan) -> Patient | None:
    return db.session.get(Patient, plan.patient_id)


def _basis(user: Actor, plan: CarePlan | None) -> access.AccessBasis | None:
    if plan is None or not is_clinician(user):
        return None
    patient = _patient(plan)
    return access.access_basis(user.id, patient) if patient is not None else None


def _coordinates(user: Actor, plan: CarePlan) -> bool:
    patient = _patient(plan)
    return patient is not None and access.coordinates_patient(user.id, patient)


@rule("tasks.list")
def _list_tasks(user: Actor, _obj: Any) -> bool:
    return is_clinician(user)


@rule("care_plan.read")
def _read(user: Actor, plan: CarePlan | None) -> bool:
    return _basis(user, plan) is not None


@rule("care_plan.edit")
def _edit(user: Actor, plan: CarePlan | None) -> bool:
    """Edit the draft: the circle (not emergency visitors), while the plan is open."""
    if plan is None or plan.status == PlanStatus.CLOSED:
        return False
    return _basis(user, plan) in CIRCLE_BASES


@rule("care_plan.publish")
def _publish(user: Actor, plan: CarePlan | None) -> bool:
    """Publish versions and move the lifecycle: the patient's coordinators and the plan lead."""
    if plan is None or plan.status == PlanStatus.CLOSED or _basis(user, plan) not in CIRCLE_BASES:
        return False
    lead = (plan.draft or {}).get("lead_user_id")
    return lead == user.id or _coordinates(user, plan)


@rule("care_plan.validate")
def _validate(user: Actor, plan: CarePlan | None) -> bool:
    """Record the GP's validation: a physician of the circle."""
    if plan is None or _basis(user, plan) not in CIRCLE_BASES:
        return False
    return getattr(user, "profession", "") == "physician"


@rule("care_plan.record_agreement")
def _record_agreement(user: Actor, plan: CarePlan | None) -> bool:
    """Record the patient's agreement: the patient's coordinators."""
    return plan is not None and _basis(user, plan) in CIRCLE_BASES and _coordinates(user, plan)


@rule("care_plan.list_to_define")
def _list_to_define(user: Actor, _obj: Any) -> bool:
    """The "Actions à définir" list: clinicians who coordinate a team today."""
    if not is_clinician(user):
        return False
    teams = access.active_team_ids(user.id, role=TeamRole.COORDINATOR)
    return db.session.scalar(teams.limit(1)) is not None
