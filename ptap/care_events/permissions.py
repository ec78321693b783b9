"""Who may record and see care-pathway events; rules registered in the core policy."""

from __future__ import annotations

from collections.abc import Callable

from ptap.care_events.models import CareEvent
from ptap.care_teams import access
from ptap.care_teams.models import Patient, TeamMembership, TeamRole
from ptap.core.policy import Actor, can, is_clinician, rule
from ptap.extensions import db


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


def withdrawal_check(user: Actor) -> Callable[[CareEvent], bool]:
    """Return the `care_event.withdraw` rule for many events: the user's teams today and their
    team roles are read once (one query), however many events are checked."""
    if not is_clinician(user):
        return lambda _event: False
    rows = db.session.execute(access.active_team_ids(user.id).add_columns(TeamMembership.role))
    member_of: set[int] = set()
    coordinates: set[int] = set()
    for team_id, role in rows:
        member_of.add(team_id)
        if role == TeamRole.COORDINATOR:
            coordinates.add(team_id)

    user_id = user.id

    def check(event: CareEvent) -> bool:
        if event.withdrawn_at is not None or event.team_id not in member_of:
            return False
        return event.recorded_by_id == user_id or event.team_id in coordinates

    return check


@rule("care_event.withdraw")
def _withdraw(user: Actor, event: CareEvent | None) -> bool:
    """The person who recorded it while a member of its team, or a coordinator of its team."""
    if event is None:
        return is_clinician(user)
    return withdrawal_check(user)(event)
