"""Boundary helper: load a patient's pathway plan for a write (start, stop), refusals audited."""

from __future__ import annotations

from flask_login import current_user

from ptap.audit.context import request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.care_plans.models import CarePlan
from ptap.care_plans.queries import find_plan_for_patient
from ptap.care_teams.models import Patient
from ptap.core.errors import PermissionDenied
from ptap.core.policy import can
from ptap.extensions import db


def require_plan_editor(patient: Patient, action: str) -> CarePlan | None:
    """Return the patient's plan (None without one: the service says so in French) if the
    user may edit it; otherwise record the refused `action` (committed on its own) and raise
    PermissionDenied. The patient was loaded through need-to-know (load_patient)."""
    user = current_user._get_current_object()
    plan = find_plan_for_patient(patient.id)
    if plan is None or can(user, "care_plan.edit", plan):
        return plan
    record_event(
        request_context(user),
        action,
        outcome=Outcome.DENIED,
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
    )
    db.session.commit()
    raise PermissionDenied()
