"""Who may read meeting reports and minutes, and keep a calendar feed; core policy rules.

A report names one patient: its readers are the meeting's readers who may see that patient
(checked on the patient by the loader). The minutes name every discussed patient: they stay
with the team's members. Approving a report is the chair's alone (``reports.approve_report``).
"""

from __future__ import annotations

import ptap.meetings.permissions  # noqa: F401 - the meeting.read rule used below
from ptap.care_teams import access
from ptap.core.policy import Actor, can, is_clinician, rule
from ptap.meetings.models import Meeting


@rule("meeting_report.read")
def _read_report(user: Actor, meeting: Meeting | None) -> bool:
    """Clinicians on the routes; on a meeting, whoever may read the meeting."""
    if meeting is None:
        return is_clinician(user)
    return can(user, "meeting.read", meeting)


@rule("meeting_minutes.read")
def _read_minutes(user: Actor, meeting: Meeting | None) -> bool:
    """The minutes name several patients: the members of the meeting's team only."""
    if meeting is None:
        return is_clinician(user)
    return is_clinician(user) and access.is_team_member(user.id, meeting.team_id)


@rule("calendar_feed.manage")
def _manage_feed(user: Actor, _obj: object) -> bool:
    """Every clinician may keep a private feed of their meetings."""
    return is_clinician(user)
