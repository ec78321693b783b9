"""The demo's meeting reports: approved by the chair; the job renders and queues them."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.dmp_bridge.models import DmpSubmission
from ptap.meetings.report_demo import load_reports_demo
from ptap.meetings.report_models import MeetingReport
from ptap.meetings.report_tasks import render_meeting_documents
from tests.factories import make_patient
from tests.meetings.report_world import build_report_world, discuss


def test_demo_reports_are_approved_rendered_and_queued_once(db):
    w = build_report_world()
    other = make_patient(w.team, w.secretary)
    discuss(w.meeting, other, w.secretary, position=2)
    db.session.commit()
    assert load_reports_demo() == 2
    assert db.session.scalars(sa.select(MeetingReport.pdf_status)).all() == ["pending"] * 2
    while render_meeting_documents():  # the scheduler's job renders and queues them
        pass
    reports = db.session.scalars(sa.select(MeetingReport).order_by(MeetingReport.id)).all()
    assert [(r.status, r.pdf_status, r.approved_by_id) for r in reports] == [
        ("approved", "ready", w.chair.id)
    ] * 2
    filings = db.session.scalars(sa.select(DmpSubmission)).all()
    assert sorted(f.source_ref for f in filings) == sorted(
        f"meeting_report:{r.id}" for r in reports
    )
    assert {f.status for f in filings} == {"pending"}  # the scheduler files them
    assert load_reports_demo() == 0
    assert len(db.session.scalars(sa.select(DmpSubmission)).all()) == 2
