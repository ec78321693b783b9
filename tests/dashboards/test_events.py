"""The /dashboards namespace: who may follow a team, live `dashboard_changed` after commits
(never after a rollback), and rooms closed when access ends."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_teams import circle, organisation
from ptap.care_teams.models import TeamMembership
from ptap.core import clock
from ptap.dashboards import tasks as dashboard_tasks
from ptap.dashboards.live import team_room
from ptap.dashboards.tasks import cut_off_dashboard_sockets
from ptap.extensions import socketio
from ptap.messaging import services as messaging
from tests.dashboards.conftest import NS, ctx, make_plan, received
from tests.factories import make_patient, make_user
from tests.filings.conftest import make_row


def _join(sock, team):
    return sock.emit("join_team", {"team_id": team.id}, namespace=NS, callback=True)


def _in_room(team) -> list[str]:
    return [sid for sid, _ in socketio.server.manager.get_participants(NS, team_room(team.id))]


def _following(dashboard_socket, world):
    sock = dashboard_socket(world.coord)
    assert sock.is_connected(NS)
    assert _join(sock, world.team) == {"ok": True, "team_id": world.team.id}
    received(sock)
    return sock


def _changes(sock) -> list[dict]:
    return [e["args"][0] for e in received(sock, "dashboard_changed")]


def test_anonymous_professionals_and_admins_cannot_connect(app, client, dashboard_socket, world):
    anonymous = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert not anonymous.is_connected(NS)
    assert not dashboard_socket(world.nurse).is_connected(NS)
    assert not dashboard_socket(world.admin).is_connected(NS)


def test_a_coordinator_cannot_follow_another_team(dashboard_socket, world):
    sock = dashboard_socket(world.other_coord)
    ack = _join(sock, world.team)
    assert ack["ok"] is False and ack["field"] == "team_id"
    assert _in_room(world.team) == []
    assert _join(sock, world.other_team)["ok"] is True
    bad = sock.emit("join_team", {"team_id": "x"}, namespace=NS, callback=True)
    assert bad["ok"] is False and bad["field"] == "team_id"


def test_urgent_message_and_its_acknowledgement_are_pushed_live(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    conversation = messaging.get_or_create_patient_conversation(world.nurse, world.patient)
    draft = messaging.MessageDraft(uuid.uuid4().hex, "Chute ce matin", priority="urgent")
    message = messaging.send_message(world.nurse, conversation, draft, ctx(world.nurse)).message
    assert _changes(sock) == []  # nothing before the commit
    db.session.commit()
    assert _changes(sock) == [
        {"team_id": world.team.id, "patient_ids": [world.patient.id], "requests": False}
    ]

    messaging.acknowledge_message(world.coord, message, ctx(world.coord))
    db.session.commit()
    assert _changes(sock) == [
        {"team_id": world.team.id, "patient_ids": [world.patient.id], "requests": False}
    ]


def test_nothing_is_pushed_after_a_rollback(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    make_row(world.patient, world.team, by=world.coord, status="failed")
    db.session.rollback()
    db.session.commit()
    assert _changes(sock) == []


def test_other_teams_changes_do_not_reach_the_room(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    make_row(world.other_patient, world.other_team, by=world.other_coord, status="failed")
    db.session.commit()
    assert _changes(sock) == []


def test_each_alert_cause_is_pushed_when_it_changes(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    expected = {"team_id": world.team.id, "patient_ids": [world.patient.id], "requests": False}
    today = clock.paris_today()

    plan = make_plan(world, world.patient, due_on=today - timedelta(days=1))  # action, plan
    assert expected in _changes(sock)
    [(_, action)] = load_content(plan.draft).actions()
    done = action.model_copy(update={"status": ActionStatus.DONE})
    plan_services.update_action(world.coord, plan, action, done, ctx(world.coord))
    db.session.commit()
    assert _changes(sock) == [expected]

    row = make_row(world.patient, world.team, by=world.coord, status="failed")  # DMP
    db.session.commit()
    assert _changes(sock) == [expected]
    from ptap.filings.services import cancel_filing

    cancel_filing(world.coord, row, "Remplacé", ctx(world.coord))
    db.session.commit()
    assert _changes(sock) == [expected]

    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", ctx(world.coord)
    )
    db.session.commit()
    assert _changes(sock) == [expected]

    world.patient.identity_status = "provisional"  # identity
    db.session.commit()
    assert _changes(sock) == [expected]


def test_a_new_patient_is_pushed(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    patient = make_patient(world.team, world.coord, consent=False)
    db.session.commit()
    assert {"team_id": world.team.id, "patient_ids": [patient.id], "requests": False} in _changes(
        sock
    )


def test_break_glass_and_its_review_are_pushed(db, dashboard_socket, world):
    from tests.factories import add_member, make_team

    sock = _following(dashboard_socket, world)
    stranger = make_user()
    add_member(make_team("SAMU"), stranger)
    grant = circle.open_break_glass(
        stranger, world.patient, "Inconscient aux urgences, traitement à connaître", ctx(stranger)
    )
    db.session.commit()
    expected = {"team_id": world.team.id, "patient_ids": [world.patient.id], "requests": False}
    assert expected in _changes(sock)
    circle.review_break_glass(world.coord, grant, "Justifié", ctx(world.coord))
    db.session.commit()
    assert expected in _changes(sock)


def test_ending_a_membership_closes_the_room_and_a_rejoin_is_refused(db, dashboard_socket, world):
    from tests.factories import add_member

    second = make_user(role="coordinator", profession="nurse")
    add_member(world.team, second, "coordinator")
    db.session.commit()
    sock = dashboard_socket(second)
    assert _join(sock, world.team)["ok"] is True
    received(sock)
    membership = db.session.query(TeamMembership).filter_by(user_id=second.id).one()
    organisation.end_membership(
        world.coord, membership, clock.paris_today() - timedelta(days=1), ctx(world.coord)
    )
    db.session.commit()
    assert [e["args"][0] for e in received(sock, "rejoin_required")] == [{"team_id": world.team.id}]
    assert _in_room(world.team) == []
    assert _join(sock, world.team)["ok"] is False
    make_row(world.patient, world.team, by=world.coord, status="failed")
    db.session.commit()
    assert _changes(sock) == []


def test_midnight_job_closes_rooms_of_memberships_ended_yesterday(
    db, dashboard_socket, world, monkeypatch
):
    monkeypatch.setattr(dashboard_tasks, "_last_run", None)
    sock = _following(dashboard_socket, world)
    membership = db.session.query(TeamMembership).filter_by(user_id=world.nurse.id).one()
    membership.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.commit()
    midnight = clock.paris_midnight(clock.paris_today())
    assert cut_off_dashboard_sockets(midnight + timedelta(minutes=1)) == 1
    assert received(sock, "rejoin_required")
    assert cut_off_dashboard_sockets(midnight + timedelta(hours=3)) == 0
    # The coordinator still coordinates: joining again works.
    assert _join(sock, world.team)["ok"] is True


def test_a_late_or_stopped_job_catches_up_on_memberships_ended_meanwhile(
    db, dashboard_socket, world, monkeypatch
):
    sock = _following(dashboard_socket, world)
    membership = db.session.query(TeamMembership).filter_by(user_id=world.nurse.id).one()
    membership.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.commit()
    midnight = clock.paris_midnight(clock.paris_today())
    # The last run was before midnight; the scheduler was down until 02:00.
    monkeypatch.setattr(dashboard_tasks, "_last_run", None)
    assert cut_off_dashboard_sockets(midnight - timedelta(minutes=5)) == 0
    assert cut_off_dashboard_sockets(midnight + timedelta(hours=2)) == 1
    assert received(sock, "rejoin_required")
    assert cut_off_dashboard_sockets(midnight + timedelta(hours=2, minutes=1)) == 0
    # A scheduler process started late in the morning still sees it (no earlier run known).
    monkeypatch.setattr(dashboard_tasks, "_last_run", None)
    assert cut_off_dashboard_sockets(midnight + timedelta(hours=9)) == 1


def test_deliveries_stop_when_the_coordination_ends_even_if_the_job_never_runs(
    db, dashboard_socket, world
):
    from tests.factories import add_member

    leaving = make_user(role="coordinator", profession="nurse")
    add_member(world.team, leaving, "coordinator")
    membership = db.session.query(TeamMembership).filter_by(user_id=leaving.id).one()
    today = clock.paris_today()
    membership.ends_on = today  # coordinates until tonight's midnight
    db.session.commit()
    staying = _following(dashboard_socket, world)
    sock = dashboard_socket(leaving)
    assert _join(sock, world.team)["ok"] is True
    received(sock)
    end = clock.paris_midnight(today + timedelta(days=1))
    with clock.frozen(end - timedelta(seconds=1)):
        make_row(world.patient, world.team, by=world.coord, status="failed")
        db.session.commit()
    assert _changes(sock) != []
    assert _changes(staying) != []
    with clock.frozen(end):
        make_row(world.patient, world.team, by=world.coord, status="failed")
        db.session.commit()
    assert _changes(sock) == []
    assert _changes(staying) != []  # an open-ended coordinator still receives


def test_logout_everywhere_disconnects_the_dashboard(db, app, client, auth, world):
    auth.login(world.coord)
    sock = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert sock.is_connected(NS)
    assert auth.post("/account/logout-everywhere").status_code == 302
    assert not sock.is_connected(NS)


def _workload_events(sock) -> list[dict]:
    return [e["args"][0] for e in received(sock, "workload_changed")]


def _workload_row(client, world, user) -> str:
    body = client.get(f"/teams/{world.team.id}/dashboard/workload").get_data(as_text=True)
    start = body.index(f"{user.first_name} {user.last_name}")
    return " ".join(body[start : body.index("</tr>", start)].split())


def test_the_workload_table_follows_its_actions_live(db, client, auth, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    auth.login(world.coord)
    assert 'class="num">0</td>' in _workload_row(client, world, world.nurse)

    plan = make_plan(world, world.patient, due_on=clock.paris_today() - timedelta(days=1))
    assert {"team_id": world.team.id} in _workload_events(sock)
    row = _workload_row(client, world, world.nurse)
    assert 'class="num">1</td>' in row and '<strong class="late">1</strong>' in row

    [(_, action)] = load_content(plan.draft).actions()
    done = action.model_copy(update={"status": ActionStatus.DONE})
    plan_services.update_action(world.coord, plan, action, done, ctx(world.coord))
    assert _workload_events(sock) == []  # nothing before the commit
    db.session.commit()
    assert _workload_events(sock) == [{"team_id": world.team.id}]
    assert 'class="num">0</td>' in _workload_row(client, world, world.nurse)

    # A change that moves no action leaves the workload alone.
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", ctx(world.coord)
    )
    db.session.commit()
    assert _changes(sock) and _workload_events(sock) == []


def test_another_teams_actions_do_not_reach_the_workload(db, dashboard_socket, world):
    sock = _following(dashboard_socket, world)
    patient = make_patient(world.other_team, world.other_coord)
    db.session.commit()
    received(sock)
    from tests.dashboards.conftest import enrolment_of

    plan = plan_services.create_plan(
        world.other_coord, enrolment_of(patient, world.other_team), ctx(world.other_coord)
    )
    db.session.commit()
    assert plan.id and _workload_events(sock) == []
