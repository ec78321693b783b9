"""Report, minutes and calendar pages and API: permissions, "en préparation", no PDF in requests."""

from __future__ import annotations

import re

import icalendar
import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core.errors import PermissionDenied
from ptap.core.policy import can
from ptap.dmp_bridge.models import DmpSubmission
from ptap.meetings import report_content, reports
from ptap.meetings.report_models import MeetingReport, PdfStatus
from ptap.meetings.report_tasks import render_meeting_documents
from tests.factories import make_patient
from tests.filings.conftest import api_headers
from tests.meetings.report_world import ReportWorld, build_report_world, discuss


@pytest.fixture
def w(db) -> ReportWorld:
    world = build_report_world()
    db.session.commit()
    return world


@pytest.fixture
def no_pdf_in_requests(monkeypatch):
    """Fail loudly if anything renders a PDF outside the job."""

    def refuse(*args, **kwargs):
        raise AssertionError("a PDF was rendered outside the job")

    monkeypatch.setattr(report_content, "render_pdf", refuse)
    return monkeypatch


def report_url(w: ReportWorld, tail: str = "") -> str:
    return f"/meetings/{w.meeting.id}/items/{w.item.id}/report{tail}"


def api_url(w: ReportWorld, tail: str = "") -> str:
    return f"/api/v1/meetings/{w.meeting.id}/items/{w.item.id}/report{tail}"


def the_report(db) -> MeetingReport:
    db.session.expire_all()
    return db.session.scalars(sa.select(MeetingReport)).one()


def test_pages_prepare_then_only_the_chair_approves_and_the_pdf_comes_from_the_job(
    db, w, auth, client, no_pdf_in_requests
):
    auth.login(w.secretary)
    page = client.get(report_url(w))
    assert page.status_code == 200 and "Préparer le brouillon" in page.get_data(as_text=True)
    assert auth.post(report_url(w, "/prepare")).status_code == 302
    refused = auth.post(report_url(w, "/approve"))
    assert refused.status_code == 403
    assert "Seul le président de séance" in refused.get_data(as_text=True)
    assert the_report(db).status == "draft"
    auth.post("/logout")

    auth.login(w.chair)
    assert auth.post(report_url(w, "/approve")).status_code == 302
    report = the_report(db)
    assert (report.status, report.pdf_status, report.pdf) == ("approved", "pending", None)
    body = client.get(report_url(w)).get_data(as_text=True)
    assert "PDF en préparation" in body and ".pdf" not in body
    assert client.get(report_url(w, "/v1.pdf")).status_code == 404
    assert db.session.scalars(sa.select(DmpSubmission)).all() == []

    no_pdf_in_requests.undo()
    render_meeting_documents()
    body = client.get(report_url(w)).get_data(as_text=True)
    assert "Télécharger le PDF" in body, re.sub(r"\s+", " ", body)[-3000:]
    assert "En attente d&#39;envoi" in body  # the DMP filing is queued
    pdf = client.get(report_url(w, "/v1.pdf"))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_reading_a_report_is_audited_for_its_patient(db, w, auth, client):
    auth.login(w.nurse)
    before = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    assert client.get(report_url(w)).status_code == 200
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.id > before, AuditEvent.patient_id == w.patient.id)
    ).all()
    assert [e.action for e in events] == ["patient.read"]


def test_outsiders_see_no_report_and_no_minutes(db, w, auth, client):
    auth.login(w.outsider)
    assert client.get(report_url(w)).status_code == 404
    assert client.get(f"/meetings/{w.meeting.id}/reports").status_code == 404
    assert client.get(f"/meetings/{w.meeting.id}/minutes.pdf").status_code == 404
    assert client.get(f"/meetings/{w.meeting.id}.ics").status_code == 404


def test_minutes_are_requested_rendered_by_the_job_and_downloaded(db, w, auth, client):
    auth.login(w.secretary)
    listing = client.get(f"/meetings/{w.meeting.id}/reports").get_data(as_text=True)
    assert "Préparer le relevé" in listing and w.patient.birth_name in listing
    assert auth.post(f"/meetings/{w.meeting.id}/minutes").status_code == 302
    assert "en préparation" in client.get(f"/meetings/{w.meeting.id}/reports").get_data(
        as_text=True
    )
    assert client.get(f"/meetings/{w.meeting.id}/minutes.pdf").status_code == 404
    render_meeting_documents()
    minutes = client.get(f"/meetings/{w.meeting.id}/minutes.pdf")
    assert minutes.status_code == 200 and minutes.data.startswith(b"%PDF")
    assert db.session.scalars(sa.select(DmpSubmission)).all() == []


def test_minutes_stay_with_runners_who_may_see_every_listed_patient(db, w, auth, client):
    reports.request_minutes(w.secretary, w.meeting)
    db.session.commit()
    render_meeting_documents()
    hidden = make_patient(w.team, w.nurse, consent=False, birth_name="CACHEE")
    discuss(w.meeting, hidden, w.secretary, position=2)
    headers = {user.id: api_headers(user) for user in (w.secretary, w.chair, w.nurse)}
    db.session.commit()
    url = f"/meetings/{w.meeting.id}/minutes.pdf"
    for user in (w.secretary, w.chair, w.nurse):  # the hidden patient is named in the minutes
        assert not can(user, "meeting_minutes.read", w.meeting)
        auth.login(user)
        assert client.get(url).status_code == 403
        assert client.get(f"/api/v1{url}", headers=headers[user.id]).status_code == 403
        listing = client.get(f"/meetings/{w.meeting.id}/reports").get_data(as_text=True)
        assert "Préparer le relevé" not in listing and "CACHEE" not in listing
        if user is not w.nurse:  # a team member learns that one patient is hidden from them
            assert "1 autre(s) patient(s) à l'ordre du jour ne vous sont pas visibles" in listing
        auth.post("/logout")
    with pytest.raises(PermissionDenied):
        reports.request_minutes(w.chair, w.meeting)


def test_a_plain_member_does_not_get_the_minutes(db, w):
    assert can(w.secretary, "meeting_minutes.read", w.meeting)
    assert can(w.chair, "meeting_minutes.read", w.meeting)
    assert not can(w.nurse, "meeting_minutes.read", w.meeting)


def test_api_approval_is_the_chairs_and_the_pdf_waits_for_the_job(
    db, client, w, no_pdf_in_requests
):
    secretary, chair = api_headers(w.secretary), api_headers(w.chair)
    db.session.commit()
    created = client.post(api_url(w), headers=secretary)
    assert created.status_code == 201 and created.json["status"] == "draft"
    edit = client.patch(api_url(w), json={"summary": ""}, headers=secretary)
    assert edit.status_code == 422 and edit.json["field"] == "summary"
    assert client.post(api_url(w, "/approval"), headers=secretary).status_code == 403
    approved = client.post(api_url(w, "/approval"), headers=chair)
    assert approved.status_code == 200
    assert (approved.json["status"], approved.json["pdf_status"]) == ("approved", "pending")
    waiting = client.get(api_url(w, ".pdf"), headers=chair)
    assert waiting.status_code == 404 and "en préparation" in waiting.json["detail"]
    no_pdf_in_requests.undo()
    render_meeting_documents()
    assert client.get(api_url(w), headers=chair).json["dmp_status"] == "pending"
    pdf = client.get(api_url(w, ".pdf"), headers=chair)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    correction = client.post(
        api_url(w, "/corrections"), json={"summary": "Texte corrigé"}, headers=secretary
    )
    assert correction.status_code == 422 and correction.json["field"] == "reason"
    assert the_report(db).pdf_status == PdfStatus.READY


def test_meeting_ics_page_and_api(db, client, auth, w):
    headers = api_headers(w.nurse)
    db.session.commit()
    api = client.get(f"/api/v1/meetings/{w.meeting.id}.ics", headers=headers)
    assert api.status_code == 200 and api.mimetype == "text/calendar"
    [event] = icalendar.Calendar.from_ical(api.data).walk("VEVENT")
    assert w.patient.birth_name not in api.data.decode().upper()
    auth.login(w.nurse)
    page = client.get(f"/meetings/{w.meeting.id}.ics")
    assert page.status_code == 200
    [same] = icalendar.Calendar.from_ical(page.data).walk("VEVENT")
    assert str(same["UID"]) == str(event["UID"])


def test_feed_url_works_until_revoked(db, client, auth, w):
    auth.login(w.nurse)
    assert "Aucun lien actif" in client.get("/account/calendar").get_data(as_text=True)
    shown = auth.post("/account/calendar").get_data(as_text=True)
    url = re.search(r"http://[^<\s]+/calendar/(ptapcal_[^<\s]+)\.ics", shown)
    assert url is not None
    feed_path = f"/calendar/{url.group(1)}.ics"
    auth.post("/logout")
    feed = client.get(feed_path)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert len(icalendar.Calendar.from_ical(feed.data).walk("VEVENT")) == 1
    assert w.patient.birth_name not in feed.data.decode().upper()
    auth.login(w.nurse)
    assert auth.post("/account/calendar/revoke").status_code == 302
    auth.post("/logout")
    assert client.get(feed_path).status_code == 404
    assert client.get("/calendar/ptapcal_nothing.ics").status_code == 404
