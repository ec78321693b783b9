"""Boundary helpers for views and API endpoints: load a patient through need-to-know.

A refused access is audited (outcome denied) and committed on its own, then answered exactly
like a patient that does not exist (404), so the answer reveals nothing.
"""

from __future__ import annotations

from flask import g
from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.care_teams.access import access_basis
from ptap.care_teams.models import Patient
from ptap.core.errors import NotFound
from ptap.core.policy import can
from ptap.extensions import db

NOT_FOUND = "Patient introuvable ou hors de votre cercle de soins."


def _not_found() -> NotFound:
    """Return the 404 of a patient not found or not seen (the same); its page points to the
    search (INS, or name and birth date), where an emergency access is offered: the id in a
    URL is never the way in."""
    g.patient_search_hint = True
    return NotFound(NOT_FOUND)


def load_patient(patient_id: int, action: str = "patient.read", *, what: str = "") -> Patient:
    """Return the patient if the current user may perform `action`; audit the access.

    `what` names the part of the record read ("identity", "consents"...); reads are recorded
    as `patient.read` with the access basis, other actions are audited by their services, and
    a response that shows the patient without a committed event gets one after the view.
    """
    user = current_user._get_current_object()
    patient = db.session.get(Patient, patient_id)
    if patient is None or patient.merged_into_id is not None:
        raise _not_found()
    if not can(user, action, patient):
        record_event(
            request_context(user),
            action,
            outcome=Outcome.DENIED,
            object_type="patient",
            object_id=patient.id,
            patient_id=patient.id,
        )
        db.session.commit()
        raise _not_found()
    # Whatever the view then shows of this patient is audited, even if the action is
    # refused and rolled back (ptap.audit.context.audit_unaudited_patients).
    note_patients_shown([patient.id])
    if action in ("patient.read", "patient.consents.read"):
        basis = access_basis(user.id, patient, collecting=True)
        record_event(
            request_context(user),
            "patient.read",
            object_type="patient",
            object_id=patient.id,
            patient_id=patient.id,
            reason=f"{basis}{': ' + what if what else ''}",
        )
    return patient
