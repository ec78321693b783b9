"""DMP filings on the patient timeline: each document filed, or that failed to be; each DMP
document filed into the coordination file, and its removal."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm

from ptap.accounts.models import User
from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.dmp_bridge import DmpSubmission, Operation, SubmissionStatus
from ptap.extensions import db
from ptap.filings.labels import KIND_LABELS, label
from ptap.filings.models import FiledDmpDocument

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


@register_provider
def filed_dmp_documents(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per DMP document filed into the file, and one per removal (one
    query whatever their number)."""
    filer = sa.orm.aliased(User)
    remover = sa.orm.aliased(User)
    rows = db.session.execute(
        sa.select(FiledDmpDocument, filer, remover)
        .outerjoin(filer, filer.id == FiledDmpDocument.filed_by_id)
        .outerjoin(remover, remover.id == FiledDmpDocument.removed_by_id)
        .where(FiledDmpDocument.patient_id == patient_id)
    ).all()
    entries = []
    for doc, by, removed_by in rows:
        mode = " (bris de glace)" if doc.access_mode == "bris_de_glace" else ""
        entries.append(
            TimelineEntry(
                doc.filed_at,
                "dmp_filed",
                f"Versé au dossier depuis le DMP : {doc.title}",
                detail=f"{doc.type_label}{', ' + doc.author if doc.author else ''}{mode}",
                actor=by.full_name if by is not None else "",
            )
        )
        if doc.removed_at is not None:
            entries.append(
                TimelineEntry(
                    doc.removed_at,
                    "dmp_filed_removed",
                    f"Retiré du dossier (copie du DMP) : {doc.title}",
                    detail=doc.removal_reason,
                    actor=removed_by.full_name if removed_by is not None else "",
                )
            )
    return entries
