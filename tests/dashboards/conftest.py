"""Dashboard fixtures: a team with its coordinator, professionals and patients; plans, tasks,
urgent messages and filings made through the real services; /dashboards test sockets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from ptap.accounts import services as account_services
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.audit.services import AuditContext
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, Objective, PlanContent
from ptap.care_plans.models import CarePlan
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.dashboards import queries
from ptap.dashboards.live import NAMESPACE
from ptap.extensions import db as _db
from ptap.extensions import socketio
from tests.factories import add_member, make_patient, make_team, make_user

NS = NAMESPACE


@dataclass
class World:
    """Team A (coordinator, nurse, GP) follows `patient`; team B follows `other_patient`."""

    team: CareTeam
    coord: User
    nurse: User
    gp: User
    patient: Patient
    other_team: CareTeam
    other_coord: User
    other_patient: Patient
    admin: User


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@pytest.fixture
def world(db) -> World:
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    nurse = make_user(profession="nurse")
    gp = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    add_member(team, nurse)
    add_member(team, gp)
    patient = make_patient(
        team,
        coord,
        birth_name="BERNARD",
        search_birth_name="BERNARD",
        city="Lyon",
        postal_code="69004",
    )
    other_team = make_team("Équipe Vaise")
    other_coord = make_user(role="coordinator", profession="nurse")
    add_member(other_team, other_coord, "coordinator")
    other_patient = make_patient(other_team, other_coord, birth_name="VAISE")
    admin = make_user(role="admin", profession="administrative")
    db.session.commit()
    return World(team, coord, nurse, gp, patient, other_team, other_coord, other_patient, admin)


def enrolment_of(patient: Patient, team: CareTeam) -> Enrolment:
    from sqlalchemy import select

    return _db.session.scalars(
        select(Enrolment).where(Enrolment.patient_id == patient.id, Enrolment.team_id == team.id)
    ).one()


def make_plan(
    w: World,
    patient: Patient,
    *,
    due_on: date | None = None,
    review_on: date | None = None,
    assignee: User | None = None,
    publish: bool = True,
) -> CarePlan:
    """A plan for the patient in team A with one action (assigned to the nurse), published."""
    today = clock.paris_today()
    plan = plan_services.create_plan(w.coord, enrolment_of(patient, w.team), ctx(w.coord))
    action = Action(
        what="Passage infirmier",
        assignee_user_id=(assignee or w.nurse).id,
        due_on=due_on or today + timedelta(days=20),
    )
    content = PlanContent(
        lead_user_id=w.coord.id,
        objectives=[Objective(title="Maintien à domicile", actions=[action])],
        next_review_on=review_on or today + timedelta(days=90),
    )
    plan_services.save_draft(w.coord, plan, content, plan.draft_revision, ctx(w.coord))
    if publish:
        plan_services.publish_version(w.coord, plan, "Première version", ctx(w.coord))
    _db.session.commit()
    return plan


def kinds_of(w: World, patient: Patient, viewer: User | None = None) -> set[str]:
    """The alert kinds of one patient on team A's dashboard (none: not listed)."""
    board = queries.build_dashboard(w.team.id, (viewer or w.coord).id)
    row = next((r for r in board.rows if r.patient.patient_id == patient.id), None)
    return set(row.kinds) if row is not None else set()


def listed(w: World, viewer: User | None = None) -> set[int]:
    board = queries.build_dashboard(w.team.id, (viewer or w.coord).id)
    return {r.patient.patient_id for r in board.rows}


def token_for(user: User, scopes=("api:read", "api:write", "socket")) -> str:
    return account_services.create_api_token(user, "t", list(scopes), 30, request_context(user))[1]


def api_headers(user: User) -> dict[str, str]:
    token = token_for(user, ("api:read",))
    _db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def dashboard_socket(app, client, db):
    """Connect a /dashboards test socket as `user` (bearer token with the socket scope)."""
    opened = []

    def connect(user: User):
        token = token_for(user, ("socket",))
        db.session.commit()
        sock = socketio.test_client(
            app, namespace=NS, flask_test_client=client, auth={"token": token}
        )
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected(NS):
            sock.disconnect(NS)


def received(sock, name: str | None = None) -> list[dict]:
    events = sock.get_received(NS)
    return [e for e in events if name is None or e["name"] == name]
