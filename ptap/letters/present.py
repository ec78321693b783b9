"""Ready-made rows for the letters pages (no query nor business rule in the templates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ptap import dmp_bridge
from ptap.care_teams import queries as team_queries
from ptap.core.formatting import label
from ptap.core.policy import Actor, can
from ptap.letters import queries
from ptap.letters.models import (
    LETTER_KIND_LABELS,
    LETTER_STATUS_LABELS,
    PDF_STATUS_LABELS,
    Letter,
    PdfStatus,
)
from ptap.letters.queries import SendingRow
from ptap.letters.schemas import sending_status

SENDING_LABELS = {
    "waiting_pdf": "En attente du PDF",
    "queued": "En file",
    "sent": "Envoyé",
    "failed": "Échec",
}


@dataclass(frozen=True)
class LetterRow:
    """One letter in a list."""

    id: int
    subject: str
    kind: str
    status: str
    pdf: str
    author: str
    patient: str
    updated_at: datetime
    template: str


def letter_rows(
    letters: Sequence[Letter], patient_names: dict[int, str] | None = None
) -> list[LetterRow]:
    """Build list rows in a fixed number of queries (authors, template versions)."""
    authors = team_queries.user_names(list({letter.author_id for letter in letters}))
    versions = queries.version_numbers([letter.template_version_id for letter in letters])
    rows = []
    for letter in letters:
        number, name = versions.get(letter.template_version_id, (0, ""))
        rows.append(
            LetterRow(
                id=letter.id,
                subject=letter.subject,
                kind=label(LETTER_KIND_LABELS, letter.kind),
                status=label(LETTER_STATUS_LABELS, letter.status),
                pdf=label(PDF_STATUS_LABELS, letter.pdf_status),
                author=authors.get(letter.author_id, ""),
                patient=(patient_names or {}).get(letter.patient_id, ""),
                updated_at=letter.updated_at,
                template=f"{name} (version {number})" if name else "",
            )
        )
    return rows


@dataclass(frozen=True)
class SendingLine:
    """One MSSanté sending as the letter page shows it."""

    recipient: str
    status: str
    failed: bool
    reason: str
    message_id: str
    sent_at: datetime | None


def sending_lines(rows: Sequence[SendingRow]) -> list[SendingLine]:
    """Say where each sending stands: en attente du PDF, en file, envoyé, échec + raison."""
    lines = []
    for row in rows:
        status = sending_status(row)
        lines.append(
            SendingLine(
                recipient=row.recipient,
                status=SENDING_LABELS[status],
                failed=status == "failed",
                reason=row.error or row.last_error,
                message_id=row.message_id,
                sent_at=row.sent_at,
            )
        )
    return lines


def dmp_line(letter: Letter) -> dict[str, Any] | None:
    """Say where the DMP filing of a letter stands (None when none was asked)."""
    if letter.dmp_requested_at is None:
        return None
    if letter.dmp_submission_id is None:
        waiting = letter.pdf_status != PdfStatus.FAILED
        return {
            "status": "Demandé : déposé dès que le PDF est prêt"
            if waiting
            else "Bloqué : le PDF n'a pas pu être préparé",
            "reason": "",
        }
    row = dmp_bridge.find_submission(letter.dmp_submission_id)
    if row is None:
        return None
    return {
        "status": label(dmp_bridge.STATUS_LABELS, row.status),
        "reason": row.status_reason,
    }


def actions(user: Actor, letter: Letter) -> dict[str, bool]:
    """What the user may do with the letter now (the services check again)."""
    dispatch = letter.is_signed and can(user, "letter.dispatch", letter)
    return {
        "edit": can(user, "letter.edit", letter),
        "sign": not letter.is_signed
        and letter.author_id == user.id
        and bool(getattr(user, "rpps", "")),
        "file": dispatch and letter.dmp_requested_at is None,
        "send": dispatch,
        "pdf": letter.pdf_status == PdfStatus.READY,
        "retry_pdf": dispatch and letter.pdf_status == PdfStatus.FAILED,
    }
