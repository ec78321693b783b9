"""`ptap demo` adds past meetings whose decisions made plan versions, and an upcoming one."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.care_plans.models import CarePlanVersion
from ptap.demo import load_demo
from ptap.meetings.models import (
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingParticipant,
)


def test_demo_meetings_once(app, db):
    load_demo()
    meetings = db.session.scalars(sa.select(Meeting).order_by(Meeting.starts_at)).all()
    assert [m.status for m in meetings] == ["closed", "closed", "planned"]
    decided = db.session.scalars(
        sa.select(CarePlanVersion).where(CarePlanVersion.provenance_kind == "meeting")
    ).all()
    assert decided
    assert all(v.provenance_label.startswith("Décidé en concertation du ") for v in decided)
    assert db.session.scalar(sa.select(sa.func.count(MeetingDecision.id)))
    upcoming = meetings[-1]
    assert db.session.scalar(
        sa.select(sa.func.count(MeetingAgendaItem.id)).where(
            MeetingAgendaItem.meeting_id == upcoming.id
        )
    )
    reasons = set(
        db.session.scalars(
            sa.select(MeetingAgendaItem.reason).where(MeetingAgendaItem.meeting_id == upcoming.id)
        )
    )
    assert len(reasons) >= 2  # several kinds of suggestion on the upcoming agenda
    guests = db.session.scalars(sa.select(MeetingParticipant).filter_by(role="guest")).all()
    assert [g.meeting_id for g in guests] == [upcoming.id]
    load_demo()
    assert db.session.scalar(sa.select(sa.func.count(Meeting.id))) == 3
