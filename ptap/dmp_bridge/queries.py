"""Reads of the outbox used by the bridge's own commands and jobs."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.dmp_bridge.models import DmpSubmission, SubmissionStatus
from ptap.extensions import db


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
