"""JSON API of care teams: teams, patients, consents, circle and access log.

Every patient endpoint loads the record through need-to-know (`load_patient`): a patient
outside the caller's circle answers 404, exactly like one that does not exist. The routes
themselves declare `patients.list` (clinicians only: admins and ARS analysts get 403), since
the guard runs before the patient is known; `load_patient` then decides `patient.read` or
`patient.manage` on the record itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request
from flask_login import current_user

from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.audit.models import AuditEvent
from ptap.audit.services import record_event
from ptap.care_teams import circle, organisation, queries, services
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient, Structure
from ptap.care_teams.schemas import (
    AccessLogEntryOut,
    CircleMemberOut,
    CircleOut,
    ConsentCreate,
    ConsentEntryOut,
    ConsentsOut,
    MembershipCreate,
    MembershipOut,
    PatientCreate,
    PatientDetail,
    PatientOut,
    PatientUpdate,
    ProfessionalList,
    ProfessionalOut,
    TeamCreate,
    TeamList,
    TeamOut,
    professional_label,
)
from ptap.core.api import api_route, fields_under, paginate_by_id, problem
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import PlatformRole, can, has_role
from ptap.extensions import db

TEAMS = ("Équipes",)
PATIENTS = ("Patients",)

# Services name the fields of their own values; the problem must name the body's path.
_IDENTITY = [
    "birth_name",
    "first_names",
    "birth_date",
    "sex",
    "birthplace_code",
    "used_name",
    "used_first_name",
    "ins_matricule",
    "ins_oid",
    "identity_status",
    "identity_check_method",
]
_REQUEST = ["requested_on", "requester_kind", "requester_name", "problem_categories"]
_CONTACT = ["address", "postal_code", "city", "phone", "email", "gp_user_id", "gp_name"]
CREATE_FIELDS = {f: f"identity.{f}" for f in _IDENTITY} | {f: f"request.{f}" for f in _REQUEST}
UPDATE_FIELDS = {f: f"identity.{f}" for f in _IDENTITY} | {
    f: f"contact_details.{f}" for f in _CONTACT
}
# The signed form cannot travel over JSON: the `method` chosen is what the body got wrong.
CONSENT_FIELDS = {"document": "method"}


def duplicate_ins_problem(exc: services.DuplicateIns):
    """Answer 409 naming the INS field: the record that holds it when the caller may see it,
    otherwise only the teams to contact (no id: it would reveal the identity's record)."""
    db.session.rollback()
    extra: dict[str, Any]
    if exc.existing_id is None:
        extra = {"contacts": list(exc.contacts)}
    else:
        extra = {"existing": {"id": exc.existing_id, "href": f"/api/v1/patients/{exc.existing_id}"}}
    return problem(409, "Conflit", exc.message, field=exc.field, extra=extra)


def _detail(patient: Patient) -> PatientDetail:
    return PatientDetail.build(patient, queries.all_enrolments(patient.id))


@api_route(
    "/teams",
    summary="Mes équipes (toutes pour un administrateur), avec mon rôle",
    access="teams.list",
    response=TeamList,
    tags=TEAMS,
)
def list_teams():
    user = current_user._get_current_object()
    admin = has_role(user, PlatformRole.ADMIN)
    teams = queries.all_teams() if admin else queries.my_teams(user.id)
    roles = queries.team_roles(user.id)
    return TeamList(items=[TeamOut.of(team, roles.get(team.id)) for team in teams])


@api_route(
    "/professionals",
    summary="Autocomplétion : les premiers professionnels actifs dont le nom commence par q "
    "(2 caractères au moins ; 20 résultats au plus)",
    access="teams.list",
    response=ProfessionalList,
    tags=TEAMS,
    query=(
        ("q", "Début du nom ou du prénom (2 caractères au moins)"),
        ("profession", "Seulement cette profession (par exemple physician)"),
    ),
)
def search_professionals():
    found = queries.search_professionals(
        request.args.get("q", "")[:100], profession=request.args.get("profession", "")[:40]
    )
    return ProfessionalList(
        items=[ProfessionalOut(id=u.id, label=professional_label(u)) for u in found]
    )


@api_route(
    "/teams",
    "POST",
    summary="Créer une équipe dans une structure, sur le territoire de celle-ci (administrateurs)",
    access="teams.manage",
    body=TeamCreate,
    response=TeamOut,
    status=201,
    tags=TEAMS,
)
def create_team(body: TeamCreate):
    structure = db.session.get(Structure, body.structure_id)
    if structure is None:
        raise InvalidInput("Structure introuvable.", field="structure_id")
    team = organisation.create_team(current_user, body.name, structure, request_context())
    db.session.commit()
    return TeamOut.of(team, queries.team_roles(current_user.id).get(team.id))


@api_route(
    "/teams/<int:team_id>/members",
    "POST",
    summary="Ajouter un professionnel ou un coordinateur de parcours à une équipe "
    "(coordinateurs actuels de l'équipe ; un administrateur ne fait que proposer un ajout, "
    "depuis la page de l'équipe, qu'une seconde personne approuve) ; il voit les patients "
    "de l'équipe dès son premier jour",
    access="teams.list",
    body=MembershipCreate,
    response=MembershipOut,
    status=201,
    tags=TEAMS,
)
def add_team_member(team_id: int, body: MembershipCreate):
    team = db.session.get(CareTeam, team_id)
    if team is None:
        raise NotFound("Équipe introuvable.")
    member = db.session.get(User, body.user_id)
    if member is None:
        raise InvalidInput("Utilisateur introuvable.", field="user_id")
    membership = organisation.add_member(
        current_user, team, member, body.role, body.starts_on, body.ends_on, request_context()
    )
    db.session.commit()
    return MembershipOut.of(membership, member.full_name)


@api_route(
    "/patients",
    summary="Les patients de mon cercle de soins (recherche par nom, INS, date de naissance)",
    access="patients.list",
    response=PatientOut,
    paginated=True,
    tags=PATIENTS,
    query=(
        ("name", "Une partie des noms ou prénoms, dans n'importe quel ordre, sans accents"),
        ("ins", "Matricule INS (NIR ou NIA)"),
        ("birth_date", "Date de naissance : jj/mm/aaaa, mm/aaaa, aaaa ou aaaa-mm-jj"),
    ),
)
@shows_patients("patient search")
def list_patients():
    args = request.args
    search = queries.PatientSearch(
        name=args.get("name", ""), ins=args.get("ins", ""), birth_date=args.get("birth_date", "")
    )
    page = paginate_by_id(queries.visible_patients_query(current_user.id, search), Patient.id)
    note_patients_shown(p.id for p in page.items)
    teams = queries.active_team_ids_by_patient([p.id for p in page.items])
    return dataclasses.replace(page, items=[PatientOut.of(p, teams[p.id]) for p in page.items])


@api_route(
    "/patients",
    "POST",
    summary="Créer un patient et l'inscrire dans une équipe que je coordonne "
    "(409 avec le lien du dossier existant si l'INS est déjà enregistré)",
    access="team.enrol",
    body=PatientCreate,
    response=PatientOut,
    status=201,
    tags=PATIENTS,
)
def create_patient(body: PatientCreate):
    team = db.session.get(CareTeam, body.team_id)
    if team is None or not can(current_user, "team.view", team):
        # Teams the caller does not belong to are not revealed.
        raise NotFound("Équipe introuvable.", field="team_id")
    try:
        with fields_under(CREATE_FIELDS):
            patient = services.create_patient(
                current_user,
                team,
                body.identity.to_identity(),
                body.request.to_request(),
                request_context(),
            )
    except services.DuplicateIns as exc:
        return duplicate_ins_problem(exc)
    db.session.commit()
    return PatientOut.of(patient, [team.id])


@api_route(
    "/patients/<int:patient_id>",
    summary="Le dossier d'un patient : identité, coordonnées, contacts, inscriptions, "
    "consentements (accès tracé)",
    access="patients.list",
    response=PatientDetail,
    tags=PATIENTS,
)
def get_patient(patient_id: int):
    patient = load_patient(patient_id, what="identity")
    db.session.commit()  # the read is audited even if what follows fails
    return _detail(patient)


@api_route(
    "/patients/<int:patient_id>",
    "PATCH",
    summary="Modifier l'identité et/ou les coordonnées (coordinateurs) : seuls les champs "
    "envoyés changent ; birth_date se remplace en entier ; modifier un trait strict d'une "
    "identité vérifiée sans nouveau statut la repasse en provisoire",
    access="patients.list",
    body=PatientUpdate,
    response=PatientDetail,
    tags=PATIENTS,
)
def update_patient(patient_id: int, body: PatientUpdate):
    patient = load_patient(patient_id, "patient.manage")
    ctx = request_context()
    try:
        with fields_under(UPDATE_FIELDS):
            # One unit of work: both sections change, or neither does.
            if body.identity is not None:
                identity = body.identity.apply(patient)
                services.update_identity(current_user, patient, identity, ctx)
            if body.contact_details is not None:
                details = body.contact_details.apply(patient)
                services.update_contact_details(current_user, patient, **details, ctx=ctx)
    except services.DuplicateIns as exc:
        return duplicate_ins_problem(exc)
    db.session.commit()
    return _detail(patient)


@api_route(
    "/patients/<int:patient_id>/consents",
    summary="Les consentements en vigueur et leur historique (accès tracé)",
    access="patients.list",
    response=ConsentsOut,
    tags=PATIENTS,
)
def list_consents(patient_id: int):
    patient = load_patient(patient_id, what="consents")
    db.session.commit()
    history = [ConsentEntryOut.of(r, name) for r, name in queries.consent_history(patient.id)]
    return ConsentsOut(
        sharing=patient.sharing_consent, dmp_opposition=patient.dmp_opposition, history=history
    )


@api_route(
    "/patients/<int:patient_id>/consents",
    "POST",
    summary="Enregistrer un choix du patient, donné ou retiré, effectif immédiatement "
    "(coordinateurs ; le formulaire signé se dépose depuis la page web du patient)",
    access="patients.list",
    body=ConsentCreate,
    response=ConsentEntryOut,
    status=201,
    tags=PATIENTS,
)
def record_consent(patient_id: int, body: ConsentCreate):
    patient = load_patient(patient_id, "patient.manage")
    with fields_under(CONSENT_FIELDS):
        entry = circle.record_consent(
            current_user, patient, body.kind, body.given, body.method, body.note, request_context()
        )
    db.session.commit()
    return ConsentEntryOut.of(entry, current_user.full_name)


@api_route(
    "/patients/<int:patient_id>/circle",
    summary="Le cercle de soins du patient : membres des équipes et invités (accès tracé)",
    access="patients.list",
    response=CircleOut,
    tags=PATIENTS,
)
def list_circle(patient_id: int):
    patient = load_patient(patient_id, what="circle")
    db.session.commit()
    return CircleOut(items=[CircleMemberOut.model_validate(m) for m in queries.circle(patient)])


@api_route(
    "/patients/<int:patient_id>/access-log",
    summary="Qui a consulté ou modifié le dossier, du plus ancien au plus récent "
    "(coordinateurs ; cette consultation est elle-même tracée)",
    access="patients.list",
    response=AccessLogEntryOut,
    paginated=True,
    tags=PATIENTS,
)
def list_access_log(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    record_event(
        request_context(),
        "patient.access_log",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
    )
    db.session.commit()
    page = paginate_by_id(queries.access_log_query(patient.id), AuditEvent.id, descending=True)
    return dataclasses.replace(page, items=queries.describe_access_events(list(page.items)))
