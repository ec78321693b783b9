"""Who may see and run a team's meetings; rules registered in the core policy.

A meeting is organisational (its date, place and participants): the team's members and the
meeting's participants see it. Its agenda names patients: each viewer sees only the agenda
patients they may see (need-to-know, ptap.meetings.queries.visible_agenda). Running the
meeting (agenda, participants, attendance, decisions) belongs to its chair, its secretary and
the team's coordinators; the team's coordinators set its quorum.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, CircleInvitation
from ptap.core.models import utcnow
from ptap.core.policy import Actor, is_clinician, rule
from ptap.extensions import db
from ptap.meetings.models import (
    Meeting,
    MeetingGuestPatient,
    MeetingParticipant,
    MeetingStatus,
    ParticipantRole,
)


def participating_meeting_ids(user_id: int) -> sa.Select[Any]:
    """Select the meetings the user takes part in now: as a member while still a member of the
    meeting's team, as a guest while one of their invitations for it is still valid (a guest
    invited through an access of their own keeps it while the meeting is not over)."""
    now = utcnow()
    valid_invitation = sa.exists().where(
        CircleInvitation.id == MeetingGuestPatient.invitation_id,
        CircleInvitation.expires_at > now,
        CircleInvitation.revoked_at.is_(None),
    )
    guest_access = sa.exists().where(
        MeetingGuestPatient.participant_id == MeetingParticipant.id,
        sa.or_(
            valid_invitation,
            sa.and_(
                MeetingGuestPatient.invitation_id.is_(None),
                Meeting.status.in_([MeetingStatus.PLANNED, MeetingStatus.IN_PROGRESS]),
            ),
        ),
    )
    return (
        sa.select(MeetingParticipant.meeting_id)
        .join(Meeting, Meeting.id == MeetingParticipant.meeting_id)
        .where(
            MeetingParticipant.user_id == user_id,
            sa.or_(
                sa.and_(
                    MeetingParticipant.role == ParticipantRole.MEMBER,
                    Meeting.team_id.in_(access.active_team_ids(user_id)),
                ),
                sa.and_(MeetingParticipant.role == ParticipantRole.GUEST, guest_access),
            ),
        )
    )


def is_participant(user_id: int, meeting_id: int) -> bool:
    """Tell whether the user takes part in the meeting now (member or guest, see above)."""
    return bool(
        db.session.scalar(
            participating_meeting_ids(user_id).where(MeetingParticipant.meeting_id == meeting_id)
        )
    )


def runs_meeting(user: Actor, meeting: Meeting) -> bool:
    """Tell whether the user chairs, takes the minutes of, or coordinates the meeting's team."""
    if not is_clinician(user):
        return False
    if user.id in (meeting.chair_id, meeting.secretary_id):
        return access.is_team_member(user.id, meeting.team_id)
    return access.is_team_coordinator(user.id, meeting.team_id)


@rule("meetings.list")
def _list(user: Actor, _obj: Any) -> bool:
    """The meeting pages: clinicians (each list shows their own teams' meetings)."""
    return is_clinician(user)


@rule("meeting.schedule")
def _schedule(user: Actor, team: CareTeam | None) -> bool:
    """Schedule a meeting: the team's members."""
    if team is None:
        return is_clinician(user)
    return is_clinician(user) and access.is_team_member(user.id, team.id)


@rule("meeting.read")
def _read(user: Actor, meeting: Meeting | None) -> bool:
    """The team's members and the meeting's participants (guests included)."""
    if meeting is None or not is_clinician(user):
        return False
    return access.is_team_member(user.id, meeting.team_id) or is_participant(user.id, meeting.id)


@rule("meeting.manage")
def _manage(user: Actor, meeting: Meeting | None) -> bool:
    """Edit, agenda, participants, attendance, start, close, decisions: chair, secretary and
    the team's coordinators."""
    return meeting is not None and runs_meeting(user, meeting)


@rule("meeting.quorum")
def _quorum(user: Actor, team: CareTeam | None) -> bool:
    """Set the team's quorum: its coordinators."""
    if team is None:
        return False
    return is_clinician(user) and access.is_team_coordinator(user.id, team.id)
