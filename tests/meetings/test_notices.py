"""Invitations, changes, cancellations and reminders: in PTAP, and by e-mail without health data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.core import clock
from ptap.core.mail import MailMessage
from ptap.meetings.models import MeetingStatus
from ptap.meetings.notices import send_meeting_notices
from tests.meetings.report_world import ReportWorld, build_report_world

NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def w(app, db) -> ReportWorld:
    app.config["MAIL_TRANSPORT"] = "memory"
    world = build_report_world()
    world.meeting.status = MeetingStatus.PLANNED
    world.meeting.starts_at = NOW + timedelta(days=5)
    return world


def kinds(db, user) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Notification.kind)
            .where(Notification.user_id == user.id)
            .order_by(Notification.id)
        )
    )


def test_each_participant_is_invited_once_then_told_of_changes_and_cancellation(db, w):
    assert send_meeting_notices(NOW) == 3
    assert send_meeting_notices(NOW) == 0  # claimed: never twice
    assert kinds(db, w.nurse) == ["meeting_invited"]
    w.meeting.starts_at += timedelta(hours=2)
    w.meeting.ical_sequence += 1
    assert send_meeting_notices(NOW) == 3
    w.meeting.status = MeetingStatus.CANCELLED
    w.meeting.ical_sequence += 1
    assert send_meeting_notices(NOW) == 3
    assert send_meeting_notices(NOW) == 0
    assert kinds(db, w.nurse) == ["meeting_invited", "meeting_changed", "meeting_cancelled"]
    assert kinds(db, w.outsider) == []


def test_reminder_the_day_before_in_paris(db, w):
    send_meeting_notices(NOW)
    day_before = clock.paris_midnight(clock.paris_day(w.meeting.starts_at) - timedelta(days=1))
    assert send_meeting_notices(day_before - timedelta(minutes=1)) == 0
    assert send_meeting_notices(day_before + timedelta(hours=8)) == 3
    assert send_meeting_notices(day_before + timedelta(hours=9)) == 0
    assert kinds(db, w.chair) == ["meeting_invited", "meeting_reminder"]


def test_emails_carry_no_health_data(db, w):
    w.meeting.title = f"RCP {w.patient.birth_name}"
    send_meeting_notices(NOW)
    mails = list(db.session.scalars(sa.select(MailMessage)))
    assert len(mails) == 3
    for mail in mails:
        text = (mail.subject + mail.body).upper()
        assert w.patient.birth_name not in text and "RCP" not in text
        assert w.patient.ins_matricule not in text
