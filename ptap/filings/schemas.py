"""JSON shapes of DMP filings in the API: rows, their attempts, and the coordinators' requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from flask import url_for
from pydantic import BaseModel, ConfigDict, Field

from ptap.dmp_bridge import (
    Confidentiality,
    DmpAttempt,
    DmpSubmission,
    PayloadInfo,
    SubmissionStatus,
)
from ptap.filings.labels import (
    KIND_LABELS,
    OPERATION_LABELS,
    OUTCOME_LABELS,
    label,
    status_label,
)

# --- Output ----------------------------------------------------------------------------------


class DmpAttemptOut(BaseModel):
    """One try at sending a row: when, by which worker, how it ended, the DMP's error."""

    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    outcome_label: str
    error_code: str
    message: str

    @classmethod
    def of(cls, attempt: DmpAttempt) -> Self:
        """Build the output of an attempt."""
        return cls(
            number=attempt.number,
            worker=attempt.worker,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            outcome=attempt.outcome,
            outcome_label=label(OUTCOME_LABELS, attempt.outcome),
            error_code=attempt.error_code,
            message=attempt.message,
        )


class DmpSubmissionOut(BaseModel):
    """An outbox row: a document version to file, or a change of a filed document."""

    id: int
    href: str
    patient_id: int
    team_id: int | None
    kind: str
    kind_label: str
    operation: str
    operation_label: str
    #: For a change (visibility, archive, delete): the filing it applies to.
    target_id: int | None
    title: str
    version_number: int
    status: SubmissionStatus
    status_label: str
    #: Why the row is blocked or failed, in plain French (the cancellation motive once cancelled).
    status_reason: str
    error_code: str
    attempt_count: int
    next_attempt_at: datetime | None
    requested_at: datetime
    filed_at: datetime | None
    document_oid: str
    set_oid: str
    entry_uuid: str
    submission_set_oid: str
    confidentiality: list[str]

    @classmethod
    def of(cls, row: DmpSubmission) -> Self:
        """Build the output of a row (its document set must be loaded)."""
        waiting = row.status == SubmissionStatus.PENDING
        return cls(
            id=row.id,
            href=url_for("api.filings_get_dmp_submission", submission_id=row.id),
            patient_id=row.patient_id,
            team_id=row.team_id,
            kind=row.kind,
            kind_label=label(KIND_LABELS, row.kind),
            operation=row.operation,
            operation_label=label(OPERATION_LABELS, row.operation),
            target_id=row.target_id,
            title=row.title,
            version_number=row.version_number,
            status=SubmissionStatus(row.status),
            status_label=status_label(row.status),
            status_reason=row.status_reason,
            error_code=row.error_code,
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at if waiting else None,
            requested_at=row.requested_at,
            filed_at=row.filed_at,
            document_oid=row.document_oid,
            set_oid=row.document_set.set_oid,
            entry_uuid=row.entry_uuid,
            submission_set_oid=row.submission_set_oid,
            confidentiality=[c for c in row.confidentiality.split(",") if c],
        )


class DmpPayloadOut(BaseModel):
    """What is stored of the last attempt: the CDA and the exact request, with their links."""

    cda_href: str | None
    cda_size: int | None
    request_href: str | None
    request_size: int | None
    request_content_type: str


class DmpSubmissionDetail(DmpSubmissionOut):
    """A row with its attempts, first first, and its stored payload."""

    attempts: list[DmpAttemptOut]
    payload: DmpPayloadOut

    @classmethod
    def detail(cls, row: DmpSubmission, attempts: list[DmpAttempt], info: PayloadInfo) -> Self:
        """Build the detail of a row from its attempts and what is stored of its payload."""
        base = DmpSubmissionOut.of(row).model_dump()
        return cls(
            **base,
            attempts=[DmpAttemptOut.of(a) for a in attempts],
            payload=DmpPayloadOut(
                cda_href=url_for("api.filings_get_dmp_submission_cda", submission_id=row.id)
                if info.cda_size is not None
                else None,
                cda_size=info.cda_size,
                request_href=url_for("api.filings_get_dmp_submission_request", submission_id=row.id)
                if info.request_size is not None
                else None,
                request_size=info.request_size,
                request_content_type=info.request_content_type,
            ),
        )


# --- Input -----------------------------------------------------------------------------------


class DmpCancel(BaseModel):
    """Cancel a row that has not been filed, saying why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Motif de l'annulation")


class DmpChangeCreate(BaseModel):
    """Ask the DMP to change a filed document."""

    model_config = ConfigDict(extra="forbid")

    operation: Literal["update_visibility", "archive", "delete"]
    #: The visibility wanted (update_visibility only; ignored otherwise).
    confidentiality: list[Confidentiality] = Field(default_factory=list, max_length=4)


# --- DMP consultation --------------------------------------------------------------------------


class DmpDocumentOut(BaseModel):
    """One document of the patient's DMP, as the DMP lists it for the caller (not stored)."""

    unique_id: str
    title: str
    type_code: str
    type_label: str
    created_at: datetime | None
    author: str
    mime_type: str
    status: str
    hidden_from_patient: bool = Field(
        description="Le DMP ne le montre pas encore à la personne (INVISIBLE_PATIENT)"
    )
    masked: bool = Field(description="Masqué aux professionnels, visible en bris de glace")
    hidden_from_representatives: bool
    access_mode: Literal["normal", "bris_de_glace"]
    url: str = Field(description="Le document lui-même (PDF, CDA XML ou autre), accès tracé")

    @classmethod
    def of(cls, row: Any, patient_id: int, access_mode: str) -> Self:
        return cls(
            unique_id=row.unique_id,
            title=row.title,
            type_code=row.type_code,
            type_label=row.type_label,
            created_at=row.created_at,
            author=row.author,
            mime_type=row.mime_type,
            status=row.status,
            hidden_from_patient=row.hidden_from_patient,
            masked=row.masked,
            hidden_from_representatives=row.hidden_from_representatives,
            access_mode=access_mode,  # type: ignore[arg-type]
            url=url_for(
                "api.filings_get_patient_dmp_document",
                patient_id=patient_id,
                unique_id=row.unique_id,
            ),
        )


# --- DMP documents filed into the coordination file ---------------------------------------------


class FiledDmpDocumentOut(BaseModel):
    """A DMP document filed into the coordination file, with its provenance."""

    id: int
    dmp_unique_id: str = Field(description="uniqueId du document dans le DMP")
    repository_unique_id: str = Field(description="repositoryUniqueId de l'entrepôt du DMP")
    title: str
    type_code: str = Field(description="typeCode (LOINC) donné par le DMP")
    type_label: str
    document_created_at: datetime | None = Field(description="Date de création selon le DMP")
    author: str = Field(description="Auteur tel que le DMP le donne")
    mime_type: str
    view_kind: Literal["pdf", "cda", "download"]
    size: int
    sha256: str
    hidden_from_patient: bool
    access_mode: Literal["normal", "bris_de_glace"]
    filed_by_id: int
    filed_at: datetime
    url: str = Field(description="Le contenu de la copie (accès tracé)")

    @classmethod
    def of(cls, doc: Any) -> Self:
        return cls(
            id=doc.id,
            dmp_unique_id=doc.dmp_unique_id,
            repository_unique_id=doc.repository_unique_id,
            title=doc.title,
            type_code=doc.type_code,
            type_label=doc.type_label,
            document_created_at=doc.document_created_at,
            author=doc.author,
            mime_type=doc.mime_type,
            view_kind=doc.view_kind,
            size=doc.size,
            sha256=doc.sha256,
            hidden_from_patient=doc.hidden_from_patient,
            access_mode=doc.access_mode,
            filed_by_id=doc.filed_by_id,
            filed_at=doc.filed_at,
            url=url_for(
                "api.filings_get_filed_dmp_document_content",
                patient_id=doc.patient_id,
                filed_id=doc.id,
            ),
        )


class FiledRemoval(BaseModel):
    """Remove a filed copy from the coordination file, saying why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Motif du retrait")
