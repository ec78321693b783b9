"""The job that renders meeting reports and minutes to PDF/A, then queues the DMP filings.

Rendering takes a fraction of a second per page: it never happens in a web request. Each
document is committed on its own; a render that fails marks its document failed (a person
may ask again) and does not stop the others. The filing of a report is queued in the same
commit as its PDF, so it exists exactly when the PDF does, and only once.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app

from ptap.extensions import db
from ptap.meetings import reports
from ptap.meetings.models import Meeting
from ptap.meetings.report_content import render_minutes_pdf, render_report_pdf
from ptap.meetings.report_dmp import request_report_filing
from ptap.meetings.report_models import MeetingMinutes, MeetingReport, PdfStatus, ReportStatus

log = logging.getLogger(__name__)

#: Documents rendered per run (each one committed on its own).
RENDER_BATCH = 10


def _render_reports() -> int:
    pending = list(
        db.session.scalars(
            sa.select(MeetingReport)
            .where(MeetingReport.pdf_status == PdfStatus.PENDING)
            .order_by(MeetingReport.id)
            .limit(RENDER_BATCH)
        )
    )
    for report in pending:
        try:
            pdf: bytes | None = render_report_pdf(report)
        except Exception:
            log.exception("meeting report %d failed to render", report.id)
            db.session.rollback()
            report = db.session.get_one(MeetingReport, report.id)
            pdf = None
        reports.store_report_pdf(report, pdf)
        if pdf is not None:
            request_report_filing(report)
        db.session.commit()
    return len(pending)


def _render_minutes() -> int:
    pending = list(
        db.session.scalars(
            sa.select(MeetingMinutes)
            .where(MeetingMinutes.pdf_status == PdfStatus.PENDING)
            .order_by(MeetingMinutes.id)
            .limit(RENDER_BATCH)
        )
    )
    for minutes in pending:
        try:
            pdf: bytes | None = render_minutes_pdf(db.session.get_one(Meeting, minutes.meeting_id))
        except Exception:
            log.exception("minutes of meeting %d failed to render", minutes.meeting_id)
            db.session.rollback()
            minutes = db.session.get_one(MeetingMinutes, minutes.id)
            pdf = None
        reports.store_minutes_pdf(minutes, pdf)
        db.session.commit()
    return len(pending)


def _queue_unfiled_reports() -> int:
    """Queue the filing of reports approved and rendered while the DMP was off (idempotent:
    a version is queued once; a replaced version is not filed, its correction is)."""
    if not current_app.config["DMP_ENABLED"]:
        return 0
    waiting = list(
        db.session.scalars(
            sa.select(MeetingReport)
            .where(
                MeetingReport.status == ReportStatus.APPROVED,
                MeetingReport.pdf_status == PdfStatus.READY,
                MeetingReport.filing_requested_at.is_(None),
            )
            .order_by(MeetingReport.id)
            .limit(RENDER_BATCH)
        )
    )
    queued = sum(request_report_filing(report) for report in waiting)
    db.session.commit()
    return queued


def render_meeting_documents() -> int:
    """Render the approved reports and requested minutes waiting for their PDF, and queue the
    filings left over from a time the DMP was off; return how many documents were rendered."""
    rendered = _render_reports() + _render_minutes()
    _queue_unfiled_reports()
    return rendered
