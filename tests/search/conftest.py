"""Fixtures of the search tests: a team around a patient with something in every source, an
outsider, a member of another team who takes part in nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_events.models import CareEvent
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.extensions import db as _db
from ptap.letters import services as letter_services
from ptap.letters.services import TemplateData
from ptap.meetings.models import Meeting, MeetingAgendaItem, MeetingDecision
from ptap.messaging import services as messaging_services
from ptap.messaging.models import Conversation
from tests.factories import add_member, make_patient, make_team, make_user
from tests.filings.conftest import make_row


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@dataclass
class World:
    team: CareTeam
    other_team: CareTeam
    coord: User
    nurse: User
    outsider: User
    patient: Patient
    conversation: Conversation | None = None


def plan_content(problem: str, objective: str, action: str) -> dict:
    return {
        "problems": [{"key": "p1", "dimension": "environmental", "description": problem}],
        "objectives": [
            {
                "key": "o1",
                "title": objective,
                "problem_keys": ["p1"],
                "actions": [
                    {"key": "a1", "what": action, "assignee_label": "Ergothérapeute du SSIAD"}
                ],
            }
        ],
    }


def add_version(w: World, number: int, content: dict, summary: str = "") -> CarePlanVersion:
    plan = _db.session.scalar(sa.select(CarePlan).where(CarePlan.patient_id == w.patient.id))
    if plan is None:
        enrolment = _db.session.scalar(
            sa.select(Enrolment).where(Enrolment.patient_id == w.patient.id)
        )
        plan = CarePlan(
            enrolment_id=enrolment.id, patient_id=w.patient.id, created_by_id=w.coord.id
        )
        _db.session.add(plan)
        _db.session.flush()
    version = CarePlanVersion(
        plan_id=plan.id,
        number=number,
        content=content,
        content_hash=f"h{number}",
        change_summary=summary,
        next_review_on=clock.paris_today() + timedelta(days=90),
        created_by_id=w.coord.id,
    )
    _db.session.add(version)
    _db.session.flush()
    return version


def add_meeting(w: World, team: CareTeam, title: str, decisions: list[str]) -> Meeting:
    meeting = Meeting(
        team_id=team.id,
        title=title,
        starts_at=clock.now() - timedelta(days=5),
        chair_id=w.coord.id,
        secretary_id=w.coord.id,
        created_by_id=w.coord.id,
        status="closed",
    )
    _db.session.add(meeting)
    _db.session.flush()
    item = MeetingAgendaItem(
        meeting_id=meeting.id, patient_id=w.patient.id, summary="", status="discussed"
    )
    _db.session.add(item)
    _db.session.flush()
    for i, reason in enumerate(decisions):
        _db.session.add(
            MeetingDecision(
                item_id=item.id,
                position=i,
                kind="request_revision",
                payload={"reason": reason},
                recorded_by_id=w.coord.id,
            )
        )
    _db.session.flush()
    return meeting


def add_letter(w: World, subject: str, body: str):
    template = letter_services.create_template(
        w.coord, w.team, TemplateData("Modèle", "Objet", "Corps"), ctx(w.coord)
    )
    letter = letter_services.create_letter(w.coord, w.patient, template, "Dr Martin", ctx(w.coord))
    return letter_services.edit_letter(
        w.coord, letter, subject=subject, body=body, addressee="Dr Martin", ctx=ctx(w.coord)
    )


def send(w: World, author: User, body: str):
    if w.conversation is None:
        w.conversation = messaging_services.get_or_create_patient_conversation(w.coord, w.patient)
    draft = messaging_services.MessageDraft(f"c{body[:20]}{author.id}{len(body)}", body)
    return messaging_services.send_message(author, w.conversation, draft, ctx(author))


def add_event(w: World, note: str, days_ago: int = 3) -> CareEvent:
    event = CareEvent(
        patient_id=w.patient.id,
        team_id=w.team.id,
        kind="emergency_visit",
        occurred_on=clock.paris_today() - timedelta(days=days_ago),
        recorded_by_id=w.coord.id,
        note=note,
    )
    _db.session.add(event)
    _db.session.flush()
    return event


def add_filing(w: World, title: str):
    return make_row(w.patient, w.team, by=w.coord, title=title)


@pytest.fixture
def world(db) -> World:
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="nurse")
    nurse = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    add_member(team, nurse)
    add_member(other_team, outsider, "coordinator")
    patient = make_patient(team, coord)
    db.session.commit()
    return World(team, other_team, coord, nurse, outsider, patient)


def today() -> date:
    return clock.paris_today()
