"""Regression tests of the meetings review (need-to-know across time, teams and roles)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_teams.circle import invite_to_circle
from ptap.care_teams.models import TeamMembership
from ptap.core import clock
from ptap.core.policy import can
from ptap.extensions import db
from ptap.meetings import calendar, present, queries, services
from tests.factories import make_user
from tests.filings.conftest import api_headers
from tests.meetings.helpers import build_meeting_world


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
