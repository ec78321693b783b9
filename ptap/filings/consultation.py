"""Consulting a patient's DMP from PTAP: who may, in which access mode, and the audit.

A professional of the circle (need-to-know), linked to an RPPS and logged in with Pro Santé
Connect in this session, lists the patient's DMP documents and opens one. A professional who
broke the glass for this patient consults in bris-de-glace mode, with the reason they gave.
The bridge applies the DMP's gates (INS, opposition, consent) and talks to the DMP; every
consultation, refused or not, and every document opened is in the audit trail (actions
``patient.dmp_*``, shown in the patient's "who accessed my file").

Nothing retrieved is stored: the bridge keeps answers a few minutes in memory only, unless a
professional explicitly files a document into the coordination file (ptap.filings.filed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access
from ptap.care_teams.models import BreakGlassAccess, Patient
from ptap.core import clock
from ptap.core.errors import DomainError, NotFound, RuleDenied
from ptap.core.policy import is_clinician
from ptap.extensions import db
from ptap.filings import responses

LIST_ACTION = "patient.dmp_consult"
OPEN_ACTION = "patient.dmp_document"

NEEDS_PSC = (
    "La consultation du DMP demande une connexion avec Pro Santé Connect (e-CPS ou carte "
    "CPS) : vous êtes connecté avec votre mot de passe. Les informations de PTAP restent "
    "accessibles ; pour consulter le DMP, déconnectez-vous puis reconnectez-vous avec Pro "
    "Santé Connect."
)
NEEDS_RPPS = (
    "Votre compte n'est pas relié à un numéro RPPS : seul un professionnel de santé identifié "
    "peut consulter le DMP. Demandez à l'administrateur de renseigner votre RPPS."
)
NOT_IN_CIRCLE = "Seuls les professionnels du cercle de soins de la personne consultent son DMP."
UNAVAILABLE_HINT = (
    "Rien n'a été conservé. Réessayez dans quelques minutes ; si le problème persiste, "
    "consultez le DMP depuis Mon espace santé professionnel (webPS) et prévenez le support."
)

#: The DMP's document types a professional filters on (typeCode, LOINC), most frequent first.
DOCUMENT_TYPES: tuple[tuple[str, str], ...] = (
    ("11490-0", "Lettre de liaison à la sortie"),
    ("11502-2", "Compte rendu d'examens biologiques"),
    ("11488-4", "Compte rendu de consultation"),
    ("18748-4", "Compte rendu d'imagerie"),
    ("57833-6", "Ordonnance"),
    ("34133-9", "Synthèse"),
    ("PPCS", "Plan personnalisé de coordination en santé"),
)
TYPE_LABELS = dict(DOCUMENT_TYPES)


class DmpConsultationFailed(DomainError):
    """The DMP is unreachable or answered an error; the message says what to do (French)."""

    status = 503
    title = "DMP indisponible"


@dataclass(frozen=True)
class ConsultationRights:
    """Whether and how the user may consult this patient's DMP now."""

    allowed: bool
    message: str = ""
    mode: dmp_bridge.AccessMode = dmp_bridge.AccessMode.NORMAL
    reason: str = ""


def _active_break_glass(user_id: int, patient_id: int) -> BreakGlassAccess | None:
    return db.session.scalar(
        sa.select(BreakGlassAccess)
        .where(
            BreakGlassAccess.patient_id == patient_id,
            BreakGlassAccess.user_id == user_id,
            BreakGlassAccess.expires_at > clock.now(),
        )
        .order_by(BreakGlassAccess.created_at.desc())
        .limit(1)
    )


def consultation_rights(user: User, patient: Patient, *, psc: bool) -> ConsultationRights:
    """Decide on PTAP's side (the bridge then applies the DMP's own gates)."""
    if not is_clinician(user) or patient.merged_into_id is not None:
        return ConsultationRights(False, NOT_IN_CIRCLE)
    basis = access.access_basis(user.id, patient)
    if basis is None:
        return ConsultationRights(False, NOT_IN_CIRCLE)
    if not user.rpps:
        return ConsultationRights(False, NEEDS_RPPS)
    if not psc:
        return ConsultationRights(False, NEEDS_PSC)
    if basis == access.AccessBasis.BREAK_GLASS:
        glass = _active_break_glass(user.id, patient.id)
        reason = glass.reason if glass is not None else ""
        return ConsultationRights(True, mode=dmp_bridge.AccessMode.BREAK_GLASS, reason=reason)
    return ConsultationRights(True)


def consultation_of(
    user: User, patient: Patient, rights: ConsultationRights
) -> dmp_bridge.Consultation:
    """The bridge's view of this consultation (who, whose DMP, which access mode)."""
    return dmp_bridge.Consultation(
        user_id=user.id, patient_id=patient.id, mode=rights.mode, reason=rights.reason
    )


def audit_consultation(
    ctx: AuditContext,
    action: str,
    patient: Patient,
    rights: ConsultationRights,
    detail: str,
    outcome: Outcome = Outcome.SUCCESS,
) -> None:
    """Record a DMP access with its mode (and bris-de-glace reason) and what was done."""
    mode = "bris de glace" if rights.mode == dmp_bridge.AccessMode.BREAK_GLASS else "normal"
    reason = f"accès {mode}"
    if rights.mode == dmp_bridge.AccessMode.BREAK_GLASS and rights.reason:
        reason += f" (motif : {rights.reason})"
    record_event(
        ctx,
        action,
        outcome=outcome,
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"{reason} : {detail}"[:1000],
    )


def checked_rights(
    user: User, patient: Patient, ctx: AuditContext, action: str, psc: bool, detail: str
) -> ConsultationRights:
    """The rights to consult now, or RuleDenied (the refusal audited under `action`)."""
    rights = consultation_rights(user, patient, psc=psc)
    if not rights.allowed:
        audit_consultation(
            ctx, action, patient, rights, f"refusé : {rights.message}", Outcome.DENIED
        )
        raise RuleDenied(rights.message)
    return rights


def consultation_failure(
    ctx: AuditContext,
    action: str,
    patient: Patient,
    rights: ConsultationRights,
    exc: dmp_bridge.DmpError | dmp_bridge.DmpConsultRefused,
) -> DomainError:
    """Audit a refusal or failure of the DMP and return the French error to raise."""
    if isinstance(exc, dmp_bridge.DmpConsultRefused):
        audit_consultation(ctx, action, patient, rights, f"refusé : {exc.message}", Outcome.DENIED)
        return RuleDenied(exc.message)
    if isinstance(exc, dmp_bridge.DmpRejected) and exc.code == "DocumentNotFound":
        audit_consultation(ctx, action, patient, rights, f"échec : {exc.message}", Outcome.FAILURE)
        return NotFound(f"{exc.message} Revenez à la liste des documents du DMP.")
    audit_consultation(ctx, action, patient, rights, f"échec : {exc.message}", Outcome.FAILURE)
    return DmpConsultationFailed(f"{exc.message} {UNAVAILABLE_HINT}")


# --- listing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DmpDocumentRow:
    """One DMP document as pages and the API show it."""

    unique_id: str
    title: str
    type_code: str
    type_label: str
    created_at: datetime | None
    author: str
    mime_type: str
    status: str
    #: The DMP says the patient does not see it yet (a professional must tell them first).
    hidden_from_patient: bool
    #: Masked to professionals: shown here only because the access is a bris de glace.
    masked: bool
    hidden_from_representatives: bool


def _created(value: str) -> datetime | None:
    digits = value[:14]
    for fmt, size in (("%Y%m%d%H%M%S", 14), ("%Y%m%d%H%M", 12), ("%Y%m%d", 8)):
        if len(digits) >= size:
            try:
                return datetime.strptime(digits[:size], fmt).replace(tzinfo=UTC)
            except ValueError:
                return None
    return None


def document_row(doc: dmp_bridge.RemoteDocument) -> DmpDocumentRow:
    """A DMP entry as pages show it (type, dates, author, confidentiality)."""
    extra = doc.extra
    type_code = extra.get("type_code", "").split(",")[0]
    codes = set(doc.confidentiality_codes)
    return DmpDocumentRow(
        unique_id=doc.unique_id,
        title=extra.get("title") or extra.get("type_display") or "Document sans titre",
        type_code=type_code,
        type_label=extra.get("type_display") or TYPE_LABELS.get(type_code, "Autre document"),
        created_at=_created(extra.get("creation_time", "")),
        author=extra.get("author", ""),
        mime_type=extra.get("mime_type", ""),
        status=doc.status,
        hidden_from_patient="INVISIBLE_PATIENT" in codes,
        masked="MASQUE_PS" in codes,
        hidden_from_representatives="INVISIBLE_REPRESENTANTS_LEGAUX" in codes,
    )


@dataclass(frozen=True)
class DmpListing:
    rows: list[DmpDocumentRow]
    mode: dmp_bridge.AccessMode
    reason: str


def _describe(search: dmp_bridge.DocumentSearch) -> str:
    parts = []
    if search.type_codes:
        parts.append("types " + ", ".join(search.type_codes))
    if search.created_from:
        parts.append(f"depuis le {search.created_from:%d/%m/%Y}")
    if search.created_to:
        parts.append(f"jusqu'au {search.created_to:%d/%m/%Y}")
    if search.author:
        parts.append(f"auteur « {search.author} »")
    return "liste des documents" + (" (" + ", ".join(parts) + ")" if parts else "")


def list_dmp_documents(
    user: User,
    patient: Patient,
    search: dmp_bridge.DocumentSearch,
    ctx: AuditContext,
    *,
    psc: bool,
) -> DmpListing:
    """List the patient's DMP documents for the user, newest first; audited. Raises
    RuleDenied (with the rule in French) or DmpConsultationFailed."""
    detail = _describe(search)
    rights = checked_rights(user, patient, ctx, LIST_ACTION, psc, detail)
    try:
        found = dmp_bridge.list_dmp_documents(consultation_of(user, patient, rights), search)
    except (dmp_bridge.DmpError, dmp_bridge.DmpConsultRefused) as exc:
        raise consultation_failure(ctx, LIST_ACTION, patient, rights, exc) from exc
    audit_consultation(ctx, LIST_ACTION, patient, rights, f"{detail}, {len(found)} document(s)")
    rows = sorted(
        (document_row(d) for d in found),
        key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    return DmpListing(rows, rights.mode, rights.reason)


# --- opening -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedDocument:
    row: DmpDocumentRow
    view: dmp_bridge.DocumentView
    mode: dmp_bridge.AccessMode

    @property
    def unicode_filename(self) -> str:
        """A safe file name: letters (any script), digits, dashes; the content's extension."""
        return responses.unicode_filename(self.row.title, self.view)

    @property
    def filename(self) -> str:
        """The same name in ASCII (headers travel in ISO-8859-1)."""
        return responses.ascii_filename(self.unicode_filename)


def open_dmp_document(
    user: User, patient: Patient, unique_id: str, ctx: AuditContext, *, psc: bool
) -> OpenedDocument:
    """Retrieve one of the patient's DMP documents for the user (ITI-43); audited."""
    detail = f"document {unique_id}"
    rights = checked_rights(user, patient, ctx, OPEN_ACTION, psc, detail)
    try:
        entry, document = dmp_bridge.retrieve_dmp_document(
            consultation_of(user, patient, rights), unique_id
        )
    except (dmp_bridge.DmpError, dmp_bridge.DmpConsultRefused) as exc:
        raise consultation_failure(ctx, OPEN_ACTION, patient, rights, exc) from exc
    row = document_row(entry)
    # The patient reads these reasons in "who accessed my file": a document the DMP does not
    # show them yet is not named there.
    what = "d'un document" if row.hidden_from_patient else f"de « {row.title} »"
    audit_consultation(ctx, OPEN_ACTION, patient, rights, f"ouverture {what} ({unique_id})")
    return OpenedDocument(row, dmp_bridge.document_view(document), rights.mode)


def parse_day(raw: str | None, field: str) -> date | None:
    """A filter date from a form or a query string (YYYY-MM-DD), or None."""
    from ptap.core.errors import InvalidInput

    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput("Date attendue au format AAAA-MM-JJ.", field=field) from exc
