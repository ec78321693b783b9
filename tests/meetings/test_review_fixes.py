"""Regression tests of the meetings review (need-to-know across time, teams and roles)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import load_content
from ptap.care_plans.models import CarePlanVersion
from ptap.care_teams import access
from ptap.care_teams.circle import invite_to_circle
from ptap.care_teams.models import CircleInvitation, Enrolment, TeamMembership
from ptap.core import clock
from ptap.core.errors import Conflict
from ptap.core.policy import can
from ptap.extensions import db
from ptap.meetings import calendar, present, queries, services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import MeetingDecision
from ptap.meetings.report_models import MeetingReport, ReportStatus
from tests.factories import make_user
from tests.filings.conftest import api_headers
from tests.meetings.helpers import build_meeting_world, meeting_data, reach_quorum


def _meeting_ids(user) -> set[int]:
    return {m.id for m in db.session.scalars(queries.meetings_query(user.id))}


def test_a_former_member_no_longer_reads_the_meeting_nor_finds_it_in_the_feed(db):
    w = build_meeting_world()
    assert can(w.physician, "meeting.read", w.meeting)
    assert w.meeting.id in {m.id for m in calendar.user_meetings(w.physician)}
    membership = db.session.scalars(
        sa.select(TeamMembership).filter_by(team_id=w.team.id, user_id=w.physician.id)
    ).one()
    membership.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.flush()
    assert not can(w.physician, "meeting.read", w.meeting)
    assert w.meeting.id not in {m.id for m in calendar.user_meetings(w.physician)}
    assert w.meeting.id not in _meeting_ids(w.physician)
    assert w.meeting.id not in {m.id for m in queries.upcoming_for_user(w.physician.id)}


def test_a_guest_reads_the_meeting_only_while_the_invitation_lasts(db):
    w = build_meeting_world()
    guest = make_user(profession="pharmacist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)
    assert can(guest, "meeting.read", w.meeting)
    assert w.meeting.id in {m.id for m in calendar.user_meetings(guest)}
    with clock.frozen(services.guest_access_end(w.meeting) + timedelta(minutes=1)):
        assert not can(guest, "meeting.read", w.meeting)
        assert w.meeting.id not in {m.id for m in calendar.user_meetings(guest)}
        assert w.meeting.id not in _meeting_ids(guest)


def test_a_patients_meeting_history_shows_only_meetings_the_viewer_may_read(db, client):
    w = build_meeting_world()
    # Another team's professional is let into the patient's circle for a day.
    invite_to_circle(
        w.coord, w.patient, w.outsider, clock.now() + timedelta(days=1), "Avis", SYSTEM
    )
    assert queries.meetings_for_patient(w.patient.id, w.coord) != []
    assert queries.meetings_for_patient(w.patient.id, w.outsider) == []
    assert present.patient_history(w.patient.id, w.outsider) == []
    db.session.commit()
    url = f"/api/v1/patients/{w.patient.id}/meetings"
    assert client.get(url, headers=api_headers(w.outsider)).json["items"] == []
    assert len(client.get(url, headers=api_headers(w.coord)).json["items"]) == 1


def _objective() -> list[DecisionInput]:
    return [DecisionInput("add_objective", {"key": "home", "title": "Adapter le logement"})]


def test_no_decision_once_the_items_report_is_approved(db):
    w = build_meeting_world()
    reach_quorum(w)
    db.session.add(
        MeetingReport(
            item_id=w.item.id,
            meeting_id=w.meeting.id,
            patient_id=w.patient.id,
            status=ReportStatus.APPROVED,
            created_by_id=w.coord.id,
            approved_by_id=w.coord.id,
            approved_at=clock.now(),
        )
    )
    db.session.flush()
    decisions = [DecisionInput("request_revision", {})]
    with pytest.raises(Conflict) as exc:
        services.record_decisions(w.coord, w.item, "", decisions, w.version.id, SYSTEM)
    assert exc.value.field == "item_id" and "correction" in exc.value.message
    assert db.session.scalar(sa.select(sa.func.count(MeetingDecision.id))) == 0


def test_a_colleagues_unpublished_first_draft_is_not_published_by_the_meeting(db):
    w = build_meeting_world()
    item = services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM, reason="no_plan")
    enrolment = db.session.scalars(sa.select(Enrolment).filter_by(patient_id=w.newcomer.id)).one()
    plan = plan_services.create_plan(w.coord, enrolment, SYSTEM)
    content = load_content(plan.draft)
    content.expectations = "Brouillon en cours, pas encore relu"
    plan_services.save_draft(w.coord, plan, content, plan.draft_revision, SYSTEM)
    reach_quorum(w)
    with pytest.raises(Conflict) as exc:
        services.record_decisions(w.coord, item, "", _objective(), None, SYSTEM)
    assert "non publiées" in exc.value.message
    assert (
        db.session.scalar(sa.select(sa.func.count(CarePlanVersion.id)).filter_by(plan_id=plan.id))
        == 0
    )


def test_decisions_numbered_at_the_same_time_are_a_conflict(db, monkeypatch):
    w = build_meeting_world()
    reach_quorum(w)
    db.session.add(  # what a concurrent request stored between our max() and our insert
        MeetingDecision(
            item_id=w.item.id,
            position=1,
            kind="request_revision",
            payload={},
            recorded_by_id=w.coord.id,
        )
    )
    real = db.session.scalar
    calls = {"n": 0}

    def stale_max(stmt, *args, **kwargs):
        if "max(meeting_decisions.position)" in str(stmt).lower() and not calls["n"]:
            calls["n"] += 1
            return 0
        return real(stmt, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", stale_max)
    decisions = [DecisionInput("request_revision", {})]
    with pytest.raises(Conflict) as exc:
        services.record_decisions(w.coord, w.item, "", decisions, w.version.id, SYSTEM)
    assert exc.value.field == "decisions" and "en même temps" in exc.value.message
    db.session.rollback()


def test_a_weekly_guest_gets_access_lasting_until_the_next_meeting(db):
    w = build_meeting_world()
    guest = make_user(profession="pharmacist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)
    next_week = services.schedule_meeting(
        w.coord,
        w.team,
        meeting_data(w.coord, w.nurse, starts_at=w.meeting.starts_at + timedelta(days=7)),
        SYSTEM,
    )
    services.add_agenda_item(w.coord, next_week, w.patient, SYSTEM)
    services.invite_guest(w.coord, next_week, guest, [w.patient.id], SYSTEM)
    ends = db.session.scalars(
        sa.select(CircleInvitation.expires_at).filter_by(user_id=guest.id, patient_id=w.patient.id)
    ).all()
    assert len(ends) == 2
    with clock.frozen(next_week.starts_at + timedelta(minutes=10)):
        visible = set(db.session.scalars(access.visible_patient_ids(guest.id)))
        assert w.patient.id in visible
        assert can(guest, "meeting.read", next_week)
        assert [i.patient_id for i in queries.visible_agenda(guest, next_week)] == [w.patient.id]
