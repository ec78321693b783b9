"""Meeting reports as DMP documents (LOINC 34794-8, class 10 "Compte rendu").

The versions of one agenda patient's report form one document set: a corrected version
replaces the previous one in the patient's DMP (RPLC). The filing is queued by the rendering
job, once, after approval; the bridge's worker then embeds the stored PDF/A in the CDA. The
team minutes are never described here: they never leave PTAP.
"""

from __future__ import annotations

from flask import current_app

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.care_teams.dmp import dmp_author, dmp_organisation, dmp_patient, structure_of_patient
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.extensions import db
from ptap.meetings.models import Meeting
from ptap.meetings.report_content import REPORT_TITLE, render_report_pdf
from ptap.meetings.report_models import DMP_SOURCE_TYPE, MeetingReport, ReportStatus

SOURCE_TYPE = DMP_SOURCE_TYPE


def request_report_filing(report: MeetingReport) -> bool:
    """Queue the filing of an approved, rendered version once; tell whether a row was queued.

    Never before approval; consent, identity and opposition gates apply as for care plans
    (the bridge blocks the row with the reason). Idempotent: a version is queued once.
    """
    if not current_app.config["DMP_ENABLED"] or report.filing_requested_at is not None:
        return False
    if report.approved_at is None or report.status == ReportStatus.DRAFT:
        return False
    meeting = db.session.get_one(Meeting, report.meeting_id)
    dmp_bridge.request_filing(
        kind=dmp_bridge.DocumentKind.MEETING_REPORT,
        set_key=f"{SOURCE_TYPE}:{report.item_id}",
        source_ref=f"{SOURCE_TYPE}:{report.id}",
        patient_id=report.patient_id,
        team_id=meeting.team_id,
        title=f"{REPORT_TITLE} — version {report.version}",
        requested_by_id=report.approved_by_id,
    )
    report.filing_requested_at = utcnow()
    db.session.flush()
    return True


def report_document(report_id: int, render: bool) -> dmp_bridge.DmpDocument:
    """Describe one approved report version as a DMP document (with its stored PDF/A)."""
    report = db.session.get_one(MeetingReport, report_id)
    if report.approved_by_id is None or report.approved_at is None:
        raise LookupError(f"meeting report {report_id} is not approved")
    meeting = db.session.get_one(Meeting, report.meeting_id)
    organisation = dmp_organisation(structure_of_patient(report.patient_id))
    chair = db.session.get_one(User, report.approved_by_id)
    author = dmp_author(chair, organisation)
    pdf = b""
    if render:
        # The PDF the job rendered is the one shown in PTAP: file that very document.
        pdf = report.pdf if report.pdf is not None else render_report_pdf(report)
    return dmp_bridge.DmpDocument(
        kind=dmp_bridge.DocumentKind.MEETING_REPORT,
        patient=dmp_patient(report.patient_id),
        title=REPORT_TITLE,
        pdf=pdf,
        author=author,
        legal_authenticator=author,
        organisation=organisation,
        created_at=report.approved_at,
        authenticated_at=report.approved_at,
        service_start=clock.paris_day(meeting.starts_at),
        service_stop=clock.paris_day(meeting.starts_at),
        local_patient_id=f"PTAP-{report.patient_id}",
        local_patient_oid=f"{current_app.config['DMP_OID_ROOT']}.9",
    )


def register() -> None:
    """Register the meeting-report document provider with the bridge."""
    dmp_bridge.register_document_provider(SOURCE_TYPE, report_document)
