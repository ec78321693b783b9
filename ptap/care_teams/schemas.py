"""JSON shapes of teams, patients, consents, circle and access log in the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ptap.care_teams.identity import IdentityData
from ptap.care_teams.models import (
    CareTeam,
    ConsentKind,
    ConsentMethod,
    ConsentRecord,
    Enrolment,
    IdentityStatus,
    Patient,
    ProblemCategory,
    RequesterKind,
    Sex,
    TeamMembership,
    TeamRole,
)
from ptap.care_teams.services import EnrolmentRequest

# --- Teams -----------------------------------------------------------------------------------


class ProfessionalOut(BaseModel):
    """An active clinician offered by the name autocompletion (organisational data only)."""

    id: int
    label: str = Field(description="Nom, prénom et profession, tels qu'affichés")


def professional_label(user: Any) -> str:
    """Name a professional as lists and the autocompletion show them."""
    coordinator = " · compte coordinateur" if user.role == "coordinator" else ""
    return f"{user.last_name} {user.first_name} · {user.profession_label}{coordinator}"


class ProfessionalList(BaseModel):
    """The first matches of a name search (bounded; never the whole directory)."""

    items: list[ProfessionalOut]


class StructureOut(BaseModel):
    """The structure (DAC, CPTS, MSP...) a team belongs to."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    finess: str | None


class TerritoryOut(BaseModel):
    """A coordination territory (INSEE region and department codes)."""

    model_config = ConfigDict(from_attributes=True)

    region_code: str
    department_code: str
    name: str


class TeamOut(BaseModel):
    """A care team, with the caller's role in it (null for an administrator outside it)."""

    id: int
    name: str
    structure: StructureOut
    territory: TerritoryOut
    my_role: str | None

    @classmethod
    def of(cls, team: CareTeam, role: str | None) -> Self:
        """Build the output of `team` for a caller holding `role` there."""
        return cls(
            id=team.id,
            name=team.name,
            structure=StructureOut.model_validate(team.structure),
            territory=TerritoryOut.model_validate(team.territory),
            my_role=role,
        )


class TeamList(BaseModel):
    """The caller's teams (every team for an administrator), by name."""

    items: list[TeamOut]


# --- Patients: output ------------------------------------------------------------------------


class BirthDate(BaseModel):
    """A birth date whose month and day may be unknown (null)."""

    model_config = ConfigDict(extra="forbid")

    year: int
    month: int | None = None
    day: int | None = None


class InsOut(BaseModel):
    """The national health identity: matricule (NIR/NIA) and its OID."""

    matricule: str
    oid: str


class PatientOut(BaseModel):
    """A patient's identity summary and the teams following them now."""

    id: int
    birth_name: str
    used_name: str
    first_names: str
    used_first_name: str
    birth_date: BirthDate
    sex: str
    birthplace_code: str
    ins: InsOut | None
    identity_status: str
    teams: list[int] = Field(description="Identifiants des équipes qui suivent la personne")

    @classmethod
    def fields_of(cls, patient: Patient, team_ids: Sequence[int]) -> dict[str, Any]:
        """Return the summary fields of `patient` (shared with PatientDetail)."""
        ins = (
            InsOut(matricule=patient.ins_matricule, oid=patient.ins_oid or "")
            if patient.ins_matricule
            else None
        )
        return {
            "id": patient.id,
            "birth_name": patient.birth_name,
            "used_name": patient.used_name,
            "first_names": patient.first_names,
            "used_first_name": patient.used_first_name,
            "birth_date": BirthDate(
                year=patient.birth_year, month=patient.birth_month, day=patient.birth_day
            ),
            "sex": patient.sex,
            "birthplace_code": patient.birthplace_code,
            "ins": ins,
            "identity_status": patient.identity_status,
            "teams": list(team_ids),
        }

    @classmethod
    def of(cls, patient: Patient, team_ids: Sequence[int]) -> Self:
        """Build the summary of `patient`."""
        return cls(**cls.fields_of(patient, team_ids))


class ContactDetails(BaseModel):
    """Address, phone, e-mail and GP (médecin traitant) of the patient."""

    model_config = ConfigDict(from_attributes=True)

    address: str
    postal_code: str
    city: str
    phone: str
    email: str
    gp_user_id: int | None
    gp_name: str


class ContactOut(BaseModel):
    """A caregiver, trusted person, legal representative or other contact."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    name: str
    relationship_label: str
    phone: str
    email: str


class TeamRef(BaseModel):
    """A team named in another object."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class EnrolmentOut(BaseModel):
    """A stay in a team's file, from the request to the exit (ended_at null while it lasts)."""

    id: int
    team: TeamRef
    requested_on: date
    requester_kind: str
    requester_name: str
    problem_categories: list[str]
    enrolled_at: datetime
    ended_at: datetime | None
    end_reason: str

    @classmethod
    def of(cls, enrolment: Enrolment) -> Self:
        """Build the output of `enrolment` (its team must be loaded)."""
        return cls(
            id=enrolment.id,
            team=TeamRef.model_validate(enrolment.team),
            requested_on=enrolment.requested_on,
            requester_kind=enrolment.requester_kind,
            requester_name=enrolment.requester_name,
            problem_categories=enrolment.categories,
            enrolled_at=enrolment.enrolled_at,
            ended_at=enrolment.ended_at,
            end_reason=enrolment.end_reason,
        )


class ConsentState(BaseModel):
    """The consents in force: agreement to sharing, opposition to the DMP."""

    sharing: bool
    dmp_opposition: bool

    @classmethod
    def of(cls, patient: Patient) -> Self:
        """Read the current state kept on the patient by the consent service."""
        return cls(sharing=patient.sharing_consent, dmp_opposition=patient.dmp_opposition)


class PatientDetail(PatientOut):
    """The patient's record: identity, contact details, contacts, enrolments, consents."""

    identity_check_method: str
    identity_checked_at: datetime | None
    contact_details: ContactDetails
    contacts: list[ContactOut]
    enrolments: list[EnrolmentOut]
    consent: ConsentState

    @classmethod
    def build(cls, patient: Patient, enrolments: Sequence[Enrolment]) -> Self:
        """Build the record from the patient and all their enrolments (teams loaded)."""
        active = [e.team_id for e in enrolments if e.ended_at is None]
        return cls(
            **cls.fields_of(patient, sorted(set(active))),
            identity_check_method=patient.identity_check_method,
            identity_checked_at=patient.identity_checked_at,
            contact_details=ContactDetails.model_validate(patient),
            contacts=[ContactOut.model_validate(c) for c in patient.contacts],
            enrolments=[EnrolmentOut.of(e) for e in enrolments],
            consent=ConsentState.of(patient),
        )


# --- Patients: input -------------------------------------------------------------------------


class IdentityIn(BaseModel):
    """Strict traits, INS and identity status of a new patient (checked by the service)."""

    model_config = ConfigDict(extra="forbid")

    birth_name: str = Field(max_length=100)
    first_names: str = Field(
        max_length=200, description="Prénoms de l'acte de naissance, dans l'ordre"
    )
    birth_date: BirthDate
    sex: Sex
    birthplace_code: str = Field(default="", max_length=5, description="Code INSEE ; 99xxx")
    used_name: str = Field(default="", max_length=100)
    used_first_name: str = Field(default="", max_length=100)
    ins_matricule: str = Field(default="", max_length=30, description="NIR ou NIA, avec la clé")
    ins_oid: str = Field(default="", max_length=32)
    identity_status: IdentityStatus = IdentityStatus.PROVISIONAL
    identity_check_method: str = Field(default="", max_length=40)

    def to_identity(self) -> IdentityData:
        """Return the service's identity value."""
        return IdentityData(
            birth_name=self.birth_name,
            first_names=self.first_names,
            birth_year=self.birth_date.year,
            birth_month=self.birth_date.month,
            birth_day=self.birth_date.day,
            sex=self.sex,
            birthplace_code=self.birthplace_code,
            used_name=self.used_name,
            used_first_name=self.used_first_name,
            ins_matricule=self.ins_matricule,
            ins_oid=self.ins_oid,
            identity_status=self.identity_status,
            identity_check_method=self.identity_check_method,
        )


class EnrolmentRequestIn(BaseModel):
    """Who asked for the enrolment, when, and why."""

    model_config = ConfigDict(extra="forbid")

    requested_on: date
    requester_kind: RequesterKind
    requester_name: str = Field(default="", max_length=200)
    problem_categories: list[ProblemCategory]

    def to_request(self) -> EnrolmentRequest:
        """Return the service's enrolment request value."""
        return EnrolmentRequest(
            requested_on=self.requested_on,
            requester_kind=self.requester_kind,
            requester_name=self.requester_name,
            problem_categories=tuple(self.problem_categories),
        )


class PatientCreate(BaseModel):
    """Request body to create a patient and enrol them in one of the caller's teams."""

    model_config = ConfigDict(extra="forbid")

    team_id: int
    identity: IdentityIn
    request: EnrolmentRequestIn


class IdentityPatch(BaseModel):
    """Identity changes: a field omitted or null keeps its value; "" empties an optional text.

    `birth_date` is replaced as a whole when sent (month or day null: unknown). Changing a
    strict trait of a checked identity without a new status sends it back to provisional.
    """

    model_config = ConfigDict(extra="forbid")

    birth_name: str | None = Field(default=None, max_length=100)
    first_names: str | None = Field(default=None, max_length=200)
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    birthplace_code: str | None = Field(default=None, max_length=5)
    used_name: str | None = Field(default=None, max_length=100)
    used_first_name: str | None = Field(default=None, max_length=100)
    ins_matricule: str | None = Field(default=None, max_length=30)
    ins_oid: str | None = Field(default=None, max_length=32)
    identity_status: IdentityStatus | None = None
    identity_check_method: str | None = Field(default=None, max_length=40)

    def apply(self, patient: Patient) -> IdentityData:
        """Return the patient's current identity with this patch's changes."""
        changes: dict[str, Any] = self.model_dump(exclude_none=True, exclude={"birth_date"})
        if self.birth_date is not None:
            changes |= {
                "birth_year": self.birth_date.year,
                "birth_month": self.birth_date.month,
                "birth_day": self.birth_date.day,
            }
        return dataclasses.replace(current_identity(patient), **changes)


def current_identity(patient: Patient) -> IdentityData:
    """Return the identity value of the patient as it stands."""
    return IdentityData(
        **{
            f.name: getattr(patient, f.name)
            for f in dataclasses.fields(IdentityData)
            if f.name not in ("ins_matricule", "ins_oid")
        },
        ins_matricule=patient.ins_matricule or "",
        ins_oid=patient.ins_oid or "",
    )


class ContactDetailsPatch(BaseModel):
    """Contact-details changes: a text omitted or null keeps its value; "" empties it.

    `gp_user_id` changes only when sent; null then removes the link to the GP's account.
    """

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, max_length=300)
    postal_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=255)
    gp_user_id: int | None = None
    gp_name: str | None = Field(default=None, max_length=200)

    def apply(self, patient: Patient) -> dict[str, Any]:
        """Return the keyword arguments of update_contact_details, current values merged."""
        current = ContactDetails.model_validate(patient).model_dump()
        changes = self.model_dump(exclude_none=True)
        if "gp_user_id" in self.model_fields_set:
            changes["gp_user_id"] = self.gp_user_id
        return current | changes


class PatientUpdate(BaseModel):
    """Request body of PATCH: identity and/or contact details, each merged field by field."""

    model_config = ConfigDict(extra="forbid")

    identity: IdentityPatch | None = None
    contact_details: ContactDetailsPatch | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.identity is None and self.contact_details is None:
            raise PydanticCustomError(
                "empty_patch", "Indiquez l'identité et/ou les coordonnées à modifier."
            )
        return self


# --- Consents, circle, access log ------------------------------------------------------------


class PersonRef(BaseModel):
    """A user named in another object."""

    id: int
    name: str


class ConsentEntryOut(BaseModel):
    """One entry of the append-only consent ledger."""

    id: int
    kind: str
    given: bool = Field(description="true : donné (ou opposition exprimée) ; false : retiré")
    method: str
    note: str
    recorded_by: PersonRef
    recorded_at: datetime
    has_document: bool = Field(description="Un formulaire signé est archivé avec l'entrée")

    @classmethod
    def of(cls, record: ConsentRecord, recorded_by_name: str) -> Self:
        """Build the output of a ledger row and the name of who recorded it."""
        return cls(
            id=record.id,
            kind=record.kind,
            given=record.given,
            method=record.method,
            note=record.note,
            recorded_by=PersonRef(id=record.recorded_by_id, name=recorded_by_name),
            recorded_at=record.recorded_at,
            has_document=bool(record.document_path),
        )


class ConsentsOut(BaseModel):
    """The consents in force and the whole ledger, newest first."""

    sharing: bool
    dmp_opposition: bool
    history: list[ConsentEntryOut]


class ConsentCreate(BaseModel):
    """Request body to record a choice (given or withdrawn); it takes effect at once."""

    model_config = ConfigDict(extra="forbid")

    kind: ConsentKind
    given: bool
    method: ConsentMethod = Field(
        description="signed_form exige le PDF signé : il se dépose depuis la page web du patient"
    )
    note: str = Field(default="", max_length=2000)


class CircleMemberOut(BaseModel):
    """One person of the circle and why they are in it."""

    model_config = ConfigDict(from_attributes=True)

    user_id: int
    name: str
    profession: str
    basis: str
    team_role: str
    until: datetime | None = Field(description="Fin d'une invitation ; null pour un membre")


class CircleOut(BaseModel):
    """The patient's circle: team members, then current invitations."""

    model_config = ConfigDict(from_attributes=True)

    items: list[CircleMemberOut]


class AccessLogEntryOut(BaseModel):
    """One access to the patient's record."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    who: str
    profession: str
    action: str
    detail: str


# --- Organisation: teams and memberships (write) --------------------------------------------


class TeamCreate(BaseModel):
    """Request body to create a care team (administrators): it takes its structure's territory."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    structure_id: int


class MembershipCreate(BaseModel):
    """Request body to add a clinician to a team, from `starts_on` until `ends_on` (inclusive)."""

    model_config = ConfigDict(extra="forbid")

    user_id: int
    role: TeamRole = Field(description="coordinator exige un compte de coordinateur de parcours")
    starts_on: date
    ends_on: date | None = Field(default=None, description="Dernier jour ; null tant qu'il dure")


class MembershipOut(BaseModel):
    """A membership of a team, from its first to its last day (null while it lasts)."""

    id: int
    team_id: int
    user: PersonRef
    role: str
    starts_on: date
    ends_on: date | None

    @classmethod
    def of(cls, membership: TeamMembership, user_name: str) -> Self:
        """Build the output of `membership` and the name of its member."""
        return cls(
            id=membership.id,
            team_id=membership.team_id,
            user=PersonRef(id=membership.user_id, name=user_name),
            role=membership.role,
            starts_on=membership.starts_on,
            ends_on=membership.ends_on,
        )
