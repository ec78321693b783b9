"""Pages of meeting reports and minutes: status, approval by the chair, downloads.

A page never renders a PDF: it shows "en préparation" until the job has stored it. Every
report page loads its patient through need-to-know (audited); the minutes, which name every
discussed patient, are for the team's members and their download is audited per patient.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import note_patients_shown, request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.actions import run_action
from ptap.core.forms import attach_error
from ptap.core.policy import require, requires
from ptap.extensions import db
from ptap.meetings import queries, report_queries, reports
from ptap.meetings.downloads import pdf_response
from ptap.meetings.models import Meeting, MeetingAgendaItem
from ptap.meetings.report_forms import ReportCorrectionForm, ReportSummaryForm
from ptap.meetings.report_present import report_page, reports_overview

bp = Blueprint("meeting_reports", __name__)


def _load(meeting_id: int, item_id: int) -> tuple[Meeting, MeetingAgendaItem]:
    meeting = queries.get_meeting_for(current_user, meeting_id)
    item = queries.get_item(meeting, item_id)
    load_patient(item.patient_id, what="meeting_report")
    return meeting, item


def _page(meeting: Meeting, item: MeetingAgendaItem, **forms):
    context = report_page(current_user, meeting, item)
    latest = context["latest"]
    forms.setdefault("summary_form", ReportSummaryForm(summary=latest.summary if latest else ""))
    forms.setdefault(
        "correction_form", ReportCorrectionForm(summary=latest.summary if latest else "")
    )
    status = 422 if any(f.errors for f in forms.values()) else 200
    return render_template("meetings/report.html", form=EmptyForm(), **context, **forms), status


def _back(meeting: Meeting, item: MeetingAgendaItem):
    return redirect(url_for(".show_report", meeting_id=meeting.id, item_id=item.id))


@bp.get("/meetings/<int:meeting_id>/items/<int:item_id>/report")
@requires("meeting_report.read")
def show_report(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    return _page(meeting, item)


@bp.post("/meetings/<int:meeting_id>/items/<int:item_id>/report/prepare")
@requires("meeting_report.read")
def prepare_report(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: reports.prepare_report(current_user, meeting, item, request_context()),
            success="Le brouillon du compte rendu est prêt.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return _back(meeting, item)


@bp.post("/meetings/<int:meeting_id>/items/<int:item_id>/report/edit")
@requires("meeting_report.read")
def edit_report(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    form = ReportSummaryForm()
    latest = reports.latest_report(item.id)
    if latest is None:
        flash("Préparez d'abord le brouillon du compte rendu.", "error")
        return _back(meeting, item)
    if not form.validate_on_submit():
        return _page(meeting, item, summary_form=form)
    outcome = run_action(
        lambda: reports.edit_report(current_user, latest, form.summary.data, request_context()),
        success="Le brouillon est enregistré.",
    )
    if not outcome.ok:
        attach_error(form, outcome.failure)
        return _page(meeting, item, summary_form=form)
    return _back(meeting, item)


@bp.post("/meetings/<int:meeting_id>/items/<int:item_id>/report/approve")
@requires("meeting_report.read")
def approve_report(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    latest = reports.latest_report(item.id)
    if EmptyForm().validate_on_submit() and latest is not None:
        outcome = run_action(
            lambda: reports.approve_report(current_user, latest, request_context()),
            success="Compte rendu approuvé : son PDF est en préparation, puis il sera "
            "versé au DMP du patient.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
            return _page(meeting, item)[0], outcome.failure.status
    return _back(meeting, item)


@bp.post("/meetings/<int:meeting_id>/items/<int:item_id>/report/correct")
@requires("meeting_report.read")
def correct_report(meeting_id: int, item_id: int):
    meeting, item = _load(meeting_id, item_id)
    form = ReportCorrectionForm()
    latest = reports.latest_report(item.id)
    if latest is None:
        return _back(meeting, item)
    if not form.validate_on_submit():
        return _page(meeting, item, correction_form=form)
    outcome = run_action(
        lambda: reports.correct_report(
            current_user, latest, form.summary.data, form.reason.data, request_context()
        ),
        success="Version corrigée créée : le président de séance doit l'approuver.",
    )
    if not outcome.ok:
        attach_error(form, outcome.failure)
        return _page(meeting, item, correction_form=form)
    return _back(meeting, item)


@bp.post("/meetings/<int:meeting_id>/items/<int:item_id>/report/v<int:version>/render")
@requires("meeting_report.read")
def retry_render(meeting_id: int, item_id: int, version: int):
    meeting, item = _load(meeting_id, item_id)
    report = report_queries.get_version(item.id, version)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: reports.retry_report_pdf(current_user, report),
            success="La mise en page est relancée.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return _back(meeting, item)


@bp.get("/meetings/<int:meeting_id>/items/<int:item_id>/report/v<int:version>.pdf")
@requires("meeting_report.read")
def download_report(meeting_id: int, item_id: int, version: int):
    meeting, item = _load(meeting_id, item_id)
    report = report_queries.get_version(item.id, version)
    pdf = report_queries.ready_pdf(report)
    db.session.commit()  # the read is audited (load_patient)
    return pdf_response(pdf, f"compte-rendu-concertation-{meeting.id}-{item.id}-v{version}.pdf")


@bp.get("/meetings/<int:meeting_id>/reports")
@requires("meeting_report.read")
def list_reports(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    context = reports_overview(current_user, meeting)
    note_patients_shown(row["patient_id"] for row in context["rows"])
    return render_template("meetings/report_list.html", form=EmptyForm(), **context)


@bp.post("/meetings/<int:meeting_id>/minutes")
@requires("meeting_report.read")
def request_minutes(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: reports.request_minutes(current_user, meeting),
            success="Le relevé de décisions est en préparation.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for(".list_reports", meeting_id=meeting.id))


@bp.get("/meetings/<int:meeting_id>/minutes.pdf")
@requires("meeting_report.read")
def download_minutes(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    require(current_user, "meeting_minutes.read", meeting)
    minutes = report_queries.find_minutes(meeting.id)
    if minutes is None:
        flash("Le relevé de décisions n'a pas encore été demandé.", "error")
        return redirect(url_for(".list_reports", meeting_id=meeting.id))
    pdf = report_queries.ready_pdf(minutes)
    note_patients_shown(item.patient_id for item in queries.list_items(meeting.id))
    return pdf_response(pdf, f"releve-decisions-concertation-{meeting.id}.pdf")
