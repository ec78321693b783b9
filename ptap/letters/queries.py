"""Reads of letters and templates (callers check who may see them through the policy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ptap.core.errors import NotFound
from ptap.core.mail import MailMessage
from ptap.core.policy import Actor, can
from ptap.extensions import db
from ptap.letters.models import Letter, LetterSending, LetterTemplate, LetterTemplateVersion

LETTER_NOT_FOUND = "Lettre introuvable."
TEMPLATE_NOT_FOUND = "Modèle de lettre introuvable."


def get_letter(user: Actor, letter_id: int) -> Letter:
    """Return a letter the user may read; NotFound otherwise (an outsider learns nothing)."""
    letter = db.session.get(Letter, letter_id)
    if letter is None or not can(user, "letter.read", letter):
        raise NotFound(LETTER_NOT_FOUND)
    return letter


def patient_letters_query(patient_id: int) -> sa.Select[Any]:
    """Select the patient's letters, newest first."""
    return sa.select(Letter).where(Letter.patient_id == patient_id).order_by(Letter.id.desc())


def team_letters_query(team_id: int, user_id: int) -> sa.Select[Any]:
    """Select the team's letters about patients the user may see, newest first."""
    from ptap.care_teams import access

    return (
        sa.select(Letter)
        .where(
            Letter.team_id == team_id,
            Letter.patient_id.in_(access.visible_patient_ids(user_id)),
        )
        .order_by(Letter.id.desc())
    )


def get_template(
    user: Actor, template_id: int, action: str = "letter_templates.list"
) -> LetterTemplate:
    """Return a template of a team the user may see (or manage); NotFound otherwise."""
    from ptap.care_teams.models import CareTeam

    template = db.session.get(LetterTemplate, template_id)
    team = db.session.get(CareTeam, template.team_id) if template is not None else None
    if template is None or team is None or not can(user, action, team):
        raise NotFound(TEMPLATE_NOT_FOUND)
    return template


def list_templates(
    team_ids: Sequence[int], *, include_archived: bool = False
) -> list[LetterTemplate]:
    """Return the templates of these teams, by name."""
    stmt = sa.select(LetterTemplate).where(LetterTemplate.team_id.in_(list(team_ids)))
    if not include_archived:
        stmt = stmt.where(LetterTemplate.archived_at.is_(None))
    return list(db.session.scalars(stmt.order_by(LetterTemplate.name, LetterTemplate.id)))


def template_versions(template_id: int) -> list[LetterTemplateVersion]:
    """Return a template's versions, newest first."""
    return list(
        db.session.scalars(
            sa.select(LetterTemplateVersion)
            .where(LetterTemplateVersion.template_id == template_id)
            .order_by(LetterTemplateVersion.number.desc())
        )
    )


def version_numbers(version_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    """Return (version number, template name) by template-version id, in one query."""
    rows = db.session.execute(
        sa.select(LetterTemplateVersion.id, LetterTemplateVersion.number, LetterTemplate.name)
        .join(LetterTemplate, LetterTemplate.id == LetterTemplateVersion.template_id)
        .where(LetterTemplateVersion.id.in_(list(version_ids)))
    )
    return {vid: (number, name) for vid, number, name in rows}


@dataclass(frozen=True)
class SendingRow:
    """One MSSanté sending of a letter, with the state of its e-mail."""

    id: int
    recipient: str
    requested_at: datetime
    queued: bool
    mail_status: str
    message_id: str
    last_error: str
    sent_at: datetime | None
    error: str


def sendings(letter_id: int) -> list[SendingRow]:
    """Return the sendings of a letter with their outbox state (one query)."""
    rows = db.session.execute(
        sa.select(LetterSending, MailMessage)
        .outerjoin(MailMessage, MailMessage.id == LetterSending.mail_id)
        .where(LetterSending.letter_id == letter_id)
        .order_by(LetterSending.id)
    ).all()
    return [
        SendingRow(
            id=s.id,
            recipient=s.recipient,
            requested_at=s.requested_at,
            queued=m is not None,
            mail_status=m.status if m is not None else "",
            message_id=(getattr(m, "message_id", "") or "") if m is not None else "",
            last_error=m.last_error if m is not None else "",
            sent_at=m.sent_at if m is not None else None,
            error=s.error,
        )
        for s, m in rows
    ]


def letters_to_render(limit: int) -> list[int]:
    """Return the ids of signed letters whose PDF is still to render, oldest first."""
    from ptap.core.models import utcnow
    from ptap.letters.models import PdfStatus

    return list(
        db.session.scalars(
            sa.select(Letter.id)
            .where(
                Letter.pdf_status == PdfStatus.PENDING,
                sa.or_(
                    Letter.pdf_next_attempt_at.is_(None), Letter.pdf_next_attempt_at <= utcnow()
                ),
            )
            .order_by(Letter.id)
            .limit(limit)
        )
    )


def letters_to_file(limit: int) -> list[int]:
    """Return the ids of letters whose filing was asked, PDF ready, not yet queued."""
    from ptap.letters.models import PdfStatus

    return list(
        db.session.scalars(
            sa.select(Letter.id)
            .where(
                Letter.dmp_requested_at.is_not(None),
                Letter.dmp_submission_id.is_(None),
                Letter.pdf_status == PdfStatus.READY,
            )
            .order_by(Letter.id)
            .limit(limit)
        )
    )


def sendings_to_queue(limit: int) -> list[int]:
    """Return the ids of sendings whose letter PDF is ready and whose e-mail is not queued."""
    from ptap.letters.models import PdfStatus

    return list(
        db.session.scalars(
            sa.select(LetterSending.id)
            .join(Letter, Letter.id == LetterSending.letter_id)
            .where(
                LetterSending.mail_id.is_(None),
                LetterSending.error == "",
                Letter.pdf_status == PdfStatus.READY,
            )
            .order_by(LetterSending.id)
            .limit(limit)
        )
    )
