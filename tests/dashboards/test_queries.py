"""Each alert type appears when its cause arises and clears when it is fixed (real services)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_teams import circle
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.dashboards import queries
from ptap.dashboards.alerts import AlertKind
from ptap.dmp_bridge import cancel_submission
from ptap.messaging import services as messaging
from tests.dashboards.conftest import ctx, enrolment_of, kinds_of, listed, make_plan
from tests.factories import add_member, make_patient, make_team, make_user
from tests.filings.conftest import make_row


def test_overdue_action_appears_then_clears_when_done(db, world):
    today = clock.paris_today()
    plan = make_plan(world, world.patient, due_on=today - timedelta(days=3))
    assert AlertKind.OVERDUE_ACTIONS in kinds_of(world, world.patient)
    [alert] = [
        a
        for r in queries.build_dashboard(world.team.id, world.coord.id).rows
        for a in r.alerts
        if a.kind == AlertKind.OVERDUE_ACTIONS
    ]
    assert (alert.count, alert.since) == (1, today - timedelta(days=3))

    [(_, action)] = load_content(plan.draft).actions()
    done = action.model_copy(update={"status": ActionStatus.DONE})
    plan_services.update_action(world.coord, plan, action, done, ctx(world.coord))
    db.session.commit()
    assert AlertKind.OVERDUE_ACTIONS not in kinds_of(world, world.patient)


def test_action_due_today_is_not_overdue(db, world):
    make_plan(world, world.patient, due_on=clock.paris_today())
    assert AlertKind.OVERDUE_ACTIONS not in kinds_of(world, world.patient)


def test_review_due_within_14_days_or_overdue_then_cleared_by_a_new_date(db, world):
    today = clock.paris_today()
    plan = make_plan(world, world.patient, review_on=today + timedelta(days=14))
    assert AlertKind.REVIEW_DUE in kinds_of(world, world.patient)
    with clock.frozen(utcnow() + timedelta(days=20)):
        board = queries.build_dashboard(world.team.id, world.coord.id)
        [review] = [a for a in board.rows[0].alerts if a.kind == AlertKind.REVIEW_DUE]
        assert review.detail == "overdue"

    content = load_content(plan.draft).model_copy(
        update={"next_review_on": today + timedelta(days=60)}
    )
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, ctx(world.coord))
    plan_services.publish_version(world.coord, plan, "Nouvelle date", ctx(world.coord))
    db.session.commit()
    assert AlertKind.REVIEW_DUE not in kinds_of(world, world.patient)


def test_review_15_days_ahead_is_not_announced(db, world):
    make_plan(world, world.patient, review_on=clock.paris_today() + timedelta(days=15))
    assert AlertKind.REVIEW_DUE not in kinds_of(world, world.patient)


def _urgent(world, body="Chute ce matin, appeler la fille"):
    conversation = messaging.get_or_create_patient_conversation(world.nurse, world.patient)
    draft = messaging.MessageDraft(uuid.uuid4().hex, body, priority="urgent")
    result = messaging.send_message(world.nurse, conversation, draft, ctx(world.nurse))
    db_commit()
    return conversation, result.message


def db_commit():
    from ptap.extensions import db

    db.session.commit()


def test_unacknowledged_urgent_message_appears_then_clears_when_acknowledged(db, world):
    conversation, message = _urgent(world)
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.URGENT_MESSAGES]
    assert alert.target_id == conversation.id and alert.count == 1

    messaging.acknowledge_message(world.gp, message, ctx(world.gp))
    db.session.commit()
    assert AlertKind.URGENT_MESSAGES not in kinds_of(world, world.patient)


def test_a_normal_message_is_no_alert(db, world):
    conversation = messaging.get_or_create_patient_conversation(world.nurse, world.patient)
    draft = messaging.MessageDraft(uuid.uuid4().hex, "RAS")
    messaging.send_message(world.nurse, conversation, draft, ctx(world.nurse))
    db.session.commit()
    assert AlertKind.URGENT_MESSAGES not in kinds_of(world, world.patient)


def test_failed_or_blocked_filing_appears_then_clears_when_cancelled(db, world):
    failed = make_row(world.patient, world.team, by=world.coord, status="failed")
    make_row(world.patient, world.team, by=world.coord, status="blocked")
    make_row(world.patient, world.team, by=world.coord, status="filed")
    db.session.commit()
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.DMP_FILINGS]
    assert (alert.count, alert.other_count, alert.detail) == (1, 1, "failed")

    cancel_submission(failed, "Document remplacé")
    db.session.commit()
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.DMP_FILINGS]
    assert (alert.count, alert.other_count, alert.detail) == (0, 1, "blocked")


def test_another_teams_filing_is_not_this_teams_alert(db, world):
    make_row(world.patient, world.other_team, by=world.other_coord, status="failed")
    db.session.commit()
    assert AlertKind.DMP_FILINGS not in kinds_of(world, world.patient)


def test_missing_consent_appears_then_clears_when_collected(db, world):
    patient = make_patient(world.team, world.coord, consent=False)
    db.session.commit()
    assert AlertKind.CONSENT in kinds_of(world, patient)
    circle.record_consent(world.coord, patient, "sharing", True, "oral", "", ctx(world.coord))
    db.session.commit()
    assert AlertKind.CONSENT not in kinds_of(world, patient)


def test_withdrawn_consent_is_shown_to_the_enrolling_coordinator_only(db, world):
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", ctx(world.coord)
    )
    db.session.commit()
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.CONSENT]
    assert alert.detail == "withdrawn" and alert.since is not None
    # Another coordinator of the team no longer sees the patient at all (need-to-know).
    second = make_user(role="coordinator", profession="nurse")
    add_member(world.team, second, "coordinator")
    db.session.commit()
    assert world.patient.id not in listed(world, second)


def test_unqualified_identity_appears_then_clears_when_qualified(db, world):
    patient = make_patient(world.team, world.coord, status="provisional")
    db.session.commit()
    assert AlertKind.IDENTITY in kinds_of(world, patient)
    patient.identity_status = "qualified"
    db.session.commit()
    assert AlertKind.IDENTITY not in kinds_of(world, patient)


def test_break_glass_access_to_review_appears_then_clears_when_reviewed(db, world):
    stranger = make_user()
    add_member(make_team("Équipe SAMU"), stranger)
    grant = circle.open_break_glass(
        stranger,
        world.patient,
        "Patient inconscient aux urgences, traitement à connaître",
        ctx(stranger),
    )
    db.session.commit()
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.BREAK_GLASS]
    assert alert.target_id == grant.id and alert.detail == stranger.full_name

    circle.review_break_glass(world.coord, grant, "Urgence confirmée", ctx(world.coord))
    db.session.commit()
    assert AlertKind.BREAK_GLASS not in kinds_of(world, world.patient)


def test_no_plan_30_days_after_enrolment_appears_then_clears_when_published(db, world):
    enrolment = enrolment_of(world.patient, world.team)
    enrolment.enrolled_at = utcnow() - timedelta(days=29)
    db.session.commit()
    assert AlertKind.NO_PLAN not in kinds_of(world, world.patient)
    enrolment.enrolled_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert AlertKind.NO_PLAN in kinds_of(world, world.patient)

    plan = make_plan(world, world.patient, publish=False)  # a draft is not a plan yet
    board = queries.build_dashboard(world.team.id, world.coord.id)
    [alert] = [a for a in board.rows[0].alerts if a.kind == AlertKind.NO_PLAN]
    assert alert.detail == "draft"
    plan_services.publish_version(world.coord, plan, "Première version", ctx(world.coord))
    db.session.commit()
    assert AlertKind.NO_PLAN not in kinds_of(world, world.patient)


def test_caseload_is_the_teams_patients_the_viewer_sees(db, world):
    # Enrolled by another coordinator: that coordinator's alone, before the choice is recorded
    # (the team's other coordinators only get the list and consents page, not the caseload) and
    # once it is refused.
    second = make_user(role="coordinator", profession="nurse")
    add_member(world.team, second, "coordinator")
    to_collect = make_patient(world.team, second, consent=False)
    refused = make_patient(world.team, second, consent=False)
    circle.record_consent(second, refused, "sharing", False, "oral", "", ctx(second))
    ended = make_patient(world.team, world.coord)
    enrolment_of(ended, world.team).ended_at = utcnow()
    db.session.commit()
    assert listed(world) == {world.patient.id}
    assert listed(world, second) == {world.patient.id, to_collect.id, refused.id}


def test_workload_counts_open_and_overdue_actions_per_professional(db, world):
    today = clock.paris_today()
    make_plan(world, world.patient, due_on=today - timedelta(days=1))
    other = make_patient(world.team, world.coord)
    db.session.commit()
    make_plan(world, other, due_on=today + timedelta(days=5))
    board = queries.build_dashboard(world.team.id, world.coord.id)
    by_user = {w.user_id: (w.open_actions, w.overdue, w.team_role) for w in board.workload}
    assert by_user[world.nurse.id] == (2, 1, "member")
    assert by_user[world.gp.id] == (0, 0, "member")
    assert by_user[world.coord.id] == (0, 0, "coordinator")
    assert board.workload[0].user_id == world.nurse.id  # the most overdue first
