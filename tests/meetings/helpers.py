"""A team with a meeting, shared by the meeting test modules (and the meetlive/meetrep ones).

`build_meeting_world()`: a team (a coordinator who chairs, a physician, a nurse who takes the
minutes, a social worker), `patient` with a published plan (version 1), `newcomer` without a plan,
a patient of another team and its coordinator (`outsider`), and a meeting planned tomorrow with
`patient` on its agenda. `reach_quorum()` marks three professions present and opens the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, Objective, PlanContent
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.extensions import db
from ptap.meetings import services
from ptap.meetings.models import Meeting, MeetingAgendaItem, MeetingParticipant
from tests.factories import add_member, make_patient, make_team, make_user


@dataclass
class MeetingWorld:
    team: CareTeam
    coord: User
    physician: User
    nurse: User
    social: User
    outsider: User
    patient: Patient
    newcomer: Patient
    other_patient: Patient
    plan: CarePlan
    version: CarePlanVersion
    meeting: Meeting
    item: MeetingAgendaItem

    def participant(self, user: User) -> MeetingParticipant:
        return db.session.scalars(
            sa.select(MeetingParticipant).filter_by(meeting_id=self.meeting.id, user_id=user.id)
        ).one()


def plan_content(lead_id: int, nurse_id: int, review_on: date) -> PlanContent:
    """One objective with one action assigned to the nurse, a re-evaluation date."""
    return PlanContent(
        lead_user_id=lead_id,
        objectives=[
            Objective(
                key="obj1",
                title="Prévenir les chutes",
                actions=[
                    Action(
                        key="kine",
                        what="Bilan kiné",
                        assignee_user_id=nurse_id,
                        due_on=review_on - timedelta(days=20),
                    )
                ],
            )
        ],
        next_review_on=review_on,
    )


def meeting_data(w_team_chair: User, secretary: User, **over: object) -> services.MeetingData:
    values: dict[str, object] = {
        "title": "Concertation mensuelle",
        "starts_at": (clock.now() + timedelta(days=1)).replace(microsecond=0),
        "duration_minutes": 90,
        "place": "Salle du DAC",
        "video_url": "",
        "chair_id": w_team_chair.id,
        "secretary_id": secretary.id,
    }
    values.update(over)
    return services.MeetingData(**values)  # type: ignore[arg-type]


def build_meeting_world() -> MeetingWorld:
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="care_coordinator")
    physician = make_user(profession="physician")
    nurse = make_user(profession="nurse")
    social = make_user(profession="social_worker")
    for person in (physician, nurse, social):
        add_member(team, person)
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord, birth_name="BERNARD", search_birth_name="BERNARD")
    newcomer = make_patient(team, coord, birth_name="LEROY", search_birth_name="LEROY")
    other_team = make_team("Équipe Vaise")
    outsider = make_user(profession="physician")
    add_member(other_team, outsider, "coordinator")
    other_patient = make_patient(other_team, outsider)
    enrolment = db.session.scalars(sa.select(Enrolment).filter_by(patient_id=patient.id)).one()
    plan = plan_services.create_plan(coord, enrolment, SYSTEM)
    review_on = clock.paris_today() + timedelta(days=20)
    plan_services.save_draft(
        coord, plan, plan_content(coord.id, nurse.id, review_on), plan.draft_revision, SYSTEM
    )
    version = plan_services.publish_version(coord, plan, "Première version", SYSTEM)
    assert version is not None
    meeting = services.schedule_meeting(coord, team, meeting_data(coord, nurse), SYSTEM)
    services.invite_members(coord, meeting, [physician.id, social.id], SYSTEM)
    item = services.add_agenda_item(coord, meeting, patient, SYSTEM, reason="review_due")
    return MeetingWorld(
        team,
        coord,
        physician,
        nurse,
        social,
        outsider,
        patient,
        newcomer,
        other_patient,
        plan,
        version,
        meeting,
        item,
    )


def reach_quorum(w: MeetingWorld) -> None:
    """Mark the coordinator, the physician and the nurse present and open the session."""
    for person in (w.coord, w.physician, w.nurse):
        services.record_attendance(w.coord, w.meeting, w.participant(person), "present", SYSTEM)
    services.start_meeting(w.coord, w.meeting, SYSTEM)
