"""The DMP outbox: one row per thing to do in the DMP, written with the event that caused it.

A row is claimed by one scheduler worker at a time (lease + token), sent, and ends ``filed``,
``failed`` (a person must act), ``blocked`` (a gate: identity, consent, opposition) or
``cancelled``. The exact CDA and the exact request of the last attempt are kept beside it in
``dmp_payloads`` so that the claim scans stay on a narrow table.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core.logs import request_id_default
from ptap.core.models import Base, utcnow


class SubmissionStatus(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    FILED = "filed"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Rows that still hold back the later versions of their document set.
OPEN_STATUSES = (
    SubmissionStatus.PENDING,
    SubmissionStatus.IN_PROGRESS,
    SubmissionStatus.BLOCKED,
    SubmissionStatus.FAILED,
)

STATUS_LABELS = {
    SubmissionStatus.PENDING: "En attente d'envoi",
    SubmissionStatus.IN_PROGRESS: "Envoi en cours",
    SubmissionStatus.FILED: "Déposé dans le DMP",
    SubmissionStatus.BLOCKED: "Bloqué",
    SubmissionStatus.FAILED: "En échec",
    SubmissionStatus.CANCELLED: "Annulé",
}


class DmpDocumentSet(Base):
    """One document across its versions: they share a CDA setId and replace each other."""

    __tablename__ = "dmp_document_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What the set stands for in the producing domain, e.g. "care_plan:12".
    set_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    #: ClinicalDocument/setId@root.
    set_oid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DmpSubmission(Base):
    """An outbox row: file a document version, or change a filed document's metadata."""

    __tablename__ = "dmp_submissions"
    __table_args__ = (
        sa.Index("ix_dmp_submissions_due", "status", "next_attempt_at"),
        sa.Index("ix_dmp_submissions_set_order", "set_id", "id"),
        sa.Index("ix_dmp_submissions_patient_status", "patient_id", "status"),
        # One open filing per document version (request_filing inserts ON CONFLICT DO NOTHING).
        sa.Index(
            "uq_dmp_submissions_open_filing_source",
            "source_ref",
            unique=True,
            sqlite_where=sa.text("operation = 'file' AND status != 'cancelled'"),
            postgresql_where=sa.text("operation = 'file' AND status != 'cancelled'"),
        ),
        # A uniqueId names one filing (metadata operations repeat their target's).
        sa.Index(
            "uq_dmp_submissions_filing_document_oid",
            "document_oid",
            unique=True,
            sqlite_where=sa.text("operation = 'file'"),
            postgresql_where=sa.text("operation = 'file'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(sa.ForeignKey("dmp_document_sets.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: Team whose coordinators look after this row (panel of filings needing attention).
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    operation: Mapped[str] = mapped_column(sa.String(20), default="file")
    #: The producing domain's reference of the document, e.g. "care_plan_version:42".
    source_ref: Mapped[str] = mapped_column(sa.String(80))
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    version_number: Mapped[int] = mapped_column(default=1)
    #: ClinicalDocument/id@root = XDS uniqueId, ``2.25.<UUID>``: fixed at creation so every
    #: attempt sends it, and never reused (not derived from the row id).
    document_oid: Mapped[str] = mapped_column(sa.String(64))
    #: For metadata operations: the filing they apply to.
    target_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dmp_submissions.id"))
    #: Comma-separated ports.Confidentiality values.
    confidentiality: Mapped[str] = mapped_column(sa.String(120), default="normal")

    status: Mapped[str] = mapped_column(sa.String(20), default=SubmissionStatus.PENDING)
    #: Plain-French reason of the blocked or failed status, for coordinators.
    status_reason: Mapped[str] = mapped_column(sa.Text, default="")
    error_code: Mapped[str] = mapped_column(sa.String(120), default="")

    #: Attempts ever started (an attempt that started may have reached the DMP).
    attempts: Mapped[int] = mapped_column(default=0)
    #: Attempts counted against DMP_MAX_ATTEMPTS; a coordinator's retry resets it.
    budget_used: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The claiming worker holds the row until then; an expired lease means it died.
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(sa.String(36))
    claimed_by: Mapped[str] = mapped_column(sa.String(80), default="")

    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    filed_at: Mapped[datetime | None]
    #: X-Request-ID of the request that queued it: the sending job logs with it.
    request_id: Mapped[str] = mapped_column(
        sa.String(128), default=request_id_default, server_default=""
    )
    #: entryUUID the DMP gave the document (ITI-18); needed to replace or update it.
    entry_uuid: Mapped[str] = mapped_column(sa.String(64), default="")
    #: SubmissionSet uniqueId, ``2.25.<UUID>``, fixed at creation like ``document_oid``.
    submission_set_oid: Mapped[str] = mapped_column(sa.String(64), default="")

    document_set: Mapped[DmpDocumentSet] = relationship()
    payload: Mapped[DmpPayload | None] = relationship(
        back_populates="submission", cascade="all, delete-orphan", uselist=False
    )


class DmpPayload(Base):
    """The exact CDA and the exact request of the last attempt of a submission."""

    __tablename__ = "dmp_payloads"

    submission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("dmp_submissions.id", ondelete="CASCADE"), primary_key=True
    )
    cda: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    request: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    request_content_type: Mapped[str] = mapped_column(sa.String(300), default="")
    response: Mapped[bytes | None] = mapped_column(sa.LargeBinary)

    submission: Mapped[DmpSubmission] = relationship(back_populates="payload")


class AttemptOutcome(StrEnum):
    """How one attempt ended."""

    STARTED = "started"  # no outcome recorded: the worker died, or is still sending
    FILED = "filed"
    ALREADY_FILED = "already_filed"  # ITI-18 found the document of an earlier attempt
    TRANSIENT_ERROR = "transient_error"
    PERMANENT_ERROR = "permanent_error"
    BLOCKED = "blocked"


class DmpAttempt(Base):
    """One try at a submission, kept for support (what happened, when, by which worker)."""

    __tablename__ = "dmp_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("dmp_submissions.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    worker: Mapped[str] = mapped_column(sa.String(80), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(sa.String(20), default=AttemptOutcome.STARTED)
    error_code: Mapped[str] = mapped_column(sa.String(120), default="")
    message: Mapped[str] = mapped_column(sa.Text, default="")
