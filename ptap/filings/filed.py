"""Filing a DMP document into the coordination file, reading and removing filed copies.

Consulting the DMP keeps nothing. A professional allowed to consult the patient's DMP (the
consultation rules: circle, RPPS, Pro Santé Connect, the DMP's gates) may file a retrieved
document: PTAP then keeps a copy, encrypted at rest like message attachments
(ptap.core.sealed_files), with its provenance. One live copy per DMP document and patient:
the database's partial unique index decides, even when two professionals file at once.
Reads of a copy need only need-to-know (the copy is part of PTAP's record); removing one is
for the patient's coordinators, with a reason. Every filing, read and removal is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.exc import IntegrityError

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import Patient
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, RuleDenied
from ptap.core.policy import can
from ptap.core.sealed_files import delete_sealed, store_sealed
from ptap.extensions import db
from ptap.filings import consultation
from ptap.filings.models import FiledDmpDocument
from ptap.filings.permissions import require_view_filed
from ptap.filings.queries import FILED_FOLDER, find_live_filed, read_filed_content

FILE_ACTION = "patient.dmp_file"
READ_ACTION = "patient.dmp_filed_read"
REMOVE_ACTION = "patient.dmp_filed_remove"

MASKED_REFUSED = (
    "Ce document est masqué aux professionnels dans le DMP : vous le voyez au titre du bris de "
    "glace, mais il ne peut pas être versé au dossier de coordination, que tout le cercle de "
    "soins consulte."
)
REMOVE_REFUSED = (
    "Seuls les coordinateurs de la personne retirent un document versé au dossier de coordination."
)


class AlreadyFiled(Conflict):
    """This DMP document already has a live copy in the patient's file (``existing_id``)."""

    def __init__(self, existing: FiledDmpDocument | None) -> None:
        when = f" le {existing.filed_at:%d/%m/%Y}" if existing is not None else ""
        super().__init__(
            f"Ce document du DMP a déjà été versé au dossier de coordination{when} : "
            "consultez la copie existante plutôt que d'en verser une seconde."
        )
        self.existing_id = existing.id if existing is not None else None


def _audit(ctx: AuditContext, action: str, doc: FiledDmpDocument, reason: str) -> None:
    record_event(
        ctx,
        action,
        object_type="filed_dmp_document",
        object_id=doc.id,
        patient_id=doc.patient_id,
        reason=reason[:1000],
    )


def _named(doc: FiledDmpDocument | consultation.DmpDocumentRow) -> str:
    """How the audit (read by the patient) names a copy: not at all if the DMP hides it."""
    return "d'un document" if doc.hidden_from_patient else f"de « {doc.title} »"


def _refuse_already_filed(
    ctx: AuditContext,
    patient: Patient,
    rights: consultation.ConsultationRights,
    unique_id: str,
    existing: FiledDmpDocument | None,
) -> NoReturn:
    """Trace the refused filing of a document that already has a live copy, and refuse."""
    copy = f", copie n° {existing.id}" if existing is not None else ""
    consultation.audit_consultation(
        ctx,
        FILE_ACTION,
        patient,
        rights,
        f"refusé : document {unique_id} déjà versé au dossier de coordination{copy}",
        Outcome.DENIED,
    )
    raise AlreadyFiled(existing)


def file_dmp_document(
    user: User, patient: Patient, unique_id: str, ctx: AuditContext, *, psc: bool
) -> FiledDmpDocument:
    """Retrieve one of the patient's DMP documents and file a copy, with its provenance.

    Raises RuleDenied (consultation rules, a masked document), NotFound, DmpConsultationFailed,
    or AlreadyFiled when a live copy exists (decided by the unique index).
    """
    detail = f"versement au dossier du document {unique_id}"
    rights = consultation.checked_rights(user, patient, ctx, FILE_ACTION, psc, detail)
    existing = find_live_filed(patient.id, unique_id)
    if existing is not None:  # nothing asked of the DMP; the refusal is traced
        _refuse_already_filed(ctx, patient, rights, unique_id, existing)
    try:
        entry, document = dmp_bridge.retrieve_dmp_document(
            consultation.consultation_of(user, patient, rights), unique_id
        )
    except (dmp_bridge.DmpError, dmp_bridge.DmpConsultRefused) as exc:
        raise consultation.consultation_failure(ctx, FILE_ACTION, patient, rights, exc) from exc
    row = consultation.document_row(entry)
    if row.masked:
        consultation.audit_consultation(
            ctx, FILE_ACTION, patient, rights, f"refusé : {MASKED_REFUSED}", Outcome.DENIED
        )
        raise RuleDenied(MASKED_REFUSED)
    view = dmp_bridge.document_view(document)
    storage_path = store_sealed(FILED_FOLDER, document.content)
    doc = FiledDmpDocument(
        patient_id=patient.id,
        dmp_unique_id=unique_id,
        repository_unique_id=entry.extra.get("repository_id", "")[:128],
        title=row.title[:300],
        type_code=row.type_code[:40],
        type_label=row.type_label[:200],
        document_created_at=row.created_at,
        author=row.author[:300],
        mime_type=(document.mime_type or row.mime_type or "application/octet-stream")[:100],
        view_kind=str(view.kind),
        hidden_from_patient=row.hidden_from_patient,
        size=len(document.content),
        sha256=hashlib.sha256(document.content).hexdigest(),
        storage_path=storage_path,
        access_mode=str(rights.mode),
        filed_by_id=user.id,
        filed_at=clock.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(doc)
    except IntegrityError:
        # Another copy is live (filed by a colleague this very second): the document was
        # retrieved from the DMP all the same, and that consultation is traced.
        delete_sealed(FILED_FOLDER, storage_path)
        _refuse_already_filed(
            ctx, patient, rights, unique_id, find_live_filed(patient.id, unique_id)
        )
    what = _named(row)
    consultation.audit_consultation(
        ctx,
        FILE_ACTION,
        patient,
        rights,
        f"versement {what} ({unique_id}) au dossier de coordination, copie n° {doc.id}",
    )
    return doc


@dataclass(frozen=True)
class FiledContent:
    """A filed copy's decrypted bytes and how to show them."""

    document: FiledDmpDocument
    view: dmp_bridge.DocumentView


def read_filed_document(
    user: User, patient: Patient, doc: FiledDmpDocument, ctx: AuditContext
) -> FiledContent:
    """Decrypt a filed copy for the user (need-to-know); the read is audited."""
    require_view_filed(user, patient)
    if doc.patient_id != patient.id or doc.removed_at is not None:
        raise InvalidInput("Ce document a été retiré du dossier de coordination.")
    content = read_filed_content(doc)
    view = dmp_bridge.document_view(
        dmp_bridge.RetrievedDocument(doc.dmp_unique_id, doc.mime_type, content)
    )
    _audit(
        ctx,
        READ_ACTION,
        doc,
        f"lecture {_named(doc)} versé depuis le DMP (copie n° {doc.id})",
    )
    db.session.flush()
    return FiledContent(doc, view)


def remove_filed_document(
    user: User, patient: Patient, doc: FiledDmpDocument, reason: str, ctx: AuditContext
) -> FiledDmpDocument:
    """Remove a filed copy from the coordination file (coordinators, with a reason).

    The row stays, with who removed it and why (the timeline says so); the encrypted file is
    deleted once the removal commits.
    """
    if not can(user, "dmp_filed.remove", patient):
        raise RuleDenied(REMOVE_REFUSED)
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("Indiquez le motif du retrait.", field="reason")
    if len(reason) > 500:
        raise InvalidInput("Le motif ne doit pas dépasser 500 caractères.", field="reason")
    if doc.removed_at is not None:
        raise Conflict("Ce document a déjà été retiré du dossier de coordination.")
    doc.removed_at = clock.now()
    doc.removed_by_id = user.id
    doc.removal_reason = reason
    db.session.flush()
    # The blob goes with the removal (at commit on the filesystem backend); the row stays.
    delete_sealed(FILED_FOLDER, doc.storage_path)
    _audit(ctx, REMOVE_ACTION, doc, f"retrait {_named(doc)} (copie n° {doc.id}) : {reason}")
    return doc
