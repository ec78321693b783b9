"""Plain data for the report and minutes pages (templates get no ORM object)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.care_teams.models import Patient
from ptap.core.formatting import label, local_datetime
from ptap.core.policy import can
from ptap.extensions import db
from ptap.meetings import queries, report_queries
from ptap.meetings.models import (
    ITEM_STATUS_LABELS,
    MEETING_STATUS_LABELS,
    ItemStatus,
    Meeting,
    MeetingAgendaItem,
)
from ptap.meetings.report_models import (
    PDF_STATUS_LABELS,
    REPORT_STATUS_LABELS,
    MeetingReport,
    PdfStatus,
    ReportStatus,
)


def _meeting(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "title": meeting.title,
        "when": local_datetime(meeting.starts_at),
        "status": label(MEETING_STATUS_LABELS, meeting.status),
        "ics_url": url_for("calendars.meeting_ics", meeting_id=meeting.id),
    }


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    rows = db.session.execute(
        sa.select(User.id, User.first_name, User.last_name).where(User.id.in_(wanted))
    )
    return {i: f"{first} {last}" for i, first, last in rows}


def _version(
    report: MeetingReport, meeting: Meeting, names: dict[int, str], filings: dict[int, str]
) -> dict[str, Any]:
    ready = report.pdf_status == PdfStatus.READY
    return {
        "version": report.version,
        "status": label(REPORT_STATUS_LABELS, report.status),
        "status_key": report.status,
        "approved_by": names.get(report.approved_by_id or 0, ""),
        "approved_at": local_datetime(report.approved_at),
        "pdf": label(PDF_STATUS_LABELS, report.pdf_status),
        "pdf_url": url_for(
            "meeting_reports.download_report",
            meeting_id=meeting.id,
            item_id=report.item_id,
            version=report.version,
        )
        if ready
        else "",
        "failed": report.pdf_status == PdfStatus.FAILED,
        "filing": dmp_bridge.STATUS_LABELS.get(filings.get(report.id, ""), ""),  # type: ignore[call-overload]
        "correction_reason": report.correction_reason,
    }


def report_page(user: User, meeting: Meeting, item: MeetingAgendaItem) -> dict[str, Any]:
    """The report page of one agenda patient: versions, the latest text, allowed actions."""
    versions = report_queries.list_versions(item.id)
    latest = versions[0] if versions else None
    names = _names({meeting.chair_id, *(v.approved_by_id for v in versions)})
    filings = report_queries.filing_statuses([v.id for v in versions])
    patient = db.session.get_one(Patient, item.patient_id)
    writer = can(user, "meeting.manage", meeting)
    draft = latest is not None and latest.status == ReportStatus.DRAFT
    return {
        "meeting": _meeting(meeting),
        "patient": {"id": patient.id, "name": patient.display_name},
        "item_id": item.id,
        "item_status": label(ITEM_STATUS_LABELS, item.status),
        "chair": names.get(meeting.chair_id, ""),
        "latest": latest,
        "text": {
            "summary": latest.summary if latest else "",
            "participants": latest.content.get("participants", []) if latest else [],
            "decisions": latest.content.get("decisions", []) if latest else [],
        },
        "versions": [_version(v, meeting, names, filings) for v in versions],
        # A correction is edited, never re-taken from the meeting's record.
        "can_prepare": writer
        and item.status == ItemStatus.DISCUSSED
        and (latest is None or (draft and latest.replaces_id is None)),
        "can_manage": writer,
        "can_edit": writer and draft,
        "can_approve": user.id == meeting.chair_id and draft,
        "can_correct": writer and latest is not None and latest.status == ReportStatus.APPROVED,
        "pending_pdf": any(v.pdf_status == PdfStatus.PENDING for v in versions),
    }


def reports_overview(user: User, meeting: Meeting) -> dict[str, Any]:
    """The meeting's reports (agenda patients the user may see) and its minutes."""
    items = queries.visible_agenda(user, meeting)
    latest = report_queries.latest_by_item([i.id for i in items])
    patients = {
        p.id: p
        for p in db.session.scalars(
            sa.select(Patient).where(Patient.id.in_([i.patient_id for i in items]))
        )
    }
    minutes = report_queries.find_minutes(meeting.id)
    may_minutes = can(user, "meeting_minutes.read", meeting)
    minutes_ready = minutes is not None and minutes.pdf_status == PdfStatus.READY
    return {
        "meeting": _meeting(meeting),
        "rows": [
            {
                "patient_id": item.patient_id,
                "patient": patients[item.patient_id].display_name,
                "item_status": label(ITEM_STATUS_LABELS, item.status),
                "report": label(REPORT_STATUS_LABELS, latest[item.id].status)
                if item.id in latest
                else "Pas encore de compte rendu",
                "url": url_for(
                    "meeting_reports.show_report", meeting_id=meeting.id, item_id=item.id
                ),
            }
            for item in items
        ],
        "hidden": queries.hidden_agenda_count(user, meeting),
        "minutes": {
            "allowed": may_minutes,
            "status": label(PDF_STATUS_LABELS, minutes.pdf_status)
            if minutes is not None
            else "Pas encore demandé",
            "url": url_for("meeting_reports.download_minutes", meeting_id=meeting.id)
            if minutes_ready
            else "",
            "pending": minutes is not None and minutes.pdf_status == PdfStatus.PENDING,
        },
    }
