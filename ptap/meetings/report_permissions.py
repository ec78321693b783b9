"""Who may read meeting reports and minutes, and keep a calendar feed; core policy rules.

A report names one patient: its readers are the meeting's readers who may see that patient
(checked on the patient by the loader). The minutes name every agenda patient: only those who
run the meeting (chair, secretary, team coordinators) and may see every one of those patients
now read them; anyone else would learn of a patient hidden from them. Approving a report is
the chair's alone (``reports.approve_report``).
"""

from __future__ import annotations

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.core.policy import Actor, can, is_clinician, rule
from ptap.extensions import db
from ptap.meetings.models import Meeting, MeetingAgendaItem
from ptap.meetings.permissions import runs_meeting


def sees_whole_agenda(user_id: int, meeting_id: int) -> bool:
    """Tell whether every agenda patient of the meeting is one the user may see now."""
    hidden = db.session.scalar(
        sa.select(MeetingAgendaItem.id)
        .where(
            MeetingAgendaItem.meeting_id == meeting_id,
            MeetingAgendaItem.patient_id.not_in(
                access.visible_patient_ids(user_id, circle_only=True)
            ),
        )
        .limit(1)
    )
    return hidden is None


@rule("meeting_report.read")
def _read_report(user: Actor, meeting: Meeting | None) -> bool:
    """Clinicians on the routes; on a meeting, whoever may read the meeting."""
    if meeting is None:
        return is_clinician(user)
    return can(user, "meeting.read", meeting)


@rule("meeting_minutes.read")
def _read_minutes(user: Actor, meeting: Meeting | None) -> bool:
    """The minutes name every agenda patient: the meeting's runners who may see them all."""
    if meeting is None:
        return is_clinician(user)
    return runs_meeting(user, meeting) and sees_whole_agenda(user.id, meeting.id)


@rule("calendar_feed.manage")
def _manage_feed(user: Actor, _obj: object) -> bool:
    """Every clinician may keep a private feed of their meetings."""
    return is_clinician(user)
