"""Pages consulting the patient's DMP: the documents list (filters, grouped by type) and one
document (a CDA's narrative in the page, a PDF in the browser, anything else downloaded).

Each page asks the DMP synchronously (the professional waits, with a short timeout): the
bridge keeps answers a few minutes in memory, never in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ptap import dmp_bridge
from ptap.accounts.sessions import authenticated_with_psc, psc_waived
from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import Patient
from ptap.core.errors import DomainError, InvalidInput, NotFound, RuleDenied
from ptap.core.policy import requires
from ptap.extensions import db
from ptap.filings import consultation, queries
from ptap.filings.forms import FileDmpDocumentForm
from ptap.filings.responses import document_response
from ptap.filings.views import bp


@dataclass(frozen=True)
class Filters:
    type_code: str
    created_from: str
    created_to: str
    author: str

    @property
    def active(self) -> bool:
        return bool(self.type_code or self.created_from or self.created_to or self.author)


def read_search(args: Any) -> tuple[Filters, dmp_bridge.DocumentSearch]:
    """The DMP filters of a query string (type, from, to, author); InvalidInput if malformed."""
    filters = Filters(
        type_code=(args.get("type") or "").strip()[:40],
        created_from=(args.get("from") or "").strip(),
        created_to=(args.get("to") or "").strip(),
        author=(args.get("author") or "").strip()[:80],
    )
    start = consultation.parse_day(filters.created_from, "from")
    end = consultation.parse_day(filters.created_to, "to")
    if start and end and start > end:
        raise InvalidInput("La date de début doit précéder la date de fin.", field="from")
    search = dmp_bridge.DocumentSearch(
        type_codes=(filters.type_code,) if filters.type_code else (),
        created_from=start,
        created_to=end,
        author=filters.author,
    )
    return filters, search


def _user() -> Any:
    return current_user._get_current_object()


def _guarded(patient: Patient, action: Callable[[], Any]) -> tuple[Any, str, int]:
    """Run a consultation: commit its audit row whatever happens; (result, error, status)."""
    try:
        result = action()
    except (RuleDenied, NotFound, consultation.DmpConsultationFailed, InvalidInput) as exc:
        db.session.commit()  # keep the audited refusal or failure
        return None, exc.message, exc.status
    db.session.commit()
    return result, "", 200


@dataclass(frozen=True)
class Group:
    label: str
    rows: list[consultation.DmpDocumentRow]


def _groups(rows: list[consultation.DmpDocumentRow]) -> list[Group]:
    """Rows grouped by document type (groups in order of their newest document)."""
    groups: dict[str, list[consultation.DmpDocumentRow]] = {}
    for row in rows:  # already newest first
        groups.setdefault(row.type_label, []).append(row)
    return [Group(label, items) for label, items in groups.items()]


@bp.get("/patients/<int:patient_id>/dmp/documents")
@requires("patients.list")
def dmp_documents(patient_id: int):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    try:
        filters, search = read_search(request.args)
    except InvalidInput as exc:
        filters, search, error = Filters("", "", "", ""), None, exc.message
    else:
        error = ""
    listing, status = None, 200
    if search is not None:
        listing, error, status = _guarded(
            patient,
            lambda: consultation.list_dmp_documents(
                _user(),
                patient,
                search,
                request_context(),
                psc=authenticated_with_psc() or psc_waived(),
            ),
        )
    else:
        status = 422
    return render_template(
        "filings/dmp_documents.html",
        patient=patient,
        active_tab="record",
        filters=filters,
        types=consultation.DOCUMENT_TYPES,
        listing=listing,
        groups=_groups(listing.rows) if listing else [],
        error=error,
        status=status,
        psc_waived=psc_waived() and not authenticated_with_psc(),
    ), status


def content_response(opened: consultation.OpenedDocument, *, download: bool) -> Response:
    """A consulted document's bytes, strictly typed (ptap.filings.responses)."""
    return document_response(opened.row.title, opened.view, download=download)


@bp.get("/patients/<int:patient_id>/dmp/documents/<unique_id>")
@requires("patients.list")
def dmp_document(patient_id: int, unique_id: str):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    opened, error, status = _guarded(
        patient,
        lambda: consultation.open_dmp_document(
            _user(),
            patient,
            unique_id[:128],
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        ),
    )
    content_url = url_for(
        "filings.dmp_document_content", patient_id=patient.id, unique_id=unique_id
    )
    existing = queries.find_live_filed(patient.id, unique_id[:128]) if opened else None
    return render_template(
        "filings/dmp_document.html",
        patient=patient,
        active_tab="record",
        opened=opened,
        # The stylesheet copies only narrative text, lists and tables, escaped (consult.py).
        narrative=Markup(opened.view.html) if opened and opened.view.html else "",  # noqa: S704
        content_url=content_url,
        list_url=url_for("filings.dmp_documents", patient_id=patient.id),
        error=error,
        # Filing: a masked document (seen in bris de glace) never enters the shared file.
        file_form=FileDmpDocumentForm() if opened and not opened.row.masked else None,
        file_url=url_for("filings.file_dmp_document", patient_id=patient.id, unique_id=unique_id),
        existing_url=url_for("filings.filed_document", patient_id=patient.id, filed_id=existing.id)
        if existing is not None
        else "",
        existing=existing,
    ), status


@bp.get("/patients/<int:patient_id>/dmp/documents/<unique_id>/content")
@requires("patients.list")
def dmp_document_content(patient_id: int, unique_id: str):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    try:
        opened = consultation.open_dmp_document(
            _user(),
            patient,
            unique_id[:128],
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        )
    except DomainError:
        db.session.commit()
        raise
    db.session.commit()
    return content_response(opened, download=request.args.get("download") == "1")
