"""Patients: creation with INS and duplicate checks, identity updates, contacts, enrolment."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.duplicate_flags import flag_possible_duplicates
from ptap.care_teams.identity import (
    DOCUMENT_CHECKS,
    HAND_REFUSED_STATUSES,
    IdentityData,
    normalise_trait,
    refresh_search_keys,
    refuse_hand_status,
    validate_identity,
)
from ptap.care_teams.merges import merge_records
from ptap.care_teams.models import (
    CareTeam,
    ContactKind,
    DuplicateFlag,
    DuplicateStatus,
    EndReason,
    Enrolment,
    IdentityStatus,
    Patient,
    PatientContact,
    ProblemCategory,
    RequesterKind,
    Structure,
)
from ptap.care_teams.qualification import clear_identity_facts, refresh_identity_status
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.ins import normalise_nir
from ptap.core.models import utcnow
from ptap.core.policy import can, require
from ptap.core.signals import circle_changed, send_after_commit
from ptap.extensions import db

STRICT_TRAITS = (
    "birth_name",
    "first_names",
    "birth_year",
    "birth_month",
    "birth_day",
    "sex",
    "birthplace_code",
    "ins_matricule",
    "ins_oid",
)


class DuplicateIns(Conflict):
    """The INS already belongs to a record.

    Only a caller who may see that record learns which one it is (`existing_id`); anyone
    else learns that the identity exists and which teams follow it, whom to contact: the
    record's id would otherwise let them probe identities they have no right to see.
    """

    def __init__(self, existing_id: int | None, contacts: tuple[str, ...] = ()) -> None:
        if existing_id is not None:
            message = "Ce matricule INS est déjà enregistré pour une autre fiche patient."
        elif contacts:
            message = (
                "Cette identité (matricule INS) est déjà enregistrée dans PTAP, dans une fiche "
                "à laquelle vous n'avez pas accès. Elle est suivie par : "
                + " ; ".join(contacts)
                + ". Contactez la coordination de cette équipe pour être invité dans le "
                "cercle de soins ou pour coordonner l'inscription."
            )
        else:
            message = (
                "Cette identité (matricule INS) est déjà enregistrée dans PTAP, dans une fiche "
                "à laquelle vous n'avez pas accès et qu'aucune équipe ne suit actuellement. "
                "Contactez l'administrateur de la plateforme."
            )
        super().__init__(message, field="ins_matricule")
        self.existing_id = existing_id
        self.contacts = contacts


@dataclass(frozen=True)
class EnrolmentRequest:
    """Who asked for the enrolment, when, and why."""

    requested_on: date
    requester_kind: str
    requester_name: str = ""
    problem_categories: tuple[str, ...] = ()


def _validate_request(req: EnrolmentRequest) -> None:
    if req.requester_kind not in RequesterKind.__members__.values():
        raise InvalidInput("Indiquez qui a fait la demande.", field="requester_kind")
    if not req.problem_categories:
        raise InvalidInput("Indiquez au moins un motif de la demande.", field="problem_categories")
    if any(c not in ProblemCategory.__members__.values() for c in req.problem_categories):
        raise InvalidInput("Motif de demande inconnu.", field="problem_categories")
    if req.requested_on > clock.paris_today():
        raise InvalidInput("La date de la demande est dans le futur.", field="requested_on")


def _allow_test_identities() -> bool:
    return bool(current_app.config["INS_ALLOW_TEST_IDENTITIES"])


def _apply_identity(patient: Patient, data: IdentityData) -> None:
    for field in dataclasses.fields(IdentityData):
        value = getattr(data, field.name)
        setattr(patient, field.name, value.strip() if isinstance(value, str) else value)
    patient.ins_matricule = normalise_nir(data.ins_matricule) or None
    patient.ins_oid = data.ins_oid or None
    # Strict traits are stored as the INS rules write them; the used name and first name keep
    # the spelling the person uses (display only).
    patient.birth_name = normalise_trait(data.birth_name)
    patient.first_names = normalise_trait(data.first_names)
    patient.used_name = " ".join(data.used_name.split())
    patient.used_first_name = " ".join(data.used_first_name.split())
    refresh_search_keys(patient)


def _refuse_duplicate_ins(user: User, matricule: str, patient_id: int | None = None) -> None:
    nir = normalise_nir(matricule)
    if not nir:
        return
    stmt = sa.select(Patient.id).where(Patient.ins_matricule == nir)
    if patient_id is not None:
        stmt = stmt.where(Patient.id != patient_id)
    existing = db.session.scalar(stmt)
    if existing is not None:
        # A merged record keeps its own INS when the survivor had one: point at the survivor.
        for _ in range(10):  # merges chain rarely; bounded against a cycle
            survivor = db.session.scalar(
                sa.select(Patient.merged_into_id).where(Patient.id == existing)
            )
            if survivor is None:
                break
            existing = survivor
        record = db.session.get(Patient, existing)
        if record is not None and can(user, "patient.read", record):
            raise DuplicateIns(existing)
        raise DuplicateIns(None, _following_teams(existing))


def _following_teams(patient_id: int) -> tuple[str, ...]:
    """Name the teams following the patient now ("team (structure)"), whom to contact."""
    rows = db.session.execute(
        sa.select(CareTeam.name, Structure.name)
        .join(Enrolment, Enrolment.team_id == CareTeam.id)
        .join(Structure, Structure.id == CareTeam.structure_id)
        .where(Enrolment.patient_id == patient_id, Enrolment.ended_at.is_(None))
        .order_by(CareTeam.name)
    )
    return tuple(f"{team} ({structure})" for team, structure in rows)


def create_patient(
    user: User,
    team: CareTeam,
    identity: IdentityData,
    request: EnrolmentRequest,
    ctx: AuditContext,
) -> Patient:
    """Create a patient and enrol them in `team`; the INS must be new (409 otherwise)."""
    require(user, "team.enrol", team)
    refuse_hand_status(identity, None)
    validate_identity(identity, allow_test_identities=_allow_test_identities())
    _validate_request(request)
    _refuse_duplicate_ins(user, identity.ins_matricule)
    patient = Patient(created_by_id=user.id)
    _apply_identity(patient, identity)
    if identity.identity_status == IdentityStatus.VALIDATED:
        _record_document(patient, user, identity.identity_check_method)
    refresh_identity_status(patient)
    db.session.add(patient)
    db.session.flush()
    record_event(
        ctx, "patient.create", object_type="patient", object_id=patient.id, patient_id=patient.id
    )
    _enrol(user, patient, team, request, ctx)
    flag_possible_duplicates(patient, ctx)
    return patient


def _enrol(
    user: User, patient: Patient, team: CareTeam, request: EnrolmentRequest, ctx: AuditContext
) -> Enrolment:
    active = db.session.scalar(
        sa.select(Enrolment.id).where(
            Enrolment.patient_id == patient.id,
            Enrolment.team_id == team.id,
            Enrolment.ended_at.is_(None),
        )
    )
    if active is not None:
        raise Conflict("Cette personne est déjà suivie par cette équipe.", field="team_id")
    enrolment = Enrolment(
        patient_id=patient.id,
        team_id=team.id,
        requested_on=request.requested_on,
        requester_kind=request.requester_kind,
        requester_name=request.requester_name.strip(),
        problem_categories=" ".join(request.problem_categories),
        enrolled_by_id=user.id,
        referent_id=user.id,  # the enrolling coordinator, until another one is named
    )
    db.session.add(enrolment)
    db.session.flush()
    record_event(
        ctx,
        "enrolment.create",
        object_type="enrolment",
        object_id=enrolment.id,
        patient_id=patient.id,
    )
    return enrolment


def enrol_patient(
    user: User, patient: Patient, team: CareTeam, request: EnrolmentRequest, ctx: AuditContext
) -> Enrolment:
    """Enrol an existing patient (one the user already sees) in another of their teams."""
    require(user, "team.enrol", team)
    require(user, "patient.read", patient)
    _validate_request(request)
    return _enrol(user, patient, team, request, ctx)


def end_enrolment(
    user: User, enrolment: Enrolment, reason: str, note: str, ctx: AuditContext
) -> Enrolment:
    """Close an enrolment with a reason; the team's members lose access at once."""
    require(user, "enrolment.end", enrolment)
    if reason not in EndReason.__members__.values():
        raise InvalidInput("Indiquez le motif de sortie.", field="end_reason")
    if reason == EndReason.OTHER and not note.strip():
        raise InvalidInput("Précisez le motif de sortie.", field="end_note")
    enrolment.ended_at = utcnow()
    enrolment.end_reason = reason
    enrolment.end_note = note.strip()
    record_event(
        ctx,
        "enrolment.end",
        object_type="enrolment",
        object_id=enrolment.id,
        patient_id=enrolment.patient_id,
        reason=reason,
    )
    db.session.flush()
    send_after_commit(circle_changed, "care_teams", patient_id=enrolment.patient_id)
    return enrolment


def update_identity(
    user: User, patient: Patient, identity: IdentityData, ctx: AuditContext
) -> Patient:
    """Change traits or status. Changing a strict trait of a validated, recovered or qualified
    identity without a new check sends it back to provisional (identity vigilance)."""
    require(user, "patient.manage", patient)
    before = {name: getattr(patient, name) for name in STRICT_TRAITS}
    old_status, old_method = patient.identity_status, patient.identity_check_method
    refuse_hand_status(identity, (old_status, old_method))
    validate_identity(identity, allow_test_identities=_allow_test_identities())
    _refuse_duplicate_ins(user, identity.ins_matricule, patient.id)
    _apply_identity(patient, identity)
    changed = [n for n in STRICT_TRAITS if _same(n, getattr(patient, n)) != _same(n, before[n])]
    wanted = identity.identity_status
    if changed or wanted == IdentityStatus.PROVISIONAL:
        # A strict trait changed (or the user withdrew the status): the INSi answer and the
        # document check were about other traits.
        clear_identity_facts(patient)
    if wanted == IdentityStatus.VALIDATED and old_status in HAND_REFUSED_STATUSES:
        patient.insi_checked_at = patient.insi_checked_by_id = None  # "validée" asked for
        patient.insi_operation = ""
    if wanted == IdentityStatus.VALIDATED and (
        wanted != old_status or identity.identity_check_method != old_method
    ):
        _record_document(patient, user, identity.identity_check_method)
    refresh_identity_status(patient)
    record_event(
        ctx,
        "patient.update_identity",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"traits: {', '.join(changed) or '-'}; status: {old_status} -> "
        f"{patient.identity_status}",
    )
    db.session.flush()
    if changed:
        flag_possible_duplicates(patient, ctx)
    return patient


def _same(name: str, value: object) -> object:
    """Return a strict trait as compared: names normalised (a record typed before the INS
    rules, in another case or with accents, holds the same trait)."""
    if name in ("birth_name", "first_names") and isinstance(value, str):
        return normalise_trait(value)
    return value


def _record_document(patient: Patient, user: User, method: str) -> None:
    """Record the document check typed with the identity (a validated status asked for)."""
    if method in DOCUMENT_CHECKS and method != "insi_and_document":
        patient.document_type = method
        patient.document_checked_at, patient.document_checked_by_id = utcnow(), user.id


@dataclass(frozen=True)
class ContactData:
    """A caregiver, trusted person, legal representative or other contact."""

    kind: str
    name: str
    relationship_label: str = ""
    phone: str = ""
    email: str = ""


def add_contact(
    user: User, patient: Patient, data: ContactData, ctx: AuditContext
) -> PatientContact:
    """Add a contact to the patient's record."""
    require(user, "patient.manage", patient)
    if data.kind not in ContactKind.__members__.values():
        raise InvalidInput("Type de contact inconnu.", field="kind")
    if not data.name.strip():
        raise InvalidInput("Le nom du contact est obligatoire.", field="name")
    contact = PatientContact(
        patient_id=patient.id,
        **{f.name: getattr(data, f.name).strip() for f in dataclasses.fields(ContactData)},
    )
    db.session.add(contact)
    db.session.flush()
    record_event(
        ctx,
        "patient.contact_add",
        object_type="patient_contact",
        object_id=contact.id,
        patient_id=patient.id,
    )
    return contact


def remove_contact(user: User, patient: Patient, contact_id: int, ctx: AuditContext) -> None:
    """Remove one of the patient's contacts."""
    require(user, "patient.manage", patient)
    contact = db.session.get(PatientContact, contact_id)
    if contact is None or contact.patient_id != patient.id:
        raise NotFound("Contact introuvable.")
    db.session.delete(contact)
    record_event(
        ctx,
        "patient.contact_remove",
        object_type="patient_contact",
        object_id=contact_id,
        patient_id=patient.id,
    )
    db.session.flush()


def update_contact_details(
    user: User,
    patient: Patient,
    *,
    address: str,
    postal_code: str,
    city: str,
    phone: str,
    email: str,
    gp_user_id: int | None,
    gp_name: str,
    ctx: AuditContext,
) -> Patient:
    """Update the patient's address, phones, e-mail and GP (médecin traitant)."""
    require(user, "patient.manage", patient)
    if postal_code and not (postal_code.isdecimal() and len(postal_code) == 5):
        raise InvalidInput("Code postal invalide (5 chiffres).", field="postal_code")
    if gp_user_id is not None:
        gp = db.session.get(User, gp_user_id)
        if gp is None or gp.profession != "physician":
            raise InvalidInput("Le médecin traitant doit être un médecin.", field="gp_user_id")
    patient.address, patient.postal_code, patient.city = address.strip(), postal_code, city.strip()
    patient.phone, patient.email = phone.strip(), email.strip()
    patient.gp_user_id, patient.gp_name = gp_user_id, gp_name.strip()
    record_event(
        ctx,
        "patient.update_contact",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
    )
    db.session.flush()
    return patient


def resolve_duplicate(
    user: User, flag: DuplicateFlag, action: str, ctx: AuditContext
) -> DuplicateFlag:
    """Dismiss a possible duplicate, or merge the newer record into the older one."""
    require(user, "duplicates.review")
    # Before the patient checks: once merged, the duplicate is managed by nobody.
    if flag.status != DuplicateStatus.OPEN:
        raise Conflict("Ce doublon potentiel a déjà été traité.")
    require(user, "patient.manage", flag.patient)
    require(user, "patient.manage", flag.other_patient)
    if action == "dismiss":
        flag.status = DuplicateStatus.DISMISSED
    elif action == "merge":
        merge_records(user, flag, flag.patient, flag.other_patient)
        flag.status = DuplicateStatus.MERGED
    else:
        raise InvalidInput("Action inconnue (fusionner ou écarter).", field="action")
    flag.resolved_by_id, flag.resolved_at = user.id, utcnow()
    record_event(
        ctx,
        f"patient.duplicate_{action}",
        object_type="patient",
        object_id=flag.other_patient_id,
        patient_id=flag.patient_id,
    )
    db.session.flush()
    return flag
