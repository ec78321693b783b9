"""Reads of DMP filings for pages and the API, in a constant number of queries.

Every list loads its rows with what they show (set OID, last attempt, whether a CDA and a
request are stored, who asked, the patient) in one statement: nothing is lazy-loaded per row,
and the stored payloads (the CDA and the request can weigh megabytes) are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ptap.accounts.models import User
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.core.models import utcnow
from ptap.core.sealed_files import read_sealed
from ptap.dmp_bridge import (
    AttemptOutcome,
    DmpAttempt,
    DmpDocumentSet,
    DmpPayload,
    DmpSubmission,
    SubmissionStatus,
    cda_narrative_text,
)
from ptap.extensions import db
from ptap.filings.models import FiledDmpDocument

#: The blob namespace of filed DMP documents (ptap.core.blobs; encrypted at rest).
FILED_FOLDER = "dmp-documents"

#: A due row not sent after this long means the sender is down or stuck: a person looks.
LATE_AFTER = timedelta(minutes=15)

ERROR_OUTCOMES = frozenset({AttemptOutcome.TRANSIENT_ERROR, AttemptOutcome.PERMANENT_ERROR})


@dataclass(frozen=True)
class SubmissionRow:
    """An outbox row with what the pages show beside it."""

    submission: DmpSubmission
    set_oid: str
    #: The latest attempt, if any (its outcome, its error).
    last_attempt: DmpAttempt | None
    has_cda: bool
    has_request: bool
    requested_by: str
    patient: Patient

    @property
    def last_error(self) -> str:
        """The message of the last attempt when it ended in an error, else ""."""
        attempt = self.last_attempt
        if attempt is None or attempt.outcome not in ERROR_OUTCOMES:
            return ""
        return attempt.message


#: The columns of a listed row: the row, its set OID, its last attempt, whether a CDA and a
#: request are stored, who asked, its patient.
RowColumns = sa.Select[DmpSubmission, str, DmpAttempt, bool, bool, User, Patient]


def _rows_statement() -> RowColumns:
    last_attempt_id = (
        sa.select(sa.func.max(DmpAttempt.id))
        .where(DmpAttempt.submission_id == DmpSubmission.id)
        .correlate(DmpSubmission)
        .scalar_subquery()
    )
    return (
        sa.select(
            DmpSubmission,
            DmpDocumentSet.set_oid,
            DmpAttempt,
            DmpPayload.cda.is_not(None),
            DmpPayload.request.is_not(None),
            User,
            Patient,
        )
        .join(DmpDocumentSet, DmpDocumentSet.id == DmpSubmission.set_id)
        .join(Patient, Patient.id == DmpSubmission.patient_id)
        .outerjoin(DmpAttempt, DmpAttempt.id == last_attempt_id)
        .outerjoin(DmpPayload, DmpPayload.submission_id == DmpSubmission.id)
        .outerjoin(User, User.id == DmpSubmission.requested_by_id)
    )


def _rows(stmt: RowColumns) -> list[SubmissionRow]:
    return [
        SubmissionRow(
            submission=row,
            set_oid=set_oid,
            last_attempt=attempt,
            has_cda=bool(has_cda),
            has_request=bool(has_request),
            requested_by=user.full_name if user is not None else "",
            patient=patient,
        )
        for row, set_oid, attempt, has_cda, has_request, user, patient in db.session.execute(stmt)
    ]


def list_patient_submissions(patient_id: int) -> list[SubmissionRow]:
    """List a patient's filings and DMP changes, newest first (one query)."""
    stmt = _rows_statement().where(DmpSubmission.patient_id == patient_id)
    return _rows(stmt.order_by(DmpSubmission.id.desc()))


def needs_attention(now: datetime) -> sa.ColumnElement[bool]:
    """Rows a person must look at: blocked, failed, retrying, or late to be sent."""
    late = now - LATE_AFTER
    return sa.or_(
        DmpSubmission.status.in_([SubmissionStatus.BLOCKED, SubmissionStatus.FAILED]),
        sa.and_(
            DmpSubmission.status == SubmissionStatus.PENDING,
            sa.or_(DmpSubmission.next_attempt_at < late, DmpSubmission.attempts > 1),
        ),
        # A worker died holding the row and nobody took it over since.
        sa.and_(
            DmpSubmission.status == SubmissionStatus.IN_PROGRESS,
            DmpSubmission.lease_until < late,
        ),
    )


def list_team_attention(
    team_id: int, viewer_id: int, *, now: datetime | None = None
) -> list[SubmissionRow]:
    """List a team's filings needing attention that the viewer may see, oldest first.

    Need-to-know holds here too: a row whose patient left the team (enrolment ended) is not
    shown to the team's coordinators any more, only to those who still follow the patient.
    """
    stmt = _rows_statement().where(
        DmpSubmission.team_id == team_id,
        needs_attention(now or utcnow()),
        DmpSubmission.patient_id.in_(access.visible_patient_ids(viewer_id)),
    )
    return _rows(stmt.order_by(DmpSubmission.id))


def count_attention_by_team(
    team_ids: list[int], viewer_id: int, *, now: datetime | None = None
) -> dict[int, int]:
    """Count the filings needing attention of each team that the viewer may see (one query)."""
    if not team_ids:
        return {}
    rows = db.session.execute(
        sa.select(DmpSubmission.team_id, sa.func.count())
        .where(
            DmpSubmission.team_id.in_(team_ids),
            needs_attention(now or utcnow()),
            DmpSubmission.patient_id.in_(access.visible_patient_ids(viewer_id)),
        )
        .group_by(DmpSubmission.team_id)
    ).all()
    return {int(team_id): int(n) for team_id, n in rows if team_id is not None}


def submissions_query(
    user_id: int,
    *,
    patient_id: int | None = None,
    status: str | None = None,
    team_id: int | None = None,
) -> sa.Select[Any]:
    """Select the filings the user may see (need-to-know on their patient), filtered.

    The set is joined eagerly (its OID is shown); order and page come from the caller
    (``paginate_by_id``).
    """
    stmt = (
        sa.select(DmpSubmission)
        .options(joinedload(DmpSubmission.document_set))
        .where(DmpSubmission.patient_id.in_(access.visible_patient_ids(user_id)))
    )
    if patient_id is not None:
        stmt = stmt.where(DmpSubmission.patient_id == patient_id)
    if status is not None:
        stmt = stmt.where(DmpSubmission.status == status)
    if team_id is not None:
        stmt = stmt.where(DmpSubmission.team_id == team_id)
    return stmt


# --- DMP documents filed into the coordination file ----------------------------------------


@dataclass(frozen=True)
class FiledRow:
    """A filed DMP document with the name of who filed it."""

    document: FiledDmpDocument
    filed_by: str


def list_filed_documents(patient_id: int) -> list[FiledRow]:
    """List the DMP documents filed into the patient's file and not removed, newest first
    (one query; the contents are not read)."""
    rows = db.session.execute(
        sa.select(FiledDmpDocument, User)
        .outerjoin(User, User.id == FiledDmpDocument.filed_by_id)
        .where(FiledDmpDocument.patient_id == patient_id, FiledDmpDocument.removed_at.is_(None))
        .order_by(FiledDmpDocument.filed_at.desc(), FiledDmpDocument.id.desc())
    ).all()
    return [FiledRow(doc, user.full_name if user is not None else "") for doc, user in rows]


def find_live_filed(patient_id: int, unique_id: str) -> FiledDmpDocument | None:
    """Return the patient's live copy of a DMP document (by its uniqueId), or None."""
    return db.session.scalar(
        sa.select(FiledDmpDocument).where(
            FiledDmpDocument.patient_id == patient_id,
            FiledDmpDocument.dmp_unique_id == unique_id,
            FiledDmpDocument.removed_at.is_(None),
        )
    )


def find_filed(patient_id: int, filed_id: int) -> FiledDmpDocument | None:
    """Return one of the patient's filed copies (removed ones too), or None."""
    return db.session.scalar(
        sa.select(FiledDmpDocument).where(
            FiledDmpDocument.id == filed_id, FiledDmpDocument.patient_id == patient_id
        )
    )


def read_filed_content(document: FiledDmpDocument) -> bytes:
    """Return the decrypted bytes of a filed copy (as the DMP gave them)."""
    return read_sealed(FILED_FOLDER, document.storage_path)


def filed_document_search_rows(patient_id: int) -> list[tuple[int, str, str, datetime]]:
    """Rows for a coordination-file search index: (id, title, text, occurred_at) of each live
    filed DMP document; the text is a structured CDA's narrative, empty for a PDF or another
    format. Contents are decrypted here: the caller indexes them, nothing is stored in clear.
    Audit is the caller's (an index build is not a professional reading)."""
    rows = []
    for doc in db.session.scalars(
        sa.select(FiledDmpDocument)
        .where(FiledDmpDocument.patient_id == patient_id, FiledDmpDocument.removed_at.is_(None))
        .order_by(FiledDmpDocument.id)
    ):
        text = cda_narrative_text(read_filed_content(doc)) if doc.view_kind == "cda" else ""
        rows.append((doc.id, doc.title, text, doc.document_created_at or doc.filed_at))
    return rows
