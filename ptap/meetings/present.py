"""Ready-made data for the meeting pages and the API, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.models import CarePlanVersion
from ptap.care_teams.models import CareTeam, Patient, TeamMembership
from ptap.care_teams.queries import user_names
from ptap.core import clock
from ptap.core.policy import CLINICAL_ROLES, can
from ptap.extensions import db
from ptap.meetings import queries
from ptap.meetings.decisions import describe
from ptap.meetings.models import (
    AGENDA_REASON_LABELS,
    ITEM_STATUS_LABELS,
    MEETING_STATUS_LABELS,
    AgendaReason,
    ItemStatus,
    Meeting,
    MeetingAgendaItem,
    MeetingParticipant,
    MeetingStatus,
)
from ptap.meetings.schemas import (
    AgendaItemOut,
    DecisionOut,
    MeetingOut,
    MeetingSummaryOut,
    ParticipantOut,
    QuorumOut,
    SuggestionOut,
)


def patient_names(patient_ids: Sequence[int]) -> dict[int, str]:
    """Return display names of these patients (one query)."""
    if not patient_ids:
        return {}
    rows = db.session.scalars(sa.select(Patient).where(Patient.id.in_(list(set(patient_ids)))))
    return {p.id: p.display_name for p in rows}


def reason_label(code: str) -> str:
    """Return the French label of an agenda reason code."""
    try:
        return AGENDA_REASON_LABELS[AgendaReason(code)]
    except ValueError:
        return code


def items_out(items: Sequence[MeetingAgendaItem]) -> list[AgendaItemOut]:
    """Return the agenda items with their patients' names and decisions (two queries)."""
    names = patient_names([i.patient_id for i in items])
    decisions = queries.decisions_of([i.id for i in items])
    return [
        AgendaItemOut(
            id=i.id,
            patient_id=i.patient_id,
            patient_name=names.get(i.patient_id, ""),
            position=i.position,
            reason=i.reason,
            reason_label=reason_label(i.reason),
            status=i.status,
            status_label=ITEM_STATUS_LABELS.get(ItemStatus(i.status), i.status),
            summary=i.summary,
            plan_version_id=i.plan_version_id,
            decided_at=i.decided_at,
            decisions=[
                DecisionOut(
                    kind=d.kind,
                    label=describe(d.kind, d.payload),
                    payload=d.payload,
                    plan_version_id=d.plan_version_id,
                    recorded_at=d.recorded_at,
                )
                for d in decisions[i.id]
            ],
        )
        for i in items
    ]


def participants_out(participants: Sequence[MeetingParticipant]) -> list[ParticipantOut]:
    """Return the participants with their names (one query)."""
    names = user_names([p.user_id for p in participants])
    return [
        ParticipantOut(
            id=p.id,
            user_id=p.user_id,
            name=names.get(p.user_id, ""),
            role=p.role,
            attendance=p.attendance,
            profession=p.profession,
        )
        for p in participants
    ]


def quorum_out(meeting: Meeting) -> QuorumOut:
    """Return the quorum check of the meeting."""
    check = queries.check_quorum(meeting)
    return QuorumOut(
        ok=check.ok,
        present=check.present,
        professions=check.professions,
        min_present=check.rule.min_present,
        min_professions=check.rule.min_professions,
        missing=check.missing,
    )


def summary_out(meeting: Meeting) -> MeetingSummaryOut:
    """Return the meeting's own fields (no patient)."""
    return MeetingSummaryOut.model_validate(meeting, from_attributes=True)


def meeting_out(meeting: Meeting, visible: Sequence[MeetingAgendaItem], hidden: int) -> MeetingOut:
    """Return the whole meeting as a viewer may see it."""
    return MeetingOut(
        **summary_out(meeting).model_dump(),
        current_item_id=meeting.current_item_id
        if meeting.current_item_id in {i.id for i in visible}
        else None,
        participants=participants_out(queries.list_participants(meeting.id)),
        agenda=items_out(visible),
        hidden_agenda_items=hidden,
        quorum=quorum_out(meeting),
    )


def suggestions_out(suggestions: Sequence[queries.AgendaSuggestion]) -> list[SuggestionOut]:
    """Return the suggestions with their patients' names (one query)."""
    names = patient_names([s.patient_id for s in suggestions])
    return [
        SuggestionOut(
            patient_id=s.patient_id,
            patient_name=names.get(s.patient_id, ""),
            reason=s.reason,
            reason_label=s.reason_label,
            detail=s.detail,
        )
        for s in suggestions
    ]


# --- pages ------------------------------------------------------------------------------------

#: Suggestions listed on the agenda page (the API gives them all).
SUGGESTIONS_SHOWN = 12


@dataclass(frozen=True)
class TeamMeetings:
    """One team's block on the meetings page."""

    team: CareTeam
    upcoming: list[Meeting]
    past: list[Meeting]
    can_schedule: bool
    can_quorum: bool


@dataclass(frozen=True)
class MeetingPage:
    """Everything the agenda and attendance page shows, ready-made."""

    team_name: str
    chair_name: str
    secretary_name: str
    status_label: str
    is_open: bool
    is_running: bool
    can_manage: bool
    can_start: bool
    can_close: bool
    can_cancel: bool
    quorum: QuorumOut
    participants: list[ParticipantOut]
    agenda: list[AgendaItemOut]
    hidden: int
    suggestions: list[SuggestionOut]
    #: Suggestions beyond the first SUGGESTIONS_SHOWN (the most pressing are shown).
    more_suggestions: int
    invitable: list[User]


def team_members(team_id: int) -> list[User]:
    """Return the team's current clinicians by name (chairs, secretaries, invitees)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.id.in_(_members_today(team_id)),
                User.active.is_(True),
                User.role.in_(CLINICAL_ROLES),
            )
            .order_by(User.last_name, User.first_name)
        )
    )


def _members_today(team_id: int) -> sa.Select[Any]:
    today = clock.paris_today()
    return sa.select(TeamMembership.user_id).where(
        TeamMembership.team_id == team_id,
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )


def meeting_page(user: User, meeting: Meeting) -> MeetingPage:
    """Build the agenda and attendance page of a meeting for this viewer."""
    visible = queries.visible_agenda(user, meeting)
    participants = queries.list_participants(meeting.id)
    names = user_names([meeting.chair_id, meeting.secretary_id])
    is_open = meeting.status in (MeetingStatus.PLANNED, MeetingStatus.IN_PROGRESS)
    manage = is_open and can(user, "meeting.manage", meeting)
    suggestions: list[SuggestionOut] = []
    more = 0
    invitable: list[User] = []
    team = db.session.get_one(CareTeam, meeting.team_id)
    if manage:
        taken = {i.patient_id for i in queries.list_items(meeting.id)}
        found = queries.suggest_agenda(team, user=user)
        fresh = [s for s in found if s.patient_id not in taken]
        suggestions = suggestions_out(fresh[:SUGGESTIONS_SHOWN])
        more = len(fresh) - len(suggestions)
        invited = {p.user_id for p in participants}
        invitable = [m for m in team_members(meeting.team_id) if m.id not in invited]
    return MeetingPage(
        team_name=team.name,
        chair_name=names.get(meeting.chair_id, ""),
        secretary_name=names.get(meeting.secretary_id, ""),
        status_label=MEETING_STATUS_LABELS[MeetingStatus(meeting.status)],
        is_open=is_open,
        is_running=meeting.status == MeetingStatus.IN_PROGRESS,
        can_manage=manage,
        can_start=manage and meeting.status == MeetingStatus.PLANNED,
        can_close=manage and meeting.status == MeetingStatus.IN_PROGRESS,
        can_cancel=manage and meeting.status == MeetingStatus.PLANNED,
        quorum=quorum_out(meeting),
        participants=participants_out(participants),
        agenda=items_out(visible),
        hidden=queries.hidden_agenda_count(user, meeting, len(visible)),
        suggestions=suggestions,
        more_suggestions=more,
        invitable=invitable,
    )


@dataclass(frozen=True)
class PatientMeetingRow:
    """A meeting where the patient was discussed, and what was decided."""

    meeting: Meeting
    team_name: str
    item: AgendaItemOut
    plan_version_number: int | None


def patient_history(patient_id: int, viewer: User) -> list[PatientMeetingRow]:
    """Return the patient's meetings the viewer may read, latest first, with decisions (fixed
    number of queries)."""
    rows = queries.meetings_for_patient(patient_id, viewer)
    items = items_out([item for _, item in rows])
    team_names: dict[int, str] = {
        team_id: name
        for team_id, name in db.session.execute(
            sa.select(CareTeam.id, CareTeam.name).where(
                CareTeam.id.in_({m.team_id for m, _ in rows})
            )
        )
    }
    version_ids = {i.plan_version_id for _, i in rows if i.plan_version_id}
    numbers: dict[int, int] = {
        version_id: number
        for version_id, number in db.session.execute(
            sa.select(CarePlanVersion.id, CarePlanVersion.number).where(
                CarePlanVersion.id.in_(version_ids)
            )
        )
    }
    return [
        PatientMeetingRow(
            meeting=m,
            team_name=team_names.get(m.team_id, ""),
            item=out,
            plan_version_number=numbers.get(out.plan_version_id) if out.plan_version_id else None,
        )
        for (m, _), out in zip(rows, items, strict=True)
    ]
