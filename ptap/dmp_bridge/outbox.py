"""The sending side of the outbox: claim due rows, send them, record what happened.

Exactly once, by construction:

- a row is claimed by one worker with its own lease and token (:mod:`ptap.core.outbox`), one
  row at a time; every later transaction on it starts with ``UPDATE … WHERE id = :id AND
  lease_token = :token``, which renews the lease, so a worker whose lease expired (paused,
  slow DMP) finds the row taken over, rolls back and leaves it to the new holder;
- the attempt is committed *before* the request leaves; a row that was ever attempted is
  first looked up in the DMP (ITI-18 by uniqueId) before being sent again, so a worker that
  died between sending and recording never causes a second copy;
- uniqueIds never repeat (``2.25.<UUID>``, fixed when the row is written); a document the DMP
  already holds under our uniqueId counts as filed only if it is this patient's document with
  this hash and size: anything else fails with a plain French reason;
- versions of one document go in order: a row waits while an earlier row of its set is open.

Each step commits (a unit of work per state change); a network call never holds a transaction.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from ptap.core import outbox as core_outbox
from ptap.core.logs import carrying_request_id
from ptap.core.metrics import DELIVERED, register_outbox
from ptap.core.models import utcnow
from ptap.core.outbox import Claim, LeaseLost, worker_name
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

__all__ = ["Claim", "claim_due", "claim_next", "process", "send_due", "worker_name"]

#: Registry code meaning the DMP already holds this uniqueId. It proves our filing happened
#: only once ITI-18 shows the document is ours (patient, hash, size): see :func:`_is_ours`.
DUPLICATE_CODES = ("XDSDuplicateUniqueIdInRegistry",)

#: Our code when ITI-18 does not find a document we filed.
NOT_FOUND = "PTAPDocumentNotFound"
#: Our code when the DMP holds another document under this row's uniqueId.
UNIQUE_ID_TAKEN = "PTAPUniqueIdTaken"


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config["DMP_LEASE_SECONDS"]))


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Due rows (pending and due, or in progress with an expired lease) not held back."""
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
    return sa.and_(due, ~blocked_by_earlier)


def claim_next(*, now: datetime | None = None, worker: str = "") -> Claim | None:
    """Take the next due row with its own lease and token (committed)."""
    now = now or utcnow()
    return core_outbox.claim_one(
        DmpSubmission,
        _due(now),
        lease=_lease(),
        in_progress=SubmissionStatus.IN_PROGRESS,
        worker=worker,
        now=now,
    )


def claim_due(limit: int, *, now: datetime | None = None, worker: str = "") -> list[Claim]:
    """Take up to ``limit`` due rows, each with its own lease and token."""
    claims: list[Claim] = []
    while len(claims) < limit and (claim := claim_next(now=now, worker=worker)) is not None:
        claims.append(claim)
    return claims


def _commit(claim: Claim, *, release: bool = False) -> None:
    """Commit this row's writes if the lease still holds (renewed, or released); else LeaseLost."""
    core_outbox.commit_held(DmpSubmission, claim, _lease(), release=release)


def _held(claim: Claim) -> DmpSubmission | None:
    """Reload the row if this worker still holds it."""
    db.session.expire_all()
    row = db.session.get(DmpSubmission, claim.row_id)
    if row is None or row.lease_token != claim.token:
        return None
    return row


def _backoff(budget_used: int) -> timedelta:
    """Exponential backoff with jitter (DMP_BACKOFF_SECONDS doubling, DMP_BACKOFF_MAX_SECONDS)."""
    return core_outbox.backoff(
        budget_used,
        float(current_app.config["DMP_BACKOFF_SECONDS"]),
        float(current_app.config["DMP_BACKOFF_MAX_SECONDS"]),
    )


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


def _mark_filed(row: DmpSubmission, entry_uuid: str, outcome: AttemptOutcome) -> None:
    row.status = SubmissionStatus.FILED
    DELIVERED.labels("dmp").inc()
    log.info("DMP submission %s filed", row.id)
    row.status_reason = ""
    row.error_code = ""
    row.filed_at = utcnow()
    if entry_uuid:
        row.entry_uuid = entry_uuid
    _finish_attempt(row, outcome, None)


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


def _block(row: DmpSubmission, reason: str) -> None:
    row.status = SubmissionStatus.BLOCKED
    row.status_reason = reason
    _finish_attempt(row, AttemptOutcome.BLOCKED, None)


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


def _is_ours(found: RemoteDocument, row: DmpSubmission, context: RequestContext) -> bool:
    """Tell whether the DMP's entry is the document this row sent: same patient, hash, size.

    A uniqueId already in the DMP proves nothing by itself (a restored database or another
    installation may have used it); the content we sent and the patient do.
    """
    from ptap.dmp_bridge.xds import patient_cx

    cda = row.payload.cda if row.payload is not None else None
    if not cda:
        return False
    try:
        patient = patient_cx(context.patient)
    except ValueError:  # no valid INS any more: nothing proves the entry is this patient's
        return False
    sha1 = hashlib.sha1(cda).hexdigest()  # noqa: S324 - the XDS hash slot is SHA-1
    return (
        found.extra.get("patient_id", "") == patient
        and found.extra.get("hash", "").lower() == sha1
        and found.extra.get("size", "") == str(len(cda))
    )


def _unique_id_taken(row: DmpSubmission) -> DmpRejected:
    return DmpRejected(
        f"Le DMP contient déjà un document sous l'identifiant {row.document_oid}, mais ce "
        "n'est pas ce document pour ce patient : rien n'a été déposé. Signalez-le au support "
        "de PTAP avant de relancer l'envoi.",
        code=UNIQUE_ID_TAKEN,
    )


def _settle_duplicate(
    transport: DmpTransport, context: RequestContext, row: DmpSubmission, claim: Claim
) -> None:
    """The DMP answered "uniqueId already registered": filed only if ITI-18 shows it is ours."""
    try:
        found = transport.find_document(context, row.document_oid)
    except DmpError as err:  # cannot tell now: the next attempt looks it up first
        _mark_error(row, err)
        return
    if found is not None and _is_ours(found, row, context):
        _mark_filed(row, found.entry_uuid, AttemptOutcome.ALREADY_FILED)
    else:
        log.warning("DMP submission %s: uniqueId held by another document", claim.row_id)
        _mark_error(row, _unique_id_taken(row))


def _start_attempt(row: DmpSubmission, claim: Claim) -> None:
    """Count the attempt and commit it before anything leaves the process (lease renewed)."""
    row.attempts += 1
    row.budget_used += 1
    db.session.add(DmpAttempt(submission_id=row.id, number=row.attempts, worker=row.claimed_by))
    _commit(claim)


def _send_file(
    transport: DmpTransport, row: DmpSubmission, context: RequestContext, claim: Claim
) -> str:
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
        submission_set_oid=row.submission_set_oid,
    )
    payload.cda = built.cda
    prepared = transport.prepare_submission(built.payload, context)
    payload.request = prepared.body
    payload.request_content_type = prepared.content_type
    _start_attempt(row, claim)
    receipt = transport.send_submission(prepared)
    payload.response = receipt.response
    return receipt.entry_uuid


def _send_operation(
    transport: DmpTransport, row: DmpSubmission, context: RequestContext, claim: Claim
) -> None:
    target = db.session.get(DmpSubmission, row.target_id) if row.target_id else None
    if target is None:
        raise DmpRejected("Le document visé par cette opération est introuvable.", code="PTAP")
    _start_attempt(row, claim)
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
        return _step(claim, row, transport)
    except LeaseLost:
        return None  # another worker holds the row now: its writes stand, ours were dropped


def _step(claim: Claim, row: DmpSubmission, transport: DmpTransport) -> str | None:
    context: RequestContext | None = None
    try:
        context = _context(row)
        reason = gates.blocking_reason(context.patient, row.operation)
        if reason is not None:
            _block(row, reason)
        elif (
            row.operation == Operation.FILE
            and row.attempts > 0
            and (found := _lookup_earlier_attempt(transport, context, row)) is not None
        ):
            if _is_ours(found, row, context):
                # An earlier attempt arrived though its answer was lost: never send it twice.
                _mark_filed(row, found.entry_uuid, AttemptOutcome.ALREADY_FILED)
            else:
                _mark_error(row, _unique_id_taken(row))
        elif row.operation == Operation.FILE:
            entry_uuid = _send_file(transport, row, context, claim)
            _mark_filed(row, entry_uuid, AttemptOutcome.FILED)
        else:
            _send_operation(transport, row, context, claim)
            _mark_filed(row, "", AttemptOutcome.FILED)
    except DmpError as err:
        if err.code in DUPLICATE_CODES and row.operation == Operation.FILE and context:
            _settle_duplicate(transport, context, row, claim)
        else:
            _mark_error(row, err)
    except LeaseLost:
        raise
    except Exception as exc:  # a bug or a broken source: keep the row, say what happened
        db.session.rollback()
        held = _held(claim)
        if held is None:
            return None
        row = held
        log.exception("DMP submission %s failed unexpectedly", claim.row_id)
        row.budget_used += 1
        _mark_error(row, DmpUnavailable(f"Erreur interne pendant l'envoi : {exc}", code="PTAP"))
    status = row.status
    _commit(claim, release=True)
    return status


def send_due(transport: DmpTransport, *, limit: int | None = None) -> dict[str, int]:
    """Claim and process due rows, one at a time, until none is left or ``limit`` were handled.

    Each row is claimed just before it is sent, with its own lease: a slow row never eats the
    lease of the rows queued behind it.
    """
    counts: dict[str, int] = {}
    handled = 0
    while limit is None or handled < limit:
        claim = claim_next()
        if claim is None:
            break
        queued_by = db.session.scalar(
            sa.select(DmpSubmission.request_id).where(DmpSubmission.id == claim.row_id)
        )
        with carrying_request_id(queued_by):
            status = process(claim, transport)
        handled += 1
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
    return counts


def count_waiting_submissions() -> tuple[int, datetime | None]:
    """Return how many DMP submissions wait to be sent and when the oldest was requested.

    Blocked and failed rows wait for a coordinator, not for the sender: they are not counted.
    """
    waiting = DmpSubmission.status.in_([SubmissionStatus.PENDING, SubmissionStatus.IN_PROGRESS])
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(DmpSubmission.requested_at)).where(waiting)
    ).one()
    if isinstance(oldest, str):  # MIN() on SQLite skips the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


register_outbox("dmp", count_waiting_submissions)
