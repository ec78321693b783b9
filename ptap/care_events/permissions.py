"""Who may record and see care-pathway events; rules registered in the core policy."""

from __future__ import annotations

from ptap.care_events.models import CareEvent
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.core.policy import Actor, can, is_clinician, rule


@rule("care_events.record")
def _record(user: Actor, patient: Patient | None) -> bool:
    """Members of a team following the patient who see the record (not an invited outsider
    nor a break-the-glass access: the event is counted for a team)."""
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


@rule("care_events.list")
def _list(user: Actor, patient: Patient | None) -> bool:
    """Whoever sees the patient sees the pathway events."""
    if patient is None:
        return is_clinician(user)
    return can(user, "patient.read", patient)


@rule("care_event.withdraw")
def _withdraw(user: Actor, event: CareEvent | None) -> bool:
    """The person who recorded it, or a coordinator of its team."""
    if event is None:
        return is_clinician(user)
    if not is_clinician(user) or event.withdrawn_at is not None:
        return False
    if not access.is_team_member(user.id, event.team_id):
        return False
    return event.recorded_by_id == user.id or access.is_team_coordinator(user.id, event.team_id)
