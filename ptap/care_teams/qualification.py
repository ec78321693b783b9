"""Identity status by the RNIV: INSi answers and document checks, never a status typed by hand.

The status is computed from two recorded facts (who, when, how):

=====================  =====================  ==================
INSi answer 00         high-trust document    status
=====================  =====================  ==================
no                     no                     provisoire
yes                    no                     récupérée
no                     yes                    validée
yes                    yes                    qualifiée
=====================  =====================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.duplicate_flags import flag_possible_duplicates
from ptap.care_teams.identity import DOCUMENT_TYPES, normalise_trait, refresh_search_keys
from ptap.care_teams.insi import IdentityService, InsiAnswer, InsiCode, InsTraits
from ptap.care_teams.models import IdentityStatus, Patient
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.extensions import db

INSI_OPERATIONS = {"retrieve": "Recherche par traits", "verify": "Vérification de l'INS"}
ANSWER_MESSAGES = {
    InsiCode.FOUND: "Réponse 00 : identité trouvée au référentiel national.",
    InsiCode.NONE: (
        "Réponse 01 : aucune identité ne correspond. Vérifiez les traits saisis sur la pièce "
        "d'identité (orthographe, date, sexe) ; l'identité reste en l'état."
    ),
    InsiCode.SEVERAL: (
        "Réponse 02 : plusieurs identités correspondent. Saisissez tous les prénoms de la "
        "pièce d'identité, puis le code INSEE du lieu de naissance, et interrogez de nouveau."
    ),
}


def status_from_facts(insi: bool, document: bool) -> IdentityStatus:
    """Return the RNIV status the recorded facts support."""
    if insi and document:
        return IdentityStatus.QUALIFIED
    if insi:
        return IdentityStatus.RECOVERED
    return IdentityStatus.VALIDATED if document else IdentityStatus.PROVISIONAL


def refresh_identity_status(patient: Patient) -> None:
    """Set the status, check method and last check from the INSi and document facts."""
    insi, document = patient.insi_checked_at is not None, patient.document_checked_at is not None
    patient.identity_status = status_from_facts(insi, document)
    if insi and document:
        patient.identity_check_method = "insi_and_document"
    else:
        patient.identity_check_method = "insi" if insi else patient.document_type
    checks: list[tuple[datetime, int | None]] = []
    if insi and patient.insi_checked_at is not None:
        checks.append((patient.insi_checked_at, patient.insi_checked_by_id))
    if document and patient.document_checked_at is not None:
        checks.append((patient.document_checked_at, patient.document_checked_by_id))
    latest = max(checks, key=lambda c: c[0]) if checks else (None, None)
    patient.identity_checked_at, patient.identity_checked_by_id = latest


def clear_identity_facts(patient: Patient) -> None:
    """Forget the INSi answer and the document check (a strict trait changed)."""
    patient.insi_checked_at = patient.insi_checked_by_id = None
    patient.insi_operation = ""
    patient.document_checked_at = patient.document_checked_by_id = None
    patient.document_type = ""


def traits_of(patient: Patient) -> InsTraits:
    """Return the patient's strict traits as INSi takes them."""
    return InsTraits(
        birth_name=normalise_trait(patient.birth_name),
        first_names=normalise_trait(patient.first_names),
        birth_year=patient.birth_year,
        birth_month=patient.birth_month,
        birth_day=patient.birth_day,
        sex=patient.sex,
        birthplace_code=patient.birthplace_code,
    )


@dataclass(frozen=True)
class InsiOutcome:
    """What an INSi call did: the answer, its French message, the status afterwards."""

    answer: InsiAnswer
    message: str
    status: str


def _apply_found(patient: Patient, answer: InsiAnswer) -> list[str]:
    """Take INSi's INS and traits; return the names of the strict traits that changed."""
    identity = answer.identity
    assert identity is not None  # noqa: S101 - code 00 carries the identity
    if patient.ins_matricule and patient.ins_matricule != identity.matricule:
        raise Conflict(
            "Le téléservice INSi renvoie un autre matricule INS que celui de la fiche : rien "
            "n'a été modifié. Vérifiez l'identité avec la cellule d'identitovigilance.",
            field="ins_matricule",
        )
    holder = db.session.scalar(
        sa.select(Patient.id).where(
            Patient.ins_matricule == identity.matricule, Patient.id != patient.id
        )
    )
    if holder is not None:
        raise Conflict(
            "Le matricule INS renvoyé par INSi appartient déjà à une autre fiche : signalez ce "
            "doublon à la coordination ; rien n'a été modifié.",
            field="ins_matricule",
        )
    traits = identity.traits
    before = traits_of(patient)
    # The INS traits returned by INSi are the reference: they replace those typed.
    patient.ins_matricule, patient.ins_oid = identity.matricule, identity.oid
    patient.birth_name, patient.first_names = traits.birth_name, traits.first_names
    patient.birth_year, patient.birth_month = traits.birth_year, traits.birth_month
    patient.birth_day, patient.sex = traits.birth_day, traits.sex
    patient.birthplace_code = traits.birthplace_code or patient.birthplace_code
    after = traits_of(patient)
    changed = [
        f.name for f in fields(InsTraits) if getattr(before, f.name) != getattr(after, f.name)
    ]
    if changed:
        refresh_search_keys(patient)
        if patient.document_checked_at is not None:
            # The document was compared with the traits typed, not with INSi's: check it again.
            patient.document_checked_at = patient.document_checked_by_id = None
            patient.document_type = ""
    return changed


def query_insi(
    user: User,
    patient: Patient,
    service: IdentityService,
    operation: str,
    ctx: AuditContext,
) -> InsiOutcome:
    """Retrieve or verify the patient's INS through INSi and record a 00 answer.

    A 01 or 02 answer changes nothing but is audited; a service down raises InsiUnavailable
    before anything changes. The call is synchronous: the connector's timeout bounds it.
    """
    require(user, "patient.manage", patient)
    if operation not in INSI_OPERATIONS:
        raise InvalidInput("Opération INSi inconnue (recherche ou vérification).", field="op")
    traits = traits_of(patient)
    if operation == "verify":
        if not patient.ins_matricule or not patient.ins_oid:
            raise InvalidInput(
                "La fiche n'a pas de matricule INS à vérifier : lancez une recherche par traits.",
                field="op",
            )
        answer = service.verify(patient.ins_matricule, patient.ins_oid, traits)
    else:
        answer = service.retrieve(traits)
    changed: list[str] = []
    note = ""
    if answer.code == InsiCode.FOUND:
        had_document = patient.document_checked_at is not None
        changed = _apply_found(patient, answer)
        if changed:
            note = f"; INSi traits replaced: {', '.join(changed)}"
            note += "; document check cleared" if had_document else ""
        patient.insi_checked_at, patient.insi_checked_by_id = utcnow(), user.id
        patient.insi_operation = operation
        refresh_identity_status(patient)
    record_event(
        ctx,
        "patient.insi_query",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"{operation}: {answer.code}; status: {patient.identity_status}" + note,
    )
    db.session.flush()
    if changed:
        flag_possible_duplicates(patient, ctx)
    return InsiOutcome(answer, ANSWER_MESSAGES[answer.code], patient.identity_status)


def record_document_check(
    user: User, patient: Patient, document_type: str, ctx: AuditContext
) -> Patient:
    """Record that the user checked the identity on a high-trust document (who/when/type)."""
    require(user, "patient.manage", patient)
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput(
            "Choisissez la pièce d'identité à haut niveau de confiance vérifiée (carte "
            "nationale d'identité, passeport, titre de séjour, livret de famille pour un "
            "mineur).",
            field="document_type",
        )
    patient.document_type = document_type
    patient.document_checked_at, patient.document_checked_by_id = utcnow(), user.id
    refresh_identity_status(patient)
    record_event(
        ctx,
        "patient.document_check",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"document: {document_type}; status: {patient.identity_status}",
    )
    db.session.flush()
    return patient
