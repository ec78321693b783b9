"""Boundary helper: load a patient's plan through need-to-know (404 for outsiders)."""

from __future__ import annotations

from flask_login import current_user

from ptap.care_plans.models import CarePlan
from ptap.care_plans.queries import find_plan_for_patient
from ptap.care_teams.loaders import load_patient
from ptap.core.errors import NotFound, PermissionDenied
from ptap.core.policy import can


def load_plan(patient_id: int, action: str = "care_plan.read") -> CarePlan:
    """Return the patient's plan if the user may perform `action` on it; the read is audited.

    Outsiders get the patient loader's audited 404; someone who sees the patient but may not
    perform `action` (an emergency visitor editing, a nurse validating) gets a 403.
    """
    load_patient(patient_id, what="care_plan")
    plan = find_plan_for_patient(patient_id)
    if plan is None:
        raise NotFound("Aucun plan personnalisé de coordination pour cette personne.")
    if not can(current_user, action, plan):
        raise PermissionDenied()
    return plan
