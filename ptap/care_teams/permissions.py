"""Who may do what with teams and patients; rules registered in the core policy."""

from __future__ import annotations

from typing import Any

from ptap.care_teams import access
from ptap.care_teams.circle import sharing_refused
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CoverPeriod,
    Enrolment,
    MembershipProposal,
    Patient,
)
from ptap.core.policy import Actor, PlatformRole, has_role, is_clinician, rule


@rule("patients.list")
def _list_patients(user: Actor, _obj: Any) -> bool:
    return is_clinician(user)


@rule("patient.read")
def _read_patient(user: Actor, patient: Patient | None) -> bool:
    if not is_clinician(user) or patient is None:
        return False
    return access.access_basis(user.id, patient) is not None


@rule("patient.consents.read")
def _read_consents(user: Actor, patient: Patient | None) -> bool:
    """The consents page (patient header included): need-to-know, or a consent to collect."""
    if not is_clinician(user) or patient is None:
        return False
    return access.access_basis(user.id, patient, collecting=True) is not None


@rule("patient.consents.record")
def _record_consent(user: Actor, patient: Patient | None) -> bool:
    """Record the patient's choices: their coordinators, or a coordinator of a team following
    them while their choice about sharing has never been recorded (consent to collect)."""
    if not is_clinician(user) or patient is None or patient.merged_into_id is not None:
        return False
    return access.coordinates_patient(user.id, patient) or access.collects_consent(user.id, patient)


@rule("patient.manage")
def _manage_patient(user: Actor, patient: Patient | None) -> bool:
    """Identity, contacts, consents, circle, access log: the patient's coordinators."""
    if not is_clinician(user) or patient is None or patient.merged_into_id is not None:
        return False
    return access.coordinates_patient(user.id, patient)


@rule("patient.structures.manage")
def _manage_circle_structures(user: Actor, patient: Patient | None) -> bool:
    """Outside services of the circle (SSIAD, CCAS...): the patient's coordinators and the
    professionals of the circle (team members, invited); never an emergency access."""
    if not is_clinician(user) or patient is None or patient.merged_into_id is not None:
        return False
    if access.coordinates_patient(user.id, patient):
        return True
    basis = access.access_basis(user.id, patient)
    return basis in (access.AccessBasis.MEMBER, access.AccessBasis.INVITED)


@rule("team.enrol")
def _enrol(user: Actor, team: CareTeam | None) -> bool:
    """Create patients and enrol them: coordinators of the team."""
    if not is_clinician(user):
        return False
    if team is None:  # the page itself: any team coordinator
        return has_role(user, PlatformRole.COORDINATOR)
    return access.is_team_coordinator(user.id, team.id)


@rule("enrolment.end")
def _end_enrolment(user: Actor, enrolment: Enrolment | None) -> bool:
    """The team's current coordinators (the enrolling one included while they still are)."""
    if not is_clinician(user) or enrolment is None or enrolment.ended_at is not None:
        return False
    return access.is_team_coordinator(user.id, enrolment.team_id)


@rule("enrolment.referent")
def _change_referent(user: Actor, enrolment: Enrolment | None) -> bool:
    """Name a patient's referent: the team's current coordinators, on an open enrolment."""
    if not is_clinician(user) or enrolment is None or enrolment.ended_at is not None:
        return False
    return access.is_team_coordinator(user.id, enrolment.team_id)


@rule("cover.declare")
def _declare_cover(user: Actor, _obj: Any) -> bool:
    """Declare one's own absence: anyone coordinating a team today."""
    return is_clinician(user) and bool(access.coordinated_team_count(user.id))


@rule("cover.cancel")
def _cancel_cover(user: Actor, cover: CoverPeriod | None) -> bool:
    """Cancel a cover: the absent coordinator, or whoever declared it."""
    return cover is not None and user.id in (cover.coordinator_id, cover.created_by_id)


@rule("break_glass.open")
def _open_break_glass(user: Actor, patient: Patient | None) -> bool:
    if not is_clinician(user):
        return False
    if patient is None:  # the page itself: any clinician; the patient is checked next
        return True
    if patient.merged_into_id is not None:
        return False
    # A patient who withdrew (or refused) sharing is not opened, even in an emergency; one
    # whose choice has not been collected yet may be.
    if not patient.sharing_consent and sharing_refused(patient.id):
        return False
    return access.access_basis(user.id, patient) is None


@rule("break_glass.review")
def _review_break_glass(user: Actor, grant: BreakGlassAccess | None) -> bool:
    if not is_clinician(user):
        return False
    if grant is None:  # the review list: team coordinators
        return has_role(user, PlatformRole.COORDINATOR)
    # Reviewing is about the access, not the record: any current coordinator of a team
    # following the patient may review, consent or not.
    if grant.user_id == user.id:
        return False
    return access.coordinates_patient(user.id, grant.patient) or any(
        access.is_team_coordinator(user.id, team_id)
        for team_id in access.active_enrolment_team_ids(grant.patient_id)
    )


@rule("duplicates.review")
def _review_duplicates(user: Actor, _obj: Any) -> bool:
    return is_clinician(user) and has_role(user, PlatformRole.COORDINATOR)


@rule("teams.list")
def _list_teams(user: Actor, _obj: Any) -> bool:
    return is_clinician(user) or has_role(user, PlatformRole.ADMIN)


@rule("team.view")
def _view_team(user: Actor, team: CareTeam | None) -> bool:
    """Team composition is organisational, not clinical: admins and members see it."""
    if team is None:
        return False
    return has_role(user, PlatformRole.ADMIN) or access.is_team_member(user.id, team.id)


@rule("teams.manage")
def _manage_teams(user: Actor, team: CareTeam | None) -> bool:
    """Territories, structures, teams and memberships: admins, and a team's coordinators."""
    if has_role(user, PlatformRole.ADMIN):
        return True
    return team is not None and is_clinician(user) and access.is_team_coordinator(user.id, team.id)


@rule("team.add_member")
def _add_member(user: Actor, team: CareTeam | None) -> bool:
    """Direct additions: the team's current coordinators only (administrators propose)."""
    return team is not None and is_clinician(user) and access.is_team_coordinator(user.id, team.id)


@rule("team.decide_member")
def _decide_member(user: Actor, proposal: MembershipProposal | None) -> bool:
    """A second person approves an administrator's proposal: a coordinator of the team or
    another administrator, never the proposer nor the person proposed."""
    if proposal is None or user.id in (proposal.proposed_by_id, proposal.user_id):
        return False
    if has_role(user, PlatformRole.ADMIN):
        return True
    return is_clinician(user) and access.is_team_coordinator(user.id, proposal.team_id)
