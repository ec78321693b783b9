"""JSON API of meeting reports, minutes and calendar files.

Routes declare `meeting_report.read`; the meeting is loaded through `meeting.read` (404
otherwise) and the report's patient through need-to-know (audited, 404 outside the circle).
Approval is the chair's (403 for anyone else). No request renders a PDF: a report whose PDF
is being prepared answers 404 with a French "en préparation" until the job has stored it.
"""

from __future__ import annotations

from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.api import api_route
from ptap.core.errors import NotFound
from ptap.core.policy import require
from ptap.extensions import db
from ptap.meetings import calendar, queries, report_queries, reports
from ptap.meetings.downloads import ics_response, pdf_response
from ptap.meetings.models import Meeting, MeetingAgendaItem
from ptap.meetings.report_models import MeetingReport
from ptap.meetings.report_schemas import MinutesOut, ReportCorrection, ReportEdit, ReportOut

TAGS = ("Concertations",)


def _load(meeting_id: int, item_id: int) -> tuple[Meeting, MeetingAgendaItem]:
    meeting = queries.get_meeting_for(current_user, meeting_id)
    item = queries.get_item(meeting, item_id)
    load_patient(item.patient_id, what="meeting_report")
    return meeting, item


def _latest(item: MeetingAgendaItem) -> MeetingReport:
    report = reports.latest_report(item.id)
    if report is None:
        raise NotFound("Ce patient n'a pas encore de compte rendu.")
    return report


def _out(report: MeetingReport) -> ReportOut:
    return ReportOut.of(report, report_queries.filing_statuses([report.id]).get(report.id))


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report",
    summary="Le compte rendu d'un patient de l'ordre du jour (sa dernière version : brouillon, "
    "approuvé ; état du PDF et du versement au DMP)",
    access="meeting_report.read",
    response=ReportOut,
    tags=TAGS,
)
def report_get(meeting_id: int, item_id: int):
    _, item = _load(meeting_id, item_id)
    db.session.commit()  # the read is audited even if what follows fails
    return _out(_latest(item))


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report",
    "POST",
    summary="Préparer (ou reprendre) le brouillon du compte rendu à partir des décisions "
    "enregistrées (président, secrétaire, coordinateurs de l'équipe)",
    access="meeting_report.read",
    response=ReportOut,
    status=201,
    tags=TAGS,
)
def report_prepare(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    report = reports.prepare_report(current_user, meeting, item, request_context())
    db.session.commit()
    return _out(report)


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report",
    "PATCH",
    summary="Modifier la synthèse du brouillon du compte rendu",
    access="meeting_report.read",
    body=ReportEdit,
    response=ReportOut,
    tags=TAGS,
)
def report_edit(meeting_id: int, item_id: int, body: ReportEdit):
    _, item = _load(meeting_id, item_id)
    report = reports.edit_report(current_user, _latest(item), body.summary, request_context())
    db.session.commit()
    return _out(report)


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report/approval",
    "POST",
    summary="Approuver le compte rendu (le président de séance seul) : le PDF/A est préparé "
    "par une tâche de fond puis versé au DMP du patient (34794-8)",
    access="meeting_report.read",
    response=ReportOut,
    tags=TAGS,
)
def report_approve(meeting_id: int, item_id: int):
    _, item = _load(meeting_id, item_id)
    report = reports.approve_report(current_user, _latest(item), request_context())
    db.session.commit()
    return _out(report)


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report/corrections",
    "POST",
    summary="Corriger le compte rendu approuvé : une nouvelle version qui, approuvée, remplace "
    "la précédente dans le DMP (RPLC)",
    access="meeting_report.read",
    body=ReportCorrection,
    response=ReportOut,
    status=201,
    tags=TAGS,
)
def report_correct(meeting_id: int, item_id: int, body: ReportCorrection):
    _, item = _load(meeting_id, item_id)
    report = reports.correct_report(
        current_user, _latest(item), body.summary, body.reason, request_context()
    )
    db.session.commit()
    return _out(report)


@api_route(
    "/meetings/<int:meeting_id>/items/<int:item_id>/report.pdf",
    summary="Le PDF/A de la dernière version approuvée du compte rendu (404 tant qu'il est en "
    "préparation)",
    access="meeting_report.read",
    tags=TAGS,
)
def report_pdf(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    db.session.commit()
    approved = next((v for v in report_queries.list_versions(item.id) if v.approved_at), None)
    if approved is None:
        raise NotFound("Le compte rendu n'est pas encore approuvé.")
    pdf = report_queries.ready_pdf(approved)
    return pdf_response(
        pdf, f"compte-rendu-concertation-{meeting.id}-{item.id}-v{approved.version}.pdf"
    )


@api_route(
    "/meetings/<int:meeting_id>/minutes",
    "POST",
    summary="Demander le relevé de décisions de la réunion (membres de l'équipe) ; il reste dans "
    "PTAP et n'est jamais versé au DMP",
    access="meeting_report.read",
    response=MinutesOut,
    status=202,
    tags=TAGS,
)
def minutes_request(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    minutes = reports.request_minutes(current_user, meeting)
    db.session.commit()
    return MinutesOut.of(minutes)


@api_route(
    "/meetings/<int:meeting_id>/minutes.pdf",
    summary="Le relevé de décisions de la réunion (PDF, membres de l'équipe ; 404 tant qu'il est "
    "en préparation)",
    access="meeting_report.read",
    tags=TAGS,
)
def minutes_pdf(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    require(current_user, "meeting_minutes.read", meeting)
    minutes = report_queries.find_minutes(meeting.id)
    if minutes is None:
        raise NotFound("Le relevé de décisions n'a pas encore été demandé.")
    pdf = report_queries.ready_pdf(minutes)
    note_patients_shown(item.patient_id for item in queries.list_items(meeting.id))
    return pdf_response(pdf, f"releve-decisions-concertation-{meeting.id}.pdf")


@api_route(
    "/meetings/<int:meeting_id>.ics",
    summary="La réunion au format iCalendar (RFC 5545) : UID stable, SEQUENCE à chaque "
    "changement, METHOD:CANCEL une fois annulée ; aucun patient n'y est nommé",
    access="meetings.list",
    tags=TAGS,
)
def calendar_meeting_ics(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    return ics_response(calendar.meeting_ics(meeting), f"reunion-{meeting.id}.ics")
