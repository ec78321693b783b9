"""Meeting reports: prepare a draft, edit it, approve it (the chair), correct it; team minutes.

Services flush and never commit. Approval only marks the version for rendering: the PDF/A is
rendered by the ``render_meeting_documents`` job (report_tasks.py), which then queues the DMP
filing through the bridge outbox; a request never renders and never files. A correction after
approval is a new version of the same document set: filed as a replacement (RPLC).
"""

from __future__ import annotations

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import Patient
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.extensions import db
from ptap.meetings.models import ItemStatus, Meeting, MeetingAgendaItem, MeetingStatus
from ptap.meetings.report_content import snapshot
from ptap.meetings.report_models import (
    MeetingMinutes,
    MeetingReport,
    PdfStatus,
    ReportStatus,
)

NOT_CHAIR = "Seul le président de séance peut approuver le compte rendu."
SUMMARY_MAX = 20_000


def latest_report(item_id: int) -> MeetingReport | None:
    """Return the newest version of an agenda patient's report, if any."""
    return db.session.scalar(
        sa.select(MeetingReport)
        .where(MeetingReport.item_id == item_id)
        .order_by(MeetingReport.version.desc())
        .limit(1)
    )


def _require_writer(user: User, meeting: Meeting, item: MeetingAgendaItem) -> None:
    """The chair, the secretary and the team's coordinators write reports they may read."""
    require(user, "meeting.manage", meeting)
    require(user, "patient.read", db.session.get_one(Patient, item.patient_id))


def _clean_summary(summary: str) -> str:
    text = summary.strip()
    if not text:
        raise InvalidInput("Le résumé de la discussion est obligatoire.", field="summary")
    if len(text) > SUMMARY_MAX:
        raise InvalidInput(f"Le résumé ne peut dépasser {SUMMARY_MAX} caractères.", field="summary")
    return text


def _audit(ctx: AuditContext, action: str, report: MeetingReport) -> None:
    record_event(
        ctx,
        action,
        object_type="meeting_report",
        object_id=report.id,
        patient_id=report.patient_id,
    )


def prepare_report(
    user: User, meeting: Meeting, item: MeetingAgendaItem, ctx: AuditContext
) -> MeetingReport:
    """Write (or refresh) the draft report of a discussed patient from the meeting's record."""
    if item.meeting_id != meeting.id:
        raise InvalidInput("Ce patient n'est pas à l'ordre du jour de la réunion.", field="item")
    _require_writer(user, meeting, item)
    if meeting.status == MeetingStatus.CANCELLED:
        raise Conflict("La réunion a été annulée : il n'y a pas de compte rendu.")
    if item.status != ItemStatus.DISCUSSED:
        raise InvalidInput(
            "Aucune décision n'est encore enregistrée pour ce patient : le compte rendu "
            "se prépare après les décisions.",
            field="item",
        )
    latest = latest_report(item.id)
    if latest is not None and latest.status != ReportStatus.DRAFT:
        raise Conflict(
            "Le compte rendu est déjà approuvé : corrigez-le pour en créer une nouvelle version.",
            field="status",
        )
    if latest is not None and latest.replaces_id is not None:
        raise Conflict(
            "Une correction est en cours : modifiez-la directement puis faites-la approuver.",
            field="status",
        )
    if latest is None:
        latest = MeetingReport(
            item_id=item.id,
            meeting_id=meeting.id,
            patient_id=item.patient_id,
            version=1,
            created_by_id=user.id,
        )
        db.session.add(latest)
    latest.summary = item.summary
    latest.content = snapshot(item)
    db.session.flush()
    _audit(ctx, "meeting_report.prepare", latest)
    return latest


def edit_report(
    user: User, report: MeetingReport, summary: str, ctx: AuditContext
) -> MeetingReport:
    """Change the summary of a draft report (an approved version never changes)."""
    meeting = db.session.get_one(Meeting, report.meeting_id)
    _require_writer(user, meeting, db.session.get_one(MeetingAgendaItem, report.item_id))
    if report.status != ReportStatus.DRAFT:
        raise Conflict("Seul un brouillon de compte rendu peut être modifié.", field="status")
    report.summary = _clean_summary(summary)
    db.session.flush()
    _audit(ctx, "meeting_report.edit", report)
    return report


def approve_report(user: User, report: MeetingReport, ctx: AuditContext) -> MeetingReport:
    """Approve a draft (the meeting's chair only); the job renders it and then files it."""
    meeting = db.session.get_one(Meeting, report.meeting_id)
    require(user, "meeting.read", meeting)
    require(user, "patient.read", db.session.get_one(Patient, report.patient_id))
    if user.id != meeting.chair_id:
        raise PermissionDenied(NOT_CHAIR)
    if report.status != ReportStatus.DRAFT:
        raise Conflict("Ce compte rendu est déjà approuvé.", field="status")
    if not report.summary.strip():
        raise InvalidInput("Le résumé de la discussion est obligatoire.", field="summary")
    now = utcnow()
    # Atomic against a second approval racing this one: only a draft in the database moves.
    done = db.session.execute(
        sa.update(MeetingReport)
        .where(MeetingReport.id == report.id, MeetingReport.status == ReportStatus.DRAFT)
        .values(
            status=ReportStatus.APPROVED,
            approved_by_id=user.id,
            approved_at=now,
            pdf_status=PdfStatus.PENDING,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Ce compte rendu est déjà approuvé.", field="status")
    if report.replaces_id is not None:
        db.session.execute(
            sa.update(MeetingReport)
            .where(MeetingReport.id == report.replaces_id)
            .values(status=ReportStatus.REPLACED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.refresh(report)
    _audit(ctx, "meeting_report.approve", report)
    return report


def correct_report(
    user: User, report: MeetingReport, summary: str, reason: str, ctx: AuditContext
) -> MeetingReport:
    """Start a corrected version of an approved report; approved, it replaces the previous."""
    meeting = db.session.get_one(Meeting, report.meeting_id)
    item = db.session.get_one(MeetingAgendaItem, report.item_id)
    _require_writer(user, meeting, item)
    if report.status != ReportStatus.APPROVED:
        raise Conflict(
            "Seul le compte rendu approuvé en vigueur peut être corrigé.", field="status"
        )
    if not reason.strip():
        raise InvalidInput("Indiquez le motif de la correction.", field="reason")
    latest = latest_report(item.id)
    if latest is not None and latest.id != report.id:
        raise Conflict("Une correction de ce compte rendu est déjà en cours.", field="status")
    draft = MeetingReport(
        item_id=item.id,
        meeting_id=meeting.id,
        patient_id=report.patient_id,
        version=report.version + 1,
        summary=_clean_summary(summary),
        content=dict(report.content),
        correction_reason=reason.strip()[:2000],
        replaces_id=report.id,
        created_by_id=user.id,
    )
    db.session.add(draft)
    db.session.flush()
    _audit(ctx, "meeting_report.correct", draft)
    return draft


def store_report_pdf(report: MeetingReport, pdf: bytes | None) -> None:
    """Attach the rendered PDF to an approved version (None: the render failed)."""
    report.pdf = pdf
    report.pdf_status = PdfStatus.READY if pdf is not None else PdfStatus.FAILED
    report.pdf_ready_at = utcnow() if pdf is not None else None
    db.session.flush()


def retry_report_pdf(user: User, report: MeetingReport) -> MeetingReport:
    """Ask the job to render a report whose rendering failed again."""
    require(user, "meeting.manage", db.session.get_one(Meeting, report.meeting_id))
    if report.pdf_status != PdfStatus.FAILED:
        raise Conflict("Le document n'est pas en échec.", field="pdf_status")
    report.pdf_status = PdfStatus.PENDING
    db.session.flush()
    return report


def request_minutes(user: User, meeting: Meeting) -> MeetingMinutes:
    """Ask the job for the team minutes of a meeting (again, when asked once more)."""
    require(user, "meeting_minutes.read", meeting)
    if meeting.status == MeetingStatus.CANCELLED:
        raise Conflict("La réunion a été annulée : il n'y a pas de relevé de décisions.")
    minutes = db.session.scalar(
        sa.select(MeetingMinutes).where(MeetingMinutes.meeting_id == meeting.id)
    )
    if minutes is None:
        minutes = MeetingMinutes(meeting_id=meeting.id, requested_by_id=user.id)
        db.session.add(minutes)
    elif minutes.pdf_status == PdfStatus.PENDING:
        return minutes
    minutes.pdf_status = PdfStatus.PENDING
    minutes.requested_by_id = user.id
    minutes.requested_at = utcnow()
    db.session.flush()
    return minutes


def store_minutes_pdf(minutes: MeetingMinutes, pdf: bytes | None) -> None:
    """Attach the rendered minutes (None: the render failed)."""
    minutes.pdf = pdf
    minutes.pdf_status = PdfStatus.READY if pdf is not None else PdfStatus.FAILED
    minutes.pdf_ready_at = utcnow() if pdf is not None else None
    db.session.flush()
