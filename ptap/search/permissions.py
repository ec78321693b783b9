"""Who may search a patient's file: whoever may read the patient (need-to-know, break-the-glass
included); each source then applies its own rule to its documents."""

from __future__ import annotations

from ptap.care_teams.models import Patient
from ptap.core.policy import Actor, can, is_clinician, rule


@rule("patient.search")
def _search(user: Actor, patient: Patient | None) -> bool:
    """Clinicians (the endpoint); on a patient, those who may read the patient."""
    if patient is None:
        return is_clinician(user)
    return can(user, "patient.read", patient)
