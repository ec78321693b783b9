"""Meeting reports, team minutes, calendar feeds and the notices sent about meetings.

A *compte rendu de concertation pluriprofessionnelle* is written per agenda patient: each
version is a row of ``meeting_reports`` (Indico ``EventNoteRevision``): a draft, approved by
the chair, rendered to PDF/A by a job and then filed to the patient's DMP. A correction after
approval is a new version that replaces the previous one (RPLC in the DMP). The team minutes
(several patients) are rendered by a job too, and never leave PTAP.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow


class ReportStatus(StrEnum):
    """Where a report version stands."""

    DRAFT = "draft"
    APPROVED = "approved"
    #: Approved, then replaced by an approved correction.
    REPLACED = "replaced"


REPORT_STATUS_LABELS = {
    ReportStatus.DRAFT: "Brouillon",
    ReportStatus.APPROVED: "Approuvé",
    ReportStatus.REPLACED: "Remplacé par une version corrigée",
}


class PdfStatus(StrEnum):
    """Where the rendering of a document stands (the job renders; a request never does)."""

    NONE = "none"
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


PDF_STATUS_LABELS = {
    PdfStatus.NONE: "Pas de PDF tant que le compte rendu n'est pas approuvé",
    PdfStatus.PENDING: "PDF en préparation",
    PdfStatus.READY: "PDF prêt",
    PdfStatus.FAILED: "La mise en page a échoué : relancez-la",
}

#: Source type of report versions in the DMP outbox ("meeting_report:<report id>").
DMP_SOURCE_TYPE = "meeting_report"


class MeetingReport(Base):
    """One version of the report of one agenda patient (immutable once approved)."""

    __tablename__ = "meeting_reports"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "version", name="uq_meeting_reports_item_version"),
        # One draft at a time per agenda patient (a second "prepare" finds it).
        sa.Index(
            "uq_meeting_reports_one_draft",
            "item_id",
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        ),
        sa.Index("ix_meeting_reports_pdf_status", "pdf_status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting_agenda_items.id"))
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"), index=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    #: 1 for the first report; each correction after approval adds one.
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(12), default=ReportStatus.DRAFT)
    #: The discussion summary as the report states it (copied from the agenda item, editable
    #: while the version is a draft).
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    #: Snapshot of participants (name, profession, attendance) and decisions (French lines),
    #: taken when the draft is prepared: the report never changes once approved.
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Why this version corrects the previous one (versions after the first).
    correction_reason: Mapped[str] = mapped_column(sa.Text, default="")
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("meeting_reports.id"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    pdf_status: Mapped[str] = mapped_column(sa.String(12), default=PdfStatus.NONE)
    pdf_ready_at: Mapped[datetime | None]
    #: The PDF/A-1b the job rendered after approval: the one shown and filed.
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    #: When the job queued the DMP filing (once; never before approval).
    filing_requested_at: Mapped[datetime | None]


class MeetingMinutes(Base):
    """The team minutes of one meeting (every discussed patient), kept inside PTAP."""

    __tablename__ = "meeting_minutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"), unique=True)
    pdf_status: Mapped[str] = mapped_column(sa.String(12), default=PdfStatus.PENDING)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    pdf_ready_at: Mapped[datetime | None]
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)


class CalendarFeed(Base):
    """A user's private calendar feed: only the SHA-256 of its token is stored."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One feed per user: creating a new one replaces (revokes) the previous.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The first characters of the token, to tell feeds apart on the page.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeKind(StrEnum):
    """What a meeting notice tells a participant."""

    INVITED = "invited"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


class MeetingNotice(Base):
    """A notice sent to one participant; the unique key makes each one go out once."""

    __tablename__ = "meeting_notices"
    __table_args__ = (
        sa.UniqueConstraint(
            "meeting_id", "user_id", "kind", "sequence", name="uq_meeting_notices_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    #: The meeting's ical_sequence the notice was about.
    sequence: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
