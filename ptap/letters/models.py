"""Letter templates (versioned, per team) and the letters written from them for a patient."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow


class LetterKind(StrEnum):
    """What a letter is; each kind has its DMP document kind (LOINC typeCode)."""

    #: Lettre d'adressage (LOINC 96349-6).
    REFERRAL = "referral"
    #: Compte rendu d'évaluation à domicile (LOINC 11488-4, CR de consultation ou de visite).
    HOME_ASSESSMENT = "home_assessment"


LETTER_KIND_LABELS = {
    LetterKind.REFERRAL: "Lettre d'adressage",
    LetterKind.HOME_ASSESSMENT: "Compte rendu d'évaluation à domicile",
}


class LetterStatus(StrEnum):
    """Draft (as the template produced it) → edited → signed (read-only from then on)."""

    DRAFT = "draft"
    EDITED = "edited"
    SIGNED = "signed"


LETTER_STATUS_LABELS = {
    LetterStatus.DRAFT: "Brouillon",
    LetterStatus.EDITED: "Modifiée",
    LetterStatus.SIGNED: "Signée",
}


class PdfStatus(StrEnum):
    """Where the PDF/A of a signed letter stands (rendered by the letters job)."""

    NONE = ""
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


PDF_STATUS_LABELS = {
    PdfStatus.NONE: "",
    PdfStatus.PENDING: "PDF en préparation",
    PdfStatus.READY: "PDF prêt",
    PdfStatus.FAILED: "Échec de la préparation du PDF",
}


class LetterTemplate(Base):
    """A team's letter template; its text lives in numbered, immutable versions."""

    __tablename__ = "letter_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Number of the version in force (the highest).
    current_number: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when the template is withdrawn: no new letter from it; old letters keep their version.
    archived_at: Mapped[datetime | None]


class LetterTemplateVersion(Base):
    """One version of a template's text (Jinja, sandboxed); a letter names the one it used."""

    __tablename__ = "letter_template_versions"
    __table_args__ = (sa.UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("letter_templates.id"))
    number: Mapped[int]
    #: Default subject of the letters (may hold placeholders).
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Letter(Base):
    """A letter about one patient, written from a template version by its author."""

    __tablename__ = "letters"
    __table_args__ = (
        sa.Index("ix_letters_patient", "patient_id", "id"),
        sa.Index("ix_letters_team", "team_id", "id"),
        sa.Index("ix_letters_pdf_status", "pdf_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: The team writing it (the template's team, which follows the patient).
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    template_version_id: Mapped[int] = mapped_column(sa.ForeignKey("letter_template_versions.id"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    #: Who the letter is addressed to (free text: "Dr Martin, cardiologue").
    addressee: Mapped[str] = mapped_column(sa.String(300), default="")
    subject: Mapped[str] = mapped_column(sa.String(300))
    #: The letter's text (plain text, paragraphs separated by blank lines).
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default=LetterStatus.DRAFT)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None]
    #: RPPS of the signer, copied at signature.
    signed_rpps: Mapped[str] = mapped_column(sa.String(11), default="")
    pdf_status: Mapped[str] = mapped_column(sa.String(20), default=PdfStatus.NONE)
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    pdf_rendered_at: Mapped[datetime | None]
    #: Why the PDF could not be rendered, as users may read it (the exception goes to the log).
    pdf_error: Mapped[str] = mapped_column(sa.Text, default="")
    #: Failed rendering attempts since the last request; tried again at pdf_next_attempt_at.
    pdf_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    pdf_next_attempt_at: Mapped[datetime | None]
    #: Set when filing to the DMP was asked; the job queues it once the PDF is ready.
    dmp_requested_at: Mapped[datetime | None]
    dmp_requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: The bridge's outbox row, once queued (one filing per letter).
    dmp_submission_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("dmp_submissions.id"), unique=True
    )

    @property
    def is_signed(self) -> bool:
        return self.status == LetterStatus.SIGNED


class LetterSending(Base):
    """One sending of a signed letter by secure health mail (MSSanté) to one address."""

    __tablename__ = "letter_sendings"
    __table_args__ = (sa.UniqueConstraint("letter_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(320))
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The mail outbox row, once queued by the job (after the PDF is ready).
    mail_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mail_outbox.id"), unique=True)
    #: Why it could not be queued (the mail outbox then holds nothing).
    error: Mapped[str] = mapped_column(sa.Text, default="")
