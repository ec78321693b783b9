"""Who may edit assessment grids and fill assessments (policy rules).

Grids are shared by the whole platform (a stable key, referenced by pathways): the coordinators
of any team write, publish and retire them; every clinician reads them. An assessment is filled
by a professional of a team following the patient who sees the record; only its author edits
it, and only until it is signed.
"""

from __future__ import annotations

from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.core.policy import Actor, can, is_clinician, rule
from ptap.grids.models import Assessment, AssessmentStatus


@rule("grids.list")
def _list_grids(user: Actor, _: object = None) -> bool:
    """Every clinician (grids hold no patient data)."""
    return is_clinician(user)


@rule("grids.manage")
def _manage_grids(user: Actor, _: object = None) -> bool:
    """Coordinators of at least one team."""
    return is_clinician(user) and access.coordinated_team_count(user.id) > 0


@rule("assessments.list")
def _list(user: Actor, patient: Patient | None) -> bool:
    """Whoever sees the patient sees their assessments."""
    if patient is None:
        return is_clinician(user)
    return can(user, "patient.read", patient)


@rule("assessments.fill")
def _fill(user: Actor, patient: Patient | None) -> bool:
    """Members of a team following the patient who see the record."""
    if not is_clinician(user):
        return False
    if patient is None:
        return True
    if not can(user, "patient.read", patient):
        return False
    return any(
        access.is_team_member(user.id, team_id)
        for team_id in access.active_enrolment_team_ids(patient.id)
    )


def can_edit_assessment(user: Actor, assessment: Assessment, patient: Patient) -> bool:
    """Tell whether the user may change (autosave, sign) this assessment: its author, while
    it is a draft and they may still fill assessments for the patient."""
    return (
        assessment.status == AssessmentStatus.DRAFT
        and assessment.author_id == user.id
        and can(user, "assessments.fill", patient)
    )
