"""Reads of the outbox: for the bridge's own commands and jobs, and for ``ptap.filings``.

Reads that join other domains' tables (patients, users) live in ``ptap.filings.queries``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ptap.core.errors import NotFound
from ptap.dmp_bridge.models import DmpAttempt, DmpPayload, DmpSubmission, SubmissionStatus
from ptap.extensions import db


@dataclass(frozen=True)
class PayloadInfo:
    """What is stored of a row's payload, without reading it."""

    cda_size: int | None
    request_size: int | None
    request_content_type: str


def count_by_status() -> dict[str, int]:
    """Count the outbox rows by status."""
    rows = db.session.execute(
        sa.select(DmpSubmission.status, sa.func.count()).group_by(DmpSubmission.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def has_open_work() -> bool:
    """Tell whether some row is still to be sent (pending, or held by a worker)."""
    db.session.rollback()  # see other workers' commits
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(DmpSubmission)
            .where(
                DmpSubmission.status.in_([SubmissionStatus.PENDING, SubmissionStatus.IN_PROGRESS])
            )
        )
        or 0
    ) > 0


def find_submission(submission_id: int) -> DmpSubmission | None:
    """Return one outbox row with its set, or None."""
    return db.session.scalar(
        sa.select(DmpSubmission)
        .options(joinedload(DmpSubmission.document_set))
        .where(DmpSubmission.id == submission_id)
    )


def list_attempts(submission_id: int) -> list[DmpAttempt]:
    """List the attempts of a row, first first."""
    return list(
        db.session.scalars(
            sa.select(DmpAttempt)
            .where(DmpAttempt.submission_id == submission_id)
            .order_by(DmpAttempt.number, DmpAttempt.id)
        )
    )


def payload_info(submission_id: int) -> PayloadInfo:
    """Say what is stored of a row's CDA and request (sizes, content type) without reading them."""
    found = db.session.execute(
        sa.select(
            sa.func.length(DmpPayload.cda),
            sa.func.length(DmpPayload.request),
            DmpPayload.request_content_type,
        ).where(DmpPayload.submission_id == submission_id)
    ).first()
    if found is None:
        return PayloadInfo(None, None, "")
    return PayloadInfo(found[0], found[1], found[2] or "")


def get_payload(submission_id: int) -> DmpPayload:
    """Return the stored payload of a row (its exact bytes), or raise NotFound."""
    payload = db.session.get(DmpPayload, submission_id)
    if payload is None:
        raise NotFound("Rien n'a encore été préparé pour cet envoi.")
    return payload
