"""A team meeting held and decided, built straight from the meetings models (reports tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_teams.models import CareTeam, Patient
from ptap.extensions import db
from ptap.meetings.models import (
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingParticipant,
)
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps

HELD_AT = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


@dataclass
class ReportWorld:
    """A closed meeting of `team` chaired by `chair`, `patient` discussed with two decisions."""

    team: CareTeam
    chair: User
    secretary: User
    nurse: User
    outsider: User
    patient: Patient
    meeting: Meeting
    item: MeetingAgendaItem


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


def make_meeting(team: CareTeam, chair: User, secretary: User, **over: object) -> Meeting:
    meeting = Meeting(
        team_id=team.id,
        title="Concertation mensuelle",
        starts_at=HELD_AT,
        duration_minutes=90,
        place="Salle Rhône, 3 rue Garibaldi",
        video_url="https://visio.example.test/rcp-42",
        chair_id=chair.id,
        secretary_id=secretary.id,
        status="closed",
        created_by_id=secretary.id,
    )
    for key, value in over.items():
        setattr(meeting, key, value)
    db.session.add(meeting)
    db.session.flush()
    return meeting


def participate(meeting: Meeting, user: User, attendance: str = "present") -> MeetingParticipant:
    row = MeetingParticipant(
        meeting_id=meeting.id,
        user_id=user.id,
        attendance=attendance,
        profession=user.profession_label,
        profession_code=user.profession,
    )
    db.session.add(row)
    db.session.flush()
    return row


def discuss(meeting: Meeting, patient: Patient, by: User, position: int = 1) -> MeetingAgendaItem:
    item = MeetingAgendaItem(
        meeting_id=meeting.id,
        patient_id=patient.id,
        position=position,
        summary="Chutes répétées depuis un mois ; l'équipe propose un bilan kinésithérapique.",
        status="discussed",
        decided_at=meeting.starts_at + timedelta(minutes=20),
        decided_by_id=by.id,
    )
    db.session.add(item)
    db.session.flush()
    for n, (kind, payload) in enumerate(
        [
            ("add_action", {"what": "Bilan kinésithérapique", "due_on": "2026-12-15"}),
            ("set_review_date", {"next_review_on": "2027-02-01"}),
        ],
        start=1,
    ):
        db.session.add(
            MeetingDecision(
                item_id=item.id, position=n, kind=kind, payload=payload, recorded_by_id=by.id
            )
        )
    db.session.flush()
    return item


def build_report_world() -> ReportWorld:
    team = make_team("Équipe Croix-Rousse")
    chair = make_user(profession="physician", rpps=valid_rpps(4242))
    secretary = make_user(role="coordinator", profession="care_coordinator")
    nurse = make_user(profession="nurse")
    outsider = make_user(profession="physician")
    add_member(team, chair)
    add_member(team, secretary, "coordinator")
    add_member(team, nurse)
    add_member(make_team("Équipe Vaise"), outsider)
    patient = make_patient(
        team,
        secretary,
        birth_name="DURANDAL",
        search_birth_name="DURANDAL",
        first_names="Odette Marcelline",
    )
    meeting = make_meeting(team, chair, secretary)
    for user in (chair, secretary, nurse):
        participate(meeting, user)
    item = discuss(meeting, patient, secretary)
    return ReportWorld(team, chair, secretary, nurse, outsider, patient, meeting, item)
