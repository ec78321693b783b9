"""The sending side of the outbox: claim due rows, send them, record what happened.

Exactly once, by construction:

- a row is claimed by one worker with one atomic UPDATE (``FOR UPDATE SKIP LOCKED`` in its
  subquery on PostgreSQL; SQLite serialises writers) that sets a lease and a random token;
  every later write checks the token, so a worker whose lease expired cannot overwrite;
- the attempt is committed *before* the request leaves; a row that was ever attempted is
  first looked up in the DMP (ITI-18 by uniqueId) before being sent again, so a worker that
  died between sending and recording never causes a second copy;
- versions of one document go in order: a row waits while an earlier row of its set is open.

Each step commits (a unit of work per state change); a network call never holds a transaction.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from ptap.core.models import utcnow
from ptap.dmp_bridge import gates, sources
from ptap.dmp_bridge.models import (
    OPEN_STATUSES,
    AttemptOutcome,
    DmpAttempt,
    DmpPayload,
    DmpSubmission,
    SubmissionStatus,
)
from ptap.dmp_bridge.ports import (
    Confidentiality,
    DmpError,
    DmpRejected,
    DmpTransport,
    DmpUnavailable,
    FilingIds,
    Operation,
    RemoteDocument,
    RequestContext,
)
from ptap.extensions import db

log = logging.getLogger(__name__)

#: Registry code meaning the DMP already holds this uniqueId: after an attempt of ours that
#: may have arrived, it proves the filing happened.
DUPLICATE_CODES = ("XDSDuplicateUniqueIdInRegistry", "XDSRegistryDuplicateUniqueIdInMessage")


#: Our code when ITI-18 does not find a document we filed.
NOT_FOUND = "PTAPDocumentNotFound"


def worker_name() -> str:
    """Name this process in leases and attempts (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    """A row this worker holds until ``lease_until``."""

    submission_id: int
    token: str


def claim_due(limit: int, *, now: datetime | None = None, worker: str = "") -> list[Claim]:
    """Take up to ``limit`` due rows (pending and due, or in progress with an expired lease)."""
    now = now or utcnow()
    token = str(uuid.uuid4())
    lease = timedelta(seconds=float(current_app.config["DMP_LEASE_SECONDS"]))
    earlier = aliased(DmpSubmission)
    blocked_by_earlier = (
        sa.select(earlier.id)
        .where(
            earlier.set_id == DmpSubmission.set_id,
            earlier.id < DmpSubmission.id,
            earlier.status.in_([str(s) for s in OPEN_STATUSES]),
        )
        .exists()
    )
    due = sa.or_(
        sa.and_(
            DmpSubmission.status == SubmissionStatus.PENDING,
            DmpSubmission.next_attempt_at <= now,
        ),
        sa.and_(
            DmpSubmission.status == SubmissionStatus.IN_PROGRESS,
            DmpSubmission.lease_until < now,
        ),
    )
    candidates = (
        sa.select(DmpSubmission.id)
        .where(due, ~blocked_by_earlier)
        .order_by(DmpSubmission.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = db.session.scalars(
        sa.update(DmpSubmission)
        .where(DmpSubmission.id.in_(candidates), due)
        .values(
            status=SubmissionStatus.IN_PROGRESS,
            lease_token=token,
            lease_until=now + lease,
            claimed_by=worker or worker_name(),
        )
        .returning(DmpSubmission.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return [Claim(submission_id=i, token=token) for i in sorted(claimed)]


def _held(claim: Claim) -> DmpSubmission | None:
    """Reload the row if this worker still holds it."""
    db.session.expire_all()
    row = db.session.get(DmpSubmission, claim.submission_id)
    if row is None or row.lease_token != claim.token:
        return None
    return row


def _backoff(budget_used: int) -> timedelta:
    """Exponential backoff with jitter (half to full of the exponential delay, capped)."""
    base = float(current_app.config["DMP_BACKOFF_SECONDS"])
    cap = float(current_app.config["DMP_BACKOFF_MAX_SECONDS"])
    delay = min(cap, base * (2 ** max(0, budget_used - 1)))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter


def _finish_attempt(row: DmpSubmission, outcome: AttemptOutcome, err: DmpError | None) -> None:
    attempt = db.session.scalar(
        sa.select(DmpAttempt)
        .where(DmpAttempt.submission_id == row.id)
        .order_by(DmpAttempt.number.desc())
        .limit(1)
    )
    if attempt is None or attempt.outcome != AttemptOutcome.STARTED:
        # A step that sent nothing (a gate, a lookup that found the document) is still traced.
        number = (attempt.number if attempt is not None else 0) + 1
        attempt = DmpAttempt(submission_id=row.id, number=number, worker=row.claimed_by)
        db.session.add(attempt)
    attempt.outcome = outcome
    attempt.finished_at = utcnow()
    if err is not None:
        attempt.error_code = err.code[:120]
        attempt.message = err.message


def _release(row: DmpSubmission) -> None:
    row.lease_token = None
    row.lease_until = None


def _mark_filed(row: DmpSubmission, entry_uuid: str, outcome: AttemptOutcome) -> None:
    row.status = SubmissionStatus.FILED
    row.status_reason = ""
    row.error_code = ""
    row.filed_at = utcnow()
    if entry_uuid:
        row.entry_uuid = entry_uuid
    _finish_attempt(row, outcome, None)
    _release(row)


def _mark_error(row: DmpSubmission, err: DmpError) -> None:
    row.error_code = err.code[:120]
    if isinstance(err, DmpRejected):
        row.status = SubmissionStatus.FAILED
        row.status_reason = err.message
        _finish_attempt(row, AttemptOutcome.PERMANENT_ERROR, err)
    else:
        _finish_attempt(row, AttemptOutcome.TRANSIENT_ERROR, err)
        if row.budget_used >= int(current_app.config["DMP_MAX_ATTEMPTS"]):
            row.status = SubmissionStatus.FAILED
            row.status_reason = (
                f"Échec après {row.budget_used} tentatives ; dernière erreur : {err.message}"
            )
        else:
            row.status = SubmissionStatus.PENDING
            row.status_reason = err.message
            row.next_attempt_at = utcnow() + _backoff(row.budget_used)
    if err.response and row.payload is not None:
        row.payload.response = err.response
    _release(row)


def _block(row: DmpSubmission, reason: str) -> None:
    row.status = SubmissionStatus.BLOCKED
    row.status_reason = reason
    _finish_attempt(row, AttemptOutcome.BLOCKED, None)
    _release(row)


def _context(row: DmpSubmission) -> RequestContext:
    who = sources.requester(row.requested_by_id, row.patient_id)
    return RequestContext(
        patient=sources.patient(row.patient_id),
        subject=who.subject,
        organisation=who.organisation,
    )


def _previous_filed(row: DmpSubmission) -> DmpSubmission | None:
    return db.session.scalar(
        sa.select(DmpSubmission)
        .where(
            DmpSubmission.set_id == row.set_id,
            DmpSubmission.id < row.id,
            DmpSubmission.operation == Operation.FILE,
            DmpSubmission.status == SubmissionStatus.FILED,
        )
        .order_by(DmpSubmission.id.desc())
        .limit(1)
    )


def _remote(transport: DmpTransport, context: RequestContext, row: DmpSubmission) -> RemoteDocument:
    """Find the DMP entry of a filed row (its entryUUID), remembering it on the row."""
    found = transport.find_document(context, row.document_oid)
    if found is None:
        raise DmpRejected(
            "Le DMP ne trouve pas le document déposé : il a peut-être été supprimé.",
            code=NOT_FOUND,
        )
    row.entry_uuid = found.entry_uuid
    return found


def _lookup_earlier_attempt(
    transport: DmpTransport, context: RequestContext, row: DmpSubmission
) -> RemoteDocument | None:
    """Ask the DMP whether an earlier attempt of this row arrived (counts against the budget)."""
    row.budget_used += 1
    found = transport.find_document(context, row.document_oid)
    row.budget_used -= 1  # _start_attempt counts the attempt that follows
    return found


def _start_attempt(row: DmpSubmission) -> None:
    """Count the attempt and commit it before anything leaves the process."""
    row.attempts += 1
    row.budget_used += 1
    db.session.add(DmpAttempt(submission_id=row.id, number=row.attempts, worker=row.claimed_by))
    db.session.commit()


def _send_file(transport: DmpTransport, row: DmpSubmission, context: RequestContext) -> str:
    """Build (or reuse) the CDA, build the ITI-41 request, keep both, send; return entryUUID."""
    from ptap.dmp_bridge import builder

    previous = _previous_filed(row)
    # Numbered when sent, after the earlier versions were filed or cancelled: no gaps.
    row.version_number = 1 + (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(DmpSubmission)
            .where(
                DmpSubmission.set_id == row.set_id,
                DmpSubmission.id < row.id,
                DmpSubmission.operation == Operation.FILE,
                DmpSubmission.status == SubmissionStatus.FILED,
            )
        )
        or 0
    )
    replaces_oid = previous.document_oid if previous is not None else None
    replaces_uuid = None
    if previous is not None:
        try:
            replaces_uuid = previous.entry_uuid or _remote(transport, context, previous).entry_uuid
        except DmpRejected as err:
            if err.code != NOT_FOUND:
                raise
            # The previous version is gone from the DMP (deleted at the patient's request):
            # this one is filed as a new document of the same set.
            replaces_oid = None
    ids = FilingIds(
        document_oid=row.document_oid,
        set_oid=row.document_set.set_oid,
        version_number=row.version_number,
        replaces_document_oid=replaces_oid,
        replaces_entry_uuid=replaces_uuid,
    )
    payload = row.payload or DmpPayload(submission_id=row.id)
    row.payload = payload
    confidentiality = tuple(Confidentiality(c) for c in row.confidentiality.split(",") if c)
    built = builder.build_filing(
        row.source_ref,
        ids,
        cda=payload.cda,
        confidentiality=confidentiality,
        submission_set_oid=f"{row.document_oid}.{row.attempts + 1}",
    )
    payload.cda = built.cda
    prepared = transport.prepare_submission(built.payload, context)
    payload.request = prepared.body
    payload.request_content_type = prepared.content_type
    row.submission_set_oid = built.payload.submission_set_oid
    _start_attempt(row)
    receipt = transport.send_submission(prepared)
    payload.response = receipt.response
    return receipt.entry_uuid


def _send_operation(transport: DmpTransport, row: DmpSubmission, context: RequestContext) -> None:
    target = db.session.get(DmpSubmission, row.target_id) if row.target_id else None
    if target is None:
        raise DmpRejected("Le document visé par cette opération est introuvable.", code="PTAP")
    _start_attempt(row)
    try:
        remote = _remote(transport, context, target)
    except DmpRejected as err:
        if err.code == NOT_FOUND and row.operation == Operation.DELETE:
            return  # already gone: what was asked holds
        raise
    if row.operation == Operation.UPDATE_VISIBILITY:
        codes = tuple(Confidentiality(c) for c in row.confidentiality.split(",") if c)
        transport.update_visibility(context, remote, codes)
        target.confidentiality = row.confidentiality
    elif row.operation in (Operation.ARCHIVE, Operation.DELETE):
        status = "Archived" if row.operation == Operation.ARCHIVE else "Deleted"
        transport.set_availability(context, remote, status)
    else:
        raise DmpRejected(f"Opération inconnue : {row.operation}.", code="PTAP")


def process(claim: Claim, transport: DmpTransport) -> str | None:
    """Carry one claimed row one step further; return its new status (None: not ours any more)."""
    row = _held(claim)
    if row is None:
        return None
    try:
        context = _context(row)
        reason = gates.blocking_reason(context.patient, row.operation)
        if reason is not None:
            _block(row, reason)
        elif (
            row.operation == Operation.FILE
            and row.attempts > 0
            and (found := _lookup_earlier_attempt(transport, context, row))
        ):
            # An earlier attempt arrived though its answer was lost: never send it twice.
            _mark_filed(row, found.entry_uuid, AttemptOutcome.ALREADY_FILED)
        elif row.operation == Operation.FILE:
            entry_uuid = _send_file(transport, row, context)
            _mark_filed(row, entry_uuid, AttemptOutcome.FILED)
        else:
            _send_operation(transport, row, context)
            _mark_filed(row, "", AttemptOutcome.FILED)
    except DmpError as err:
        if row.attempts > 1 and err.code in DUPLICATE_CODES:
            _mark_filed(row, "", AttemptOutcome.ALREADY_FILED)
        else:
            _mark_error(row, err)
    except Exception as exc:  # a bug or a broken source: keep the row, say what happened
        db.session.rollback()
        row = _held(claim)
        if row is None:
            return None
        log.exception("DMP submission %s failed unexpectedly", claim.submission_id)
        row.budget_used += 1
        _mark_error(row, DmpUnavailable(f"Erreur interne pendant l'envoi : {exc}", code="PTAP"))
    db.session.commit()
    return row.status


def send_due(transport: DmpTransport, *, limit: int | None = None) -> dict[str, int]:
    """Claim and process due rows until none is left or ``limit`` rows were handled."""
    batch = int(current_app.config["DMP_BATCH_SIZE"])
    counts: dict[str, int] = {}
    handled = 0
    while limit is None or handled < limit:
        claims = claim_due(batch if limit is None else min(batch, limit - handled))
        if not claims:
            break
        for claim in claims:
            status = process(claim, transport)
            handled += 1
            if status is not None:
                counts[status] = counts.get(status, 0) + 1
    return counts
