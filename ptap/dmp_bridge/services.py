"""Outbox writes done inside the producing transaction, and the coordinator's actions.

These functions flush and never commit: the caller's unit of work commits the outbox row
together with the event that caused it (a plan version validated, a letter signed). Who may
call them is checked by the calling domain (the bridge knows nothing of care teams).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app

from ptap.core.errors import Conflict, InvalidInput
from ptap.core.models import utcnow
from ptap.core.sql import insert_if_absent
from ptap.dmp_bridge import gates, sources
from ptap.dmp_bridge.models import (
    DmpDocumentSet,
    DmpSubmission,
    SubmissionStatus,
)
from ptap.dmp_bridge.ports import Confidentiality, DocumentKind, Operation
from ptap.extensions import db


def new_unique_oid() -> str:
    """Return an OID that can never repeat: ``2.25.`` + a random UUID as an integer (X.667).

    Unlike the OID root + a row id, it stays unique across database resets, restores from
    backup and installations sharing an OID root, so the DMP never sees one uniqueId twice.
    """
    return f"2.25.{uuid.uuid4().int}"


def _document_set(set_key: str, kind: DocumentKind, patient_id: int) -> DmpDocumentSet:
    """Return the set of ``set_key``, created if absent (one set per key, even under a race)."""
    insert_if_absent(
        DmpDocumentSet,
        set_key=set_key,
        set_oid=new_unique_oid(),
        kind=str(kind),
        patient_id=patient_id,
        created_at=utcnow(),
    )
    # Inserted above, or by a transaction that committed first: one row either way.
    return db.session.scalars(
        sa.select(DmpDocumentSet).where(DmpDocumentSet.set_key == set_key)
    ).one()


def _open_filing(source_ref: str) -> sa.Select[DmpSubmission]:
    return sa.select(DmpSubmission).where(
        DmpSubmission.source_ref == source_ref,
        DmpSubmission.operation == Operation.FILE,
        DmpSubmission.status != SubmissionStatus.CANCELLED,
    )


def _gate(row: DmpSubmission) -> None:
    """Block the row at once when a gate already holds (the worker checks again anyway)."""
    reason = gates.blocking_reason(sources.patient(row.patient_id), row.operation)
    if reason is not None:
        row.status = SubmissionStatus.BLOCKED
        row.status_reason = reason


def request_filing(
    *,
    kind: DocumentKind,
    set_key: str,
    source_ref: str,
    patient_id: int,
    team_id: int | None,
    title: str,
    requested_by_id: int | None,
    confidentiality: tuple[Confidentiality, ...] = (Confidentiality.NORMAL,),
) -> DmpSubmission:
    """Queue the filing of a document version; versions of one set replace each other in order.

    Idempotent per source reference: asking twice for the same version returns the first row.
    """
    if not current_app.config["DMP_ENABLED"]:
        raise Conflict("L'envoi au DMP n'est pas activé sur cette plateforme.")
    existing = db.session.scalar(_open_filing(source_ref))
    if existing is not None:
        return existing
    doc_set = _document_set(set_key, kind, patient_id)
    # Provisional: the worker numbers the version when it sends it (cancelled ones skipped).
    version = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(DmpSubmission)
            .where(
                DmpSubmission.set_id == doc_set.id,
                DmpSubmission.operation == Operation.FILE,
                DmpSubmission.status != SubmissionStatus.CANCELLED,
            )
        )
        or 0
    ) + 1
    # One open filing per source (partial unique index): a concurrent request for the same
    # version inserts nothing here and both callers get the row that won.
    insert_if_absent(
        DmpSubmission,
        set_id=doc_set.id,
        patient_id=patient_id,
        team_id=team_id,
        kind=str(kind),
        operation=str(Operation.FILE),
        source_ref=source_ref,
        title=title[:200],
        version_number=version,
        # Both uniqueIds are decided here, once, before any attempt: every retry sends them.
        document_oid=new_unique_oid(),
        submission_set_oid=new_unique_oid(),
        confidentiality=",".join(confidentiality),
        requested_by_id=requested_by_id,
        requested_at=utcnow(),
        next_attempt_at=utcnow(),
        updated_at=utcnow(),
    )
    # Inserted above, or by a transaction that committed first: one row either way.
    row = db.session.scalars(_open_filing(source_ref)).one()
    if row.status == SubmissionStatus.PENDING and row.attempts == 0:
        _gate(row)
        db.session.flush()
    return row


def request_operation(
    target: DmpSubmission,
    operation: Operation,
    requested_by_id: int | None,
    confidentiality: tuple[Confidentiality, ...] = (),
) -> DmpSubmission:
    """Queue an ITI-57 change (visibility, archive, delete) of a document already filed."""
    if operation == Operation.FILE:
        raise InvalidInput("Opération inconnue.", field="operation")
    if target.operation != Operation.FILE or target.status != SubmissionStatus.FILED:
        raise Conflict("Seul un document déposé dans le DMP peut être modifié.", field="status")
    if operation == Operation.UPDATE_VISIBILITY and not confidentiality:
        raise InvalidInput("Indiquez la visibilité voulue.", field="confidentiality")
    row = DmpSubmission(
        set_id=target.set_id,
        patient_id=target.patient_id,
        team_id=target.team_id,
        kind=target.kind,
        operation=operation,
        source_ref=target.source_ref,
        title=target.title,
        version_number=target.version_number,
        document_oid=target.document_oid,
        target_id=target.id,
        confidentiality=",".join(confidentiality) or target.confidentiality,
        requested_by_id=requested_by_id,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    _gate(row)
    db.session.flush()
    return row


def retry_submission(row: DmpSubmission) -> DmpSubmission:
    """Send a failed row again now, with a fresh budget of attempts."""
    if row.status != SubmissionStatus.FAILED:
        raise Conflict("Seul un envoi en échec peut être relancé.", field="status")
    row.status = SubmissionStatus.PENDING
    row.status_reason = ""
    row.error_code = ""
    row.budget_used = 0
    row.next_attempt_at = utcnow()
    _gate(row)
    db.session.flush()
    return row


def release_submission(row: DmpSubmission) -> DmpSubmission:
    """Check the gates again for a blocked row; it stays blocked, with the reason, if one holds."""
    if row.status != SubmissionStatus.BLOCKED:
        raise Conflict("Seul un envoi bloqué peut être débloqué.", field="status")
    row.status = SubmissionStatus.PENDING
    row.status_reason = ""
    row.next_attempt_at = utcnow()
    if row.payload is not None and row.attempts == 0:
        # The identity may have changed while the row was blocked: render the CDA again. Once
        # an attempt may have reached the DMP, its uniqueId is bound to the CDA it carried.
        row.payload.cda = None
    _gate(row)
    db.session.flush()
    return row


def cancel_submission(row: DmpSubmission, reason: str) -> DmpSubmission:
    """Give up a row that has not been filed (it will never be sent)."""
    if row.status not in (
        SubmissionStatus.PENDING,
        SubmissionStatus.BLOCKED,
        SubmissionStatus.FAILED,
    ):
        raise Conflict("Cet envoi ne peut plus être annulé.", field="status")
    if not reason.strip():
        raise InvalidInput("Indiquez le motif de l'annulation.", field="reason")
    # Atomic against a worker claiming the row at this very moment: only a row still
    # pending, blocked or failed in the database is cancelled.
    cancellable = [SubmissionStatus.PENDING, SubmissionStatus.BLOCKED, SubmissionStatus.FAILED]
    done = db.session.execute(
        sa.update(DmpSubmission)
        .where(DmpSubmission.id == row.id, DmpSubmission.status.in_(cancellable))
        .values(status=SubmissionStatus.CANCELLED, status_reason=reason.strip(), lease_token=None)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("L'envoi est en cours : il ne peut plus être annulé.", field="status")
    db.session.refresh(row)
    return row
