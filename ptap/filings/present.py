"""Ready-made rows for the filing pages: labels, times, and the buttons each user may press."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from flask import Response, current_app, url_for
from flask_wtf import FlaskForm

from ptap.accounts.models import User
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.policy import can
from ptap.dmp_bridge import Operation, SubmissionStatus
from ptap.extensions import db
from ptap.filings import permissions
from ptap.filings.filed import FiledContent
from ptap.filings.forms import (
    CancelFilingForm,
    DmpChangeForm,
    FilingActionForm,
    RemoveFiledForm,
    row_prefix,
)
from ptap.filings.labels import KIND_LABELS, OPERATION_LABELS, STATUS_BADGES, label, status_label
from ptap.filings.queries import FiledRow, SubmissionRow
from ptap.filings.responses import document_response

CANCELLABLE = (SubmissionStatus.PENDING, SubmissionStatus.BLOCKED, SubmissionStatus.FAILED)
REASON_LABELS = {
    SubmissionStatus.PENDING: "Erreur temporaire",
    SubmissionStatus.BLOCKED: "Motif du blocage",
    SubmissionStatus.FAILED: "Motif de l'échec",
    SubmissionStatus.CANCELLED: "Motif de l'annulation",
}


@dataclass
class FailedForms:
    """A form refused by validation, shown again with its errors on its row."""

    submission_id: int = 0
    cancel: CancelFilingForm | None = None
    change: DmpChangeForm | None = None


def dmp_version_label(number: int) -> str:
    """Say which version of the document the DMP holds: the first filing, or a replacement."""
    if number <= 1:
        return "1 (premier dépôt de ce document)"
    return f"{number} (remplace la version {number - 1} déposée)"


@dataclass(frozen=True)
class FilingView:
    """One row as the pages show it."""

    id: int
    title: str
    version: int
    #: The document's version in the DMP, said as such: the title names the plan's own
    #: version ("version 2" of the plan may be the first document filed).
    version_label: str
    kind: str
    #: Empty for a filing; what is asked of the DMP for a change of a filed document.
    operation: str
    status: str
    status_label: str
    badge: str
    #: Why it is blocked or failed (or the cancellation motive), in plain French.
    reason: str
    reason_label: str
    #: The last attempt's error when the reason does not already say it.
    last_error: str
    error_code: str
    attempts: int
    requested_at: datetime
    requested_by: str
    filed_at: datetime | None
    filed_label: str
    #: When the next automatic attempt is due (pending rows only).
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    patient_name: str = ""
    patient_url: str = ""
    retry_form: FilingActionForm | None = None
    release_form: FilingActionForm | None = None
    cancel_form: CancelFilingForm | None = None
    change_form: DmpChangeForm | None = None
    cda_url: str = ""
    request_url: str = ""


@dataclass
class FilingsSection:
    """The DMP section of a patient: their filings, newest first."""

    patient_id: int
    enabled: bool
    rows: list[FilingView] = field(default_factory=list)
    page_url: str = ""
    #: The DMP documents filed into the coordination file (not removed), newest first.
    filed: list[FiledItem] = field(default_factory=list)


F = TypeVar("F", bound=FlaskForm)


def _form(cls: type[F], row_id: int, back: str, failed: FailedForms | None) -> F:
    """A fresh form for a row's button, or the one refused with its errors."""
    if failed is not None and failed.submission_id == row_id:
        for kept in (failed.cancel, failed.change):
            if type(kept) is cls:
                return kept
    return cls(formdata=None, prefix=row_prefix(row_id), back=back)


def _view(
    item: SubmissionRow,
    *,
    manage: bool,
    see: bool,
    back: str,
    failed: FailedForms | None,
    with_patient: bool,
) -> FilingView:
    row = item.submission
    status = row.status
    last_error = item.last_error if item.last_error not in row.status_reason else ""
    is_file = row.operation == Operation.FILE
    attempt = item.last_attempt

    def form(cls: type[F], allowed: bool) -> F | None:
        return _form(cls, row.id, back, failed) if manage and allowed else None

    downloads = manage and see
    return FilingView(
        id=row.id,
        title=row.title or label(KIND_LABELS, row.kind),
        version=row.version_number,
        version_label=dmp_version_label(row.version_number),
        kind=label(KIND_LABELS, row.kind),
        operation="" if is_file else label(OPERATION_LABELS, row.operation),
        status=status,
        status_label=status_label(status),
        badge=STATUS_BADGES.get(SubmissionStatus(status), "status"),
        reason=row.status_reason,
        reason_label=REASON_LABELS.get(SubmissionStatus(status), "Motif"),
        last_error=last_error,
        error_code=row.error_code,
        attempts=row.attempts,
        requested_at=row.requested_at,
        requested_by=item.requested_by,
        filed_at=row.filed_at,
        filed_label="Déposé" if is_file else "Effectué",
        next_attempt_at=row.next_attempt_at if status == SubmissionStatus.PENDING else None,
        last_attempt_at=attempt.started_at if attempt is not None else None,
        patient_name=item.patient.display_name if with_patient else "",
        patient_url=url_for("filings.patient_filings", patient_id=row.patient_id)
        if with_patient
        else "",
        retry_form=form(FilingActionForm, status == SubmissionStatus.FAILED),
        release_form=form(FilingActionForm, status == SubmissionStatus.BLOCKED),
        cancel_form=form(CancelFilingForm, status in CANCELLABLE),
        change_form=form(DmpChangeForm, is_file and status == SubmissionStatus.FILED),
        cda_url=url_for("api.filings_get_dmp_submission_cda", submission_id=row.id)
        if downloads and item.has_cda
        else "",
        request_url=url_for("api.filings_get_dmp_submission_request", submission_id=row.id)
        if downloads and item.has_request
        else "",
    )


def patient_section(
    user: User,
    patient: Patient,
    rows: list[SubmissionRow],
    *,
    back: str,
    failed: FailedForms | None = None,
    filed: list[FiledRow] | None = None,
) -> FilingsSection:
    """Build the DMP section of a patient the user sees (need-to-know already checked)."""
    manageable = permissions.manageable_ids(user, patient, (r.submission for r in rows))
    return FilingsSection(
        patient_id=patient.id,
        enabled=bool(current_app.config["DMP_ENABLED"]),
        rows=[
            _view(
                r,
                manage=r.submission.id in manageable,
                see=True,
                back=back,
                failed=failed,
                with_patient=False,
            )
            for r in rows
        ],
        page_url=url_for("filings.patient_filings", patient_id=patient.id),
        filed=filed_items(patient, filed or []),
    )


@dataclass
class TeamPanel:
    """The filings of a team needing attention."""

    team_id: int
    team_name: str
    rows: list[FilingView]


def team_panel(
    team: CareTeam, rows: list[SubmissionRow], failed: FailedForms | None = None
) -> TeamPanel:
    """Build the panel of a team's coordinator (who may act on every row of the team).

    Downloads stay on the patient's page, where need-to-know on the patient is checked.
    """
    return TeamPanel(
        team_id=team.id,
        team_name=team.name,
        rows=[
            _view(r, manage=True, see=False, back="team", failed=failed, with_patient=True)
            for r in rows
        ],
    )


# --- DMP documents filed into the coordination file ----------------------------------------

ACCESS_MODE_LABELS = {"normal": "Accès normal", "bris_de_glace": "Bris de glace"}
VIEW_KIND_LABELS = {
    "pdf": "PDF",
    "cda": "Document structuré (CDA)",
    "download": "Autre format (à télécharger)",
}


@dataclass(frozen=True)
class FiledItem:
    """A filed DMP document as the patient's DMP section lists it."""

    id: int
    title: str
    type_label: str
    created_at: datetime | None
    author: str
    kind_label: str
    filed_at: datetime
    filed_by: str
    access_mode_label: str
    url: str


def filed_items(patient: Patient, rows: list[FiledRow]) -> list[FiledItem]:
    """The section's list of filed copies (already loaded with who filed them)."""
    return [
        FiledItem(
            id=r.document.id,
            title=r.document.title,
            type_label=r.document.type_label,
            created_at=r.document.document_created_at,
            author=r.document.author,
            kind_label=VIEW_KIND_LABELS.get(r.document.view_kind, r.document.view_kind),
            filed_at=r.document.filed_at,
            filed_by=r.filed_by,
            access_mode_label=ACCESS_MODE_LABELS.get(r.document.access_mode, ""),
            url=url_for("filings.filed_document", patient_id=patient.id, filed_id=r.document.id),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class FiledPage:
    """One filed copy: its provenance, how to see it, and the removal form if allowed."""

    id: int
    title: str
    type_code: str
    type_label: str
    created_at: datetime | None
    author: str
    dmp_unique_id: str
    repository_unique_id: str
    mime_type: str
    kind: str
    filed_at: datetime
    filed_by: str
    access_mode: str
    access_mode_label: str
    hidden_from_patient: bool
    content_url: str
    section_url: str
    remove_url: str
    remove_form: RemoveFiledForm | None


def filed_page(
    user: User, patient: Patient, content: FiledContent, form: RemoveFiledForm | None
) -> FiledPage:
    """Build a filed copy's page (the removal form for the patient's coordinators)."""
    doc = content.document
    filer = db.session.get(User, doc.filed_by_id)
    removable = can(user, "dmp_filed.remove", patient)
    return FiledPage(
        id=doc.id,
        title=doc.title,
        type_code=doc.type_code,
        type_label=doc.type_label,
        created_at=doc.document_created_at,
        author=doc.author,
        dmp_unique_id=doc.dmp_unique_id,
        repository_unique_id=doc.repository_unique_id,
        mime_type=doc.mime_type,
        kind=str(content.view.kind),
        filed_at=doc.filed_at,
        filed_by=filer.full_name if filer is not None else "",
        access_mode=doc.access_mode,
        access_mode_label=ACCESS_MODE_LABELS.get(doc.access_mode, doc.access_mode),
        hidden_from_patient=doc.hidden_from_patient,
        content_url=url_for(
            "filings.filed_document_content", patient_id=patient.id, filed_id=doc.id
        ),
        section_url=url_for("filings.patient_filings", patient_id=patient.id),
        remove_url=url_for("filings.remove_filed_document", patient_id=patient.id, filed_id=doc.id),
        remove_form=(form or RemoveFiledForm(formdata=None)) if removable else None,
    )


def filed_response(content: FiledContent, *, download: bool) -> Response:
    """A filed copy's bytes, with the same strict type and headers as a consulted document."""
    return document_response(content.document.title, content.view, download=download)
