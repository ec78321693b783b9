"""What coordinators do with DMP filings: retry, cancel, release, ask for a change, download.

Each service checks the permission (``dmp_submission.manage``), calls the bridge, records an
audit event, flushes and never commits (the view or endpoint commits once).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm.attributes import flag_modified

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import require
from ptap.dmp_bridge import DmpSubmission
from ptap.extensions import db
from ptap.filings.permissions import require_manage_submission

#: The DMP changes a coordinator may ask for a filed document.
CHANGE_OPERATIONS = frozenset(
    {
        dmp_bridge.Operation.UPDATE_VISIBILITY,
        dmp_bridge.Operation.ARCHIVE,
        dmp_bridge.Operation.DELETE,
    }
)


def _audit(ctx: AuditContext, action: str, row: DmpSubmission, reason: str = "") -> None:
    record_event(
        ctx,
        action,
        object_type="dmp_submission",
        object_id=row.id,
        patient_id=row.patient_id,
        reason=reason,
    )


def retry_filing(user: User, row: DmpSubmission, ctx: AuditContext) -> DmpSubmission:
    """Send a failed filing again now, with a fresh budget of attempts."""
    require_manage_submission(user, row)
    dmp_bridge.retry_submission(row)
    _audit(ctx, "dmp_submission.retry", row, reason=f"statut après relance : {row.status}")
    db.session.flush()
    return row


def cancel_filing(user: User, row: DmpSubmission, reason: str, ctx: AuditContext) -> DmpSubmission:
    """Give up a filing not sent yet (pending, blocked or failed), saying why."""
    require_manage_submission(user, row)
    dmp_bridge.cancel_submission(row, reason)
    # The bridge cancels with an atomic UPDATE (against a worker's claim), which the unit of
    # work does not see: mark the row changed so that session observers (live dashboards)
    # learn of the cancel at the flush.
    flag_modified(row, "status")
    _audit(ctx, "dmp_submission.cancel", row, reason=row.status_reason)
    db.session.flush()
    return row


def release_filing(user: User, row: DmpSubmission, ctx: AuditContext) -> DmpSubmission:
    """Check the gates of a blocked filing again; it stays blocked, with why, if one holds."""
    require_manage_submission(user, row)
    dmp_bridge.release_submission(row)
    _audit(ctx, "dmp_submission.release", row, reason=f"statut après déblocage : {row.status}")
    db.session.flush()
    return row


def request_dmp_change(
    user: User,
    row: DmpSubmission,
    operation: str,
    confidentiality: tuple[str, ...],
    ctx: AuditContext,
) -> DmpSubmission:
    """Ask the DMP to change a filed document (visibility, archive, delete): a new outbox row.

    :param confidentiality: the visibility wanted, for ``update_visibility`` only.
    """
    require_manage_submission(user, row)
    try:
        op = dmp_bridge.Operation(operation)
    except ValueError as exc:
        raise InvalidInput("Opération inconnue.", field="operation") from exc
    if op not in CHANGE_OPERATIONS:
        raise InvalidInput("Opération inconnue.", field="operation")
    try:
        codes = tuple(dmp_bridge.Confidentiality(c) for c in confidentiality)
    except ValueError as exc:
        raise InvalidInput("Visibilité inconnue.", field="confidentiality") from exc
    if op != dmp_bridge.Operation.UPDATE_VISIBILITY:
        codes = ()
    change = dmp_bridge.request_operation(row, op, user.id, codes)
    _audit(
        ctx,
        f"dmp_submission.{op}",
        row,
        reason=f"demande n° {change.id}" + (f" : {','.join(codes)}" if codes else ""),
    )
    db.session.flush()
    return change


@dataclass(frozen=True)
class Download:
    """Exact stored bytes to send as an attachment."""

    content: bytes
    content_type: str
    filename: str


def download_payload(user: User, row: DmpSubmission, part: str, ctx: AuditContext) -> Download:
    """Return the exact CDA or request stored for a row; the access to it is audited.

    The CDA holds the whole document: besides acting on the row, the user must have
    need-to-know on its patient.

    :param part: ``cda`` or ``request``.
    """
    require_manage_submission(user, row)
    require(user, "dmp_submission.view", row)
    payload = dmp_bridge.get_payload(row.id)
    if part == "cda":
        if payload.cda is None:
            raise NotFound("Aucun document CDA n'est enregistré pour cet envoi.")
        download = Download(payload.cda, "application/xml", f"dmp-{row.id}-cda.xml")
    elif part == "request":
        if payload.request is None:
            raise NotFound("Aucune requête n'est enregistrée pour cet envoi.")
        content_type = payload.request_content_type or "application/octet-stream"
        extension = "xml" if "xml" in content_type.split(";")[0] else "mime"
        download = Download(payload.request, content_type, f"dmp-{row.id}-requete.{extension}")
    else:
        raise InvalidInput("Pièce inconnue.", field="part")
    _audit(ctx, f"dmp_submission.download_{part}", row, reason=download.filename)
    db.session.flush()
    return download
