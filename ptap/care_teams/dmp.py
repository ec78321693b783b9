"""What the DMP bridge needs to know of patients, professionals and structures.

Registered with the bridge at start-up (``register``): the bridge imports no domain, it calls
these providers when it sends, so the gates read the patient's current identity and consent.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from ptap import dmp_bridge
from ptap.accounts.models import Profession, User
from ptap.care_teams.models import CareTeam, Enrolment, Patient, Structure
from ptap.extensions import db


def dmp_patient(patient_id: int) -> dmp_bridge.DmpPatient:
    """Describe a patient for the bridge (identity traits, status, consent, opposition)."""
    p = db.session.get_one(Patient, patient_id)
    return dmp_bridge.DmpPatient(
        patient_id=p.id,
        ins=p.ins_matricule,
        ins_oid=p.ins_oid,
        qualified=p.is_qualified,
        sharing_consent=p.sharing_consent,
        dmp_opposition=p.dmp_opposition,
        birth_name=p.birth_name,
        first_names=p.first_names,
        birth_year=p.birth_year,
        birth_month=p.birth_month,
        birth_day=p.birth_day,
        sex=p.sex,
        birthplace_code=p.birthplace_code,
        used_name=p.used_name,
        used_first_name=p.used_first_name,
        address=p.address,
        postal_code=p.postal_code,
        city=p.city,
    )


def _structure_of(patient_id: int) -> Structure | None:
    """The structure of the team that follows the patient (the earliest open enrolment)."""
    return db.session.scalar(
        sa.select(Structure)
        .join(CareTeam, CareTeam.structure_id == Structure.id)
        .join(Enrolment, Enrolment.team_id == CareTeam.id)
        .where(Enrolment.patient_id == patient_id)
        .order_by(Enrolment.ended_at.is_not(None), Enrolment.enrolled_at)
        .limit(1)
    )


def dmp_organisation(structure: Structure | None) -> dmp_bridge.DmpOrganisation:
    """The structure on whose behalf documents are filed (Struct_IdNat = 1 + FINESS)."""
    if structure is None:
        return dmp_bridge.DmpOrganisation(name="PTAP", id_nat="1" + "0" * 9)
    return dmp_bridge.DmpOrganisation(
        name=structure.name, id_nat="1" + (structure.finess or "0" * 9)
    )


def dmp_author(
    user: User, organisation: dmp_bridge.DmpOrganisation, function_code: str = ""
) -> dmp_bridge.DmpAuthor:
    """A professional for the DMP: PS_IdNat is 8 + RPPS, or 3 + FINESS/local id without RPPS."""
    # Without an RPPS: 3 + FINESS of the structure + "/" + an id local to the structure.
    id_nat = "8" + user.rpps if user.rpps else f"3{organisation.id_nat[1:]}/PTAP{user.id}"
    if not function_code and user.profession == Profession.CARE_COORDINATOR:
        function_code = "330"
    return dmp_bridge.DmpAuthor(
        id_nat=id_nat,
        family_name=user.last_name,
        given_name=user.first_name,
        profession=user.profession,
        specialty="SM54" if user.profession == Profession.PHYSICIAN else "",
        function_code=function_code,
    )


def dmp_requester(user_id: int | None, patient_id: int) -> dmp_bridge.Requester:
    """Who a filing is done for: the requesting user, else the configured responsible person."""
    organisation = dmp_organisation(_structure_of(patient_id))
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is not None:
        return dmp_bridge.Requester(dmp_author(user, organisation), organisation)
    responsible = str(current_app.config["DMP_RESPONSIBLE_ID_NAT"]) or organisation.id_nat
    subject = dmp_bridge.DmpAuthor(
        id_nat=responsible,
        family_name="PTAP",
        given_name="Dépôt automatique",
        profession=Profession.CARE_COORDINATOR,
        function_code="330",
    )
    return dmp_bridge.Requester(subject, organisation)


def structure_of_patient(patient_id: int) -> Structure | None:
    """Public alias used by the domains that render documents for the DMP."""
    return _structure_of(patient_id)


def register() -> None:
    """Register the patient and requester providers with the bridge."""
    dmp_bridge.register_patient_provider(dmp_patient)
    dmp_bridge.register_requester_provider(dmp_requester)
