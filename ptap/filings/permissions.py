"""Who may see and act on DMP filings; rules registered in the core policy.

Need-to-know decides who sees a patient's filings (like the record itself). Acting on them
(retry, cancel, release, changes in the DMP, downloads) is, among those, for the patient's
coordinators and the coordinators of the team the row belongs to.
Admins and ARS analysts never do either.
"""

from __future__ import annotations

from collections.abc import Iterable

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, Patient, TeamRole
from ptap.core.policy import Actor, PlatformRole, has_role, is_clinician, require, rule
from ptap.dmp_bridge import DmpSubmission
from ptap.extensions import db


def _patient(row: DmpSubmission) -> Patient | None:
    patient = db.session.get(Patient, row.patient_id)
    return patient if patient is not None and patient.merged_into_id is None else None


@rule("dmp_submission.view")
def _view(user: Actor, row: DmpSubmission | None) -> bool:
    """See a filing: clinicians with need-to-know on its patient (lists filter by it)."""
    if not is_clinician(user):
        return False
    if row is None:  # the list endpoints: their rows are filtered by need-to-know
        return True
    patient = _patient(row)
    return patient is not None and access.access_basis(user.id, patient) is not None


@rule("dmp_submission.manage")
def _manage(user: Actor, row: DmpSubmission | None) -> bool:
    """Retry, cancel, release, change in the DMP, download: the patient's coordinators and
    the coordinators of the row's team."""
    if not is_clinician(user) or row is None:
        return False
    patient = _patient(row)
    # Need-to-know first: a team's coordinator whose team no longer follows the patient
    # does not act on (nor download) that patient's documents any more.
    if patient is None or access.access_basis(user.id, patient) is None:
        return False
    if row.team_id is not None and access.is_team_coordinator(user.id, row.team_id):
        return True
    return access.coordinates_patient(user.id, patient)


@rule("dmp_submission.team_panel")
def _team_panel(user: Actor, team: CareTeam | None) -> bool:
    """The panel of a team's filings needing attention: the team's coordinators."""
    if not is_clinician(user):
        return False
    if team is None:  # the navigation entry: any coordinator account
        return has_role(user, PlatformRole.COORDINATOR)
    return access.is_team_coordinator(user.id, team.id)


def require_manage_submission(user: Actor, row: DmpSubmission) -> None:
    """Raise PermissionDenied unless the user may act on this filing."""
    require(user, "dmp_submission.manage", row)


def manageable_ids(user: Actor, patient: Patient, rows: Iterable[DmpSubmission]) -> set[int]:
    """Return the ids of a patient's rows the user may act on, in two queries whatever their
    number (the same decision as the ``dmp_submission.manage`` rule, for pages)."""
    rows = list(rows)
    if not rows or not is_clinician(user) or patient.merged_into_id is not None:
        return set()
    if access.coordinates_patient(user.id, patient):
        return {row.id for row in rows}
    teams = set(coordinated_team_ids(user))
    return {row.id for row in rows if row.team_id in teams}


def coordinated_team_ids(user: Actor) -> list[int]:
    """Return the ids of the teams the user coordinates today (none for non-clinicians)."""
    if not is_clinician(user):
        return []
    stmt = access.active_team_ids(user.id, role=TeamRole.COORDINATOR)
    return sorted(set(db.session.scalars(stmt)))


# --- DMP documents filed into the coordination file ----------------------------------------


@rule("dmp_filed.view")
def _view_filed(user: Actor, patient: Patient | None) -> bool:
    """Read the DMP documents filed into a patient's coordination file: clinicians with
    need-to-know on the patient (the copy is part of the record; no DMP access needed)."""
    if not is_clinician(user):
        return False
    if patient is None:
        return True
    return patient.merged_into_id is None and access.access_basis(user.id, patient) is not None


@rule("dmp_filed.remove")
def _remove_filed(user: Actor, patient: Patient | None) -> bool:
    """Remove a filed copy from the coordination file: the patient's coordinators."""
    if patient is None or not _view_filed(user, patient):
        return False
    return access.coordinates_patient(user.id, patient)


def require_view_filed(user: Actor, patient: Patient) -> None:
    """Raise PermissionDenied unless the user may read the patient's filed DMP documents."""
    require(user, "dmp_filed.view", patient)


def require_remove_filed(user: Actor, patient: Patient) -> None:
    """Raise PermissionDenied unless the user may remove a filed DMP document."""
    require(user, "dmp_filed.remove", patient)
