"""JSON shapes of letters and letter templates in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from ptap.letters.models import Letter, LetterKind, LetterTemplate, LetterTemplateVersion
from ptap.letters.queries import SendingRow
from ptap.letters.services import TemplateData


class TemplateIn(BaseModel):
    """A letter template: its name, subject and text (Jinja placeholders, sandboxed)."""

    model_config = ConfigDict(extra="forbid")

    team_id: int = Field(description="L'équipe du modèle (coordinateurs de l'équipe)")
    kind: LetterKind
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(default="", max_length=300)
    body: str = Field(min_length=1, max_length=20_000)

    def to_data(self) -> TemplateData:
        """Return the service's template value."""
        return TemplateData(self.name, self.subject, self.body, self.kind)


class TemplateUpdate(BaseModel):
    """A new text for a template: a changed text makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(default="", max_length=300)
    body: str = Field(min_length=1, max_length=20_000)

    def to_data(self, kind: str) -> TemplateData:
        """Return the service's template value."""
        return TemplateData(self.name, self.subject, self.body, kind)


class TemplateOut(BaseModel):
    """A letter template and its version in force."""

    id: int
    team_id: int
    kind: str
    name: str
    version: int
    subject: str
    body: str
    archived: bool
    updated_at: datetime

    @classmethod
    def of(cls, template: LetterTemplate, version: LetterTemplateVersion) -> Self:
        """Build the output of a template."""
        return cls(
            id=template.id,
            team_id=template.team_id,
            kind=template.kind,
            name=template.name,
            version=version.number,
            subject=version.subject,
            body=version.body,
            archived=template.archived_at is not None,
            updated_at=template.updated_at,
        )


class LetterCreate(BaseModel):
    """Write a letter for a patient from a template (filled from the patient record)."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int
    template_id: int
    addressee: str = Field(default="", max_length=300, description="À qui la lettre est adressée")


class LetterEdit(BaseModel):
    """The text of a letter not yet signed (its author)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=60_000)
    addressee: str = Field(default="", max_length=300)


class LetterSend(BaseModel):
    """Send a signed letter by secure health mail (MSSanté)."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=320, description="Adresse MSSanté du destinataire")


class SendingOut(BaseModel):
    """One MSSanté sending: en file, envoyé, échec (with the reason), and its Message-ID."""

    recipient: str
    status: str
    message_id: str
    error: str
    sent_at: datetime | None

    @classmethod
    def of(cls, row: SendingRow) -> Self:
        """Build the output of a sending."""
        return cls(
            recipient=row.recipient,
            status=sending_status(row),
            message_id=row.message_id,
            error=row.error or (row.last_error if row.mail_status == "failed" else ""),
            sent_at=row.sent_at,
        )


def sending_status(row: SendingRow) -> str:
    """Say where a sending stands: waiting_pdf, queued, sent or failed."""
    if row.error:
        return "failed"
    if not row.queued:
        return "waiting_pdf"
    if row.mail_status == "sent":
        return "sent"
    if row.mail_status == "failed":
        return "failed"
    return "queued"


class LetterOut(BaseModel):
    """A letter: its text, status, PDF, DMP filing and sendings."""

    id: int
    patient_id: int
    team_id: int
    kind: str
    template_version_id: int
    addressee: str
    subject: str
    body: str
    status: str
    author_id: int
    created_at: datetime
    signed_at: datetime | None
    pdf_status: str
    dmp_filing_requested: bool
    dmp_submission_id: int | None
    sendings: list[SendingOut] = Field(default_factory=list)

    @classmethod
    def of(cls, letter: Letter, sendings: list[SendingRow] | None = None) -> Self:
        """Build the output of a letter."""
        return cls(
            id=letter.id,
            patient_id=letter.patient_id,
            team_id=letter.team_id,
            kind=letter.kind,
            template_version_id=letter.template_version_id,
            addressee=letter.addressee,
            subject=letter.subject,
            body=letter.body,
            status=letter.status,
            author_id=letter.author_id,
            created_at=letter.created_at,
            signed_at=letter.signed_at,
            pdf_status=letter.pdf_status or "none",
            dmp_filing_requested=letter.dmp_requested_at is not None,
            dmp_submission_id=letter.dmp_submission_id,
            sendings=[SendingOut.of(r) for r in sendings or []],
        )
