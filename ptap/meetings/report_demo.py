"""Demo meeting reports for `ptap demo`: every discussed patient of the closed demo meetings
gets its report, prepared by the secretary and approved by the chair at the end of the
meeting; the scheduler's job (render_meeting_documents, run by `ptap run` within seconds)
renders them and queues them for the DMP as in production: rendering here would take a large
share of the demo's time. Idempotent: patients that already have a report are left alone.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.core import clock
from ptap.extensions import db
from ptap.meetings import reports
from ptap.meetings.models import ItemStatus, Meeting, MeetingAgendaItem, MeetingStatus
from ptap.meetings.report_models import MeetingReport

AUDIT_LABEL = "ptap demo"


def load_reports_demo() -> int:
    """Approve a report for each discussed patient of the closed meetings; return how many."""
    rows = db.session.execute(
        sa.select(MeetingAgendaItem, Meeting)
        .join(Meeting, Meeting.id == MeetingAgendaItem.meeting_id)
        .where(
            Meeting.status == MeetingStatus.CLOSED,
            MeetingAgendaItem.status == ItemStatus.DISCUSSED,
            ~sa.exists().where(MeetingReport.item_id == MeetingAgendaItem.id),
        )
        .order_by(Meeting.starts_at, MeetingAgendaItem.position)
    ).all()
    for item, meeting in rows:
        chair = db.session.get_one(User, meeting.chair_id)
        secretary = db.session.get_one(User, meeting.secretary_id)
        done_at = (meeting.closed_at or meeting.starts_at) + timedelta(hours=2)
        with clock.frozen(done_at):
            draft = reports.prepare_report(
                secretary, meeting, item, AuditContext(secretary.id, AUDIT_LABEL)
            )
        with clock.frozen(done_at + timedelta(hours=1)):
            reports.approve_report(chair, draft, AuditContext(chair.id, AUDIT_LABEL))
    db.session.commit()
    return len(rows)
