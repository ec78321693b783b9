"""Meeting reports: draft, chair approval, PDF in the job, DMP filing once, correction = RPLC."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from lxml import etree

from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.dmp_bridge import gates, outbox
from ptap.dmp_bridge.conformance import format_report, validate_cda
from ptap.dmp_bridge.models import DmpSubmission, SubmissionStatus
from ptap.meetings import reports
from ptap.meetings.report_models import MeetingMinutes, MeetingReport, PdfStatus, ReportStatus
from ptap.meetings.report_tasks import render_meeting_documents
from tests.meetings.report_world import ReportWorld, build_report_world, ctx

HL7 = "{urn:hl7-org:v3}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.fixture
def w(db) -> ReportWorld:
    return build_report_world()


@pytest.fixture
def fast(app):
    """Skip the CI-SIS validation before sending (one test keeps it: it takes seconds)."""
    app.config["DMP_VALIDATE_BEFORE_SEND"] = False


def filings(db) -> list[DmpSubmission]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(DmpSubmission).order_by(DmpSubmission.id)))


def approved(db, w: ReportWorld) -> MeetingReport:
    draft = reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    report = reports.approve_report(w.chair, draft, ctx(w.chair))
    db.session.commit()
    return report


def test_prepare_takes_the_participants_professions_summary_and_decisions(db, w):
    draft = reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    assert (draft.status, draft.version, draft.pdf_status) == ("draft", 1, "none")
    assert draft.summary.startswith("Chutes répétées")
    people = {p["name"]: p for p in draft.content["participants"]}
    assert people[w.nurse.full_name]["profession"] == w.nurse.profession_label
    assert people[w.chair.full_name]["attendance"] == "Présent·e"
    assert draft.content["decisions"] == [
        "Nouvelle action : Bilan kinésithérapique, échéance 15/12/2026",
        "Prochaine réévaluation : 01/02/2027",
    ]
    # Preparing again refreshes the same draft.
    assert reports.prepare_report(w.chair, w.meeting, w.item, ctx(w.chair)).id == draft.id


def test_a_patient_not_discussed_has_no_report(db, w):
    w.item.status = "pending"
    with pytest.raises(InvalidInput) as err:
        reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    assert err.value.field == "item" and "Aucune décision" in err.value.message


def test_only_the_chair_approves(db, w):
    draft = reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    for user in (w.secretary, w.nurse):
        with pytest.raises(PermissionDenied) as err:
            reports.approve_report(user, draft, ctx(user))
        assert err.value.message == reports.NOT_CHAIR
    with pytest.raises(PermissionDenied):
        reports.approve_report(w.outsider, draft, ctx(w.outsider))
    db.session.refresh(draft)
    assert draft.status == ReportStatus.DRAFT and draft.approved_at is None


def test_nothing_is_rendered_nor_filed_before_approval(db, w, dmp):
    reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    db.session.commit()
    assert render_meeting_documents() == 0
    assert filings(db) == [] and outbox.send_due(dmp) == {}
    assert dmp.received == []


def test_approval_renders_in_the_job_then_files_once(db, w, dmp):
    report = approved(db, w)
    # The approval itself renders nothing and queues nothing: the job does both.
    assert report.pdf_status == PdfStatus.PENDING and report.pdf is None
    assert filings(db) == []
    assert render_meeting_documents() == 1
    db.session.refresh(report)
    assert report.pdf_status == PdfStatus.READY and report.pdf.startswith(b"%PDF")
    [row] = filings(db)
    assert (row.kind, row.source_ref, row.patient_id) == (
        "meeting_report",
        f"meeting_report:{report.id}",
        w.patient.id,
    )
    # A second run finds nothing to render and queues nothing more.
    assert render_meeting_documents() == 0 and len(filings(db)) == 1
    # The CDA passes the vendored CI-SIS schemas and schematrons (checked before sending too).
    assert outbox.send_due(dmp) == {"filed": 1}
    [row] = filings(db)
    assert row.status == SubmissionStatus.FILED
    cda = row.payload.cda
    report_check = validate_cda(cda)
    assert report_check.ok, format_report(report_check)
    root = etree.fromstring(cda, etree.XMLParser(huge_tree=True))
    code = root.find(f"{HL7}code")
    assert (code.get("code"), code.get("codeSystem")) == ("34794-8", "2.16.840.1.113883.6.1")
    request = etree.fromstring(row.payload.request)
    classes = [
        c.get("nodeRepresentation")
        for c in request.iter(f"{RIM}Classification")
        if c.get("classificationScheme") == "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    ]
    assert classes[0] == "10"  # then the XAdES signature of the submission set
    assert outbox.send_due(dmp) == {} and len(dmp.documents) == 1


def test_a_correction_after_approval_is_filed_as_a_replacement(db, w, dmp, fast):
    first = approved(db, w)
    render_meeting_documents()
    assert outbox.send_due(dmp) == {"filed": 1}
    with pytest.raises(Conflict):
        reports.edit_report(w.secretary, first, "Autre texte", ctx(w.secretary))
    with pytest.raises(InvalidInput) as err:
        reports.correct_report(w.secretary, first, "Texte corrigé", "  ", ctx(w.secretary))
    assert err.value.field == "reason"
    second = reports.correct_report(
        w.secretary,
        first,
        "Chutes répétées ; bilan kinésithérapique et ergothérapique.",
        "Oubli du bilan ergothérapique",
        ctx(w.secretary),
    )
    db.session.commit()
    assert (second.version, second.status, second.replaces_id) == (2, "draft", first.id)
    with pytest.raises(Conflict):  # a correction is never re-taken from the meeting's record
        reports.prepare_report(w.secretary, w.meeting, w.item, ctx(w.secretary))
    render_meeting_documents()
    assert len(filings(db)) == 1  # the correction is not filed before its approval
    reports.approve_report(w.chair, second, ctx(w.chair))
    db.session.commit()
    db.session.refresh(first)
    assert first.status == ReportStatus.REPLACED
    assert render_meeting_documents() == 1
    old, new = filings(db)
    assert (new.set_id, new.version_number) == (old.set_id, 2)
    assert outbox.send_due(dmp) == {"filed": 1}
    old, new = filings(db)
    cda = etree.fromstring(new.payload.cda, etree.XMLParser(huge_tree=True))
    parent = cda.find(f"{HL7}relatedDocument[@typeCode='RPLC']/{HL7}parentDocument/{HL7}id")
    assert parent is not None and parent.get("root") == old.document_oid
    request = etree.fromstring(new.payload.request)
    replaces = [a for a in request.iter(f"{RIM}Association") if a.get("associationType") == RPLC]
    assert [a.get("targetObject") for a in replaces] == [dmp.documents[old.document_oid].entry_uuid]


def test_a_dmp_opposition_blocks_the_filing_with_the_reason(db, w, dmp, fast):
    w.patient.dmp_opposition = True
    approved(db, w)
    render_meeting_documents()
    [row] = filings(db)
    assert row.status == SubmissionStatus.BLOCKED and row.status_reason == gates.OPPOSITION
    assert outbox.send_due(dmp) == {} and dmp.received == []


def test_the_minutes_are_rendered_by_the_job_and_never_filed(db, w, dmp, fast):
    minutes = reports.request_minutes(w.secretary, w.meeting)
    db.session.commit()
    assert minutes.pdf_status == PdfStatus.PENDING and minutes.pdf is None
    assert render_meeting_documents() == 1
    db.session.expire_all()
    minutes = db.session.scalars(sa.select(MeetingMinutes)).one()
    assert minutes.pdf_status == PdfStatus.READY and minutes.pdf.startswith(b"%PDF")
    assert filings(db) == [] and outbox.send_due(dmp) == {}
    with pytest.raises(PermissionDenied):
        reports.request_minutes(w.outsider, w.meeting)


def test_a_failed_render_files_nothing_until_retried(db, w, dmp, fast, monkeypatch):
    from ptap.meetings import report_content

    report = approved(db, w)
    real = report_content.render_pdf

    def broken(*args, **kwargs):
        raise OSError("police introuvable")

    monkeypatch.setattr(report_content, "render_pdf", broken)
    assert render_meeting_documents() == 1
    db.session.refresh(report)
    assert report.pdf_status == PdfStatus.FAILED and filings(db) == []
    assert render_meeting_documents() == 0  # a failure is not retried on its own
    with pytest.raises(PermissionDenied):
        reports.retry_report_pdf(w.nurse, report)
    reports.retry_report_pdf(w.secretary, report)
    db.session.commit()
    monkeypatch.setattr(report_content, "render_pdf", real)
    assert render_meeting_documents() == 1
    [row] = filings(db)
    assert row.source_ref == f"meeting_report:{report.id}"


def test_a_report_approved_while_the_dmp_was_off_is_filed_once_it_is_on(db, app, w, dmp):
    app.config["DMP_ENABLED"] = False
    report = approved(db, w)
    assert render_meeting_documents() == 1
    db.session.refresh(report)
    assert report.pdf_status == PdfStatus.READY and filings(db) == []
    render_meeting_documents()
    assert filings(db) == []  # still off: nothing queued
    app.config["DMP_ENABLED"] = True
    render_meeting_documents()
    [row] = filings(db)
    assert row.source_ref == f"meeting_report:{report.id}"
    render_meeting_documents()
    assert len(filings(db)) == 1  # queued once
