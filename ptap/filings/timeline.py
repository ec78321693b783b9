"""DMP filings on the patient timeline: each document filed, or that failed to be."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.dmp_bridge import DmpSubmission, Operation, SubmissionStatus
from ptap.extensions import db
from ptap.filings.labels import KIND_LABELS, label

#: What the timeline says of a filing, by outcome (pending ones are not history yet).
_TITLES = {
    SubmissionStatus.FILED: "Déposé au DMP",
    SubmissionStatus.FAILED: "Échec du dépôt au DMP",
    SubmissionStatus.BLOCKED: "Dépôt au DMP bloqué",
}


@register_provider
def dmp_filings(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per filing that reached an outcome (filed, failed or blocked)."""
    rows = db.session.scalars(
        sa.select(DmpSubmission).where(
            DmpSubmission.patient_id == patient_id,
            DmpSubmission.operation == Operation.FILE,
            DmpSubmission.status.in_(list(_TITLES)),
        )
    ).all()
    entries = []
    for row in rows:
        filed = row.status == SubmissionStatus.FILED
        document = row.title or label(KIND_LABELS, row.kind)
        entries.append(
            TimelineEntry(
                (row.filed_at if filed and row.filed_at else row.updated_at),
                "dmp_filing" if filed else "dmp_filing_failed",
                f"{_TITLES[SubmissionStatus(row.status)]} : {document}",
                detail="" if filed else row.status_reason,
            )
        )
    return entries
