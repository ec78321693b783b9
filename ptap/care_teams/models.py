"""Organisation (territories, structures, teams), patients, enrolments, circle and consents."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core.blobs import register_blob_references
from ptap.core.models import Base, TimestampMixin, utcnow


class StructureKind(StrEnum):
    """Kind of structure a care team belongs to."""

    DAC = "dac"
    CPTS = "cpts"
    MSP = "msp"
    HOSPITAL = "hospital"
    MEDICO_SOCIAL = "medico_social"


STRUCTURE_KIND_LABELS = {
    StructureKind.DAC: "Dispositif d'appui à la coordination (DAC)",
    StructureKind.CPTS: "Communauté professionnelle territoriale de santé (CPTS)",
    StructureKind.MSP: "Maison de santé pluriprofessionnelle (MSP)",
    StructureKind.HOSPITAL: "Établissement de santé",
    StructureKind.MEDICO_SOCIAL: "Établissement ou service médico-social",
}


class Territory(Base):
    """A coordination territory (region and department INSEE codes)."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: INSEE region code (2 digits, e.g. 84 Auvergne-Rhône-Alpes).
    region_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    #: INSEE department code (2 or 3 characters: 69, 2A, 974).
    department_code: Mapped[str] = mapped_column(sa.String(3))


class Structure(Base):
    """A DAC, CPTS, MSP, hospital or medico-social structure."""

    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    #: FINESS number: 9 digits with a Luhn check digit.
    finess: Mapped[str | None] = mapped_column(sa.String(9), unique=True)
    territory_id: Mapped[int] = mapped_column(sa.ForeignKey("territories.id"), index=True)

    territory: Mapped[Territory] = relationship()


class TeamRole(StrEnum):
    """Role of a professional inside a care team."""

    COORDINATOR = "coordinator"
    MEMBER = "member"


TEAM_ROLE_LABELS: dict[str, str] = {TeamRole.COORDINATOR: "Coordination", TeamRole.MEMBER: "Membre"}


class CareTeam(TimestampMixin, Base):
    """A coordinated care team (ESCAP) of a structure, on a territory."""

    __tablename__ = "care_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    territory_id: Mapped[int] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    structure_id: Mapped[int] = mapped_column(sa.ForeignKey("structures.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    territory: Mapped[Territory] = relationship()
    structure: Mapped[Structure] = relationship()


class TeamMembership(Base):
    """A professional's membership of a team, from one date until another (or open-ended)."""

    __tablename__ = "team_memberships"
    __table_args__ = (sa.Index("ix_team_memberships_user_team", "user_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(sa.String(20), default=TeamRole.MEMBER)
    starts_on: Mapped[date]
    #: Last day of membership, inclusive; null while it lasts.
    ends_on: Mapped[date | None]

    team: Mapped[CareTeam] = relationship()


class ProposalStatus(StrEnum):
    """Where an administrator's proposal to add a team member stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class MembershipProposal(Base):
    """An administrator's proposal to add someone to a team, pending a second person's approval.

    Membership opens the team's patients: an administrator alone must not be able to give
    clinical access (four-eyes). A coordinator of the team or another administrator, never the
    proposer nor the proposed person, approves it; the membership is created then.
    """

    __tablename__ = "membership_proposals"
    __table_args__ = (
        # One pending proposal per person and team: a second one is a conflict.
        sa.Index(
            "uq_membership_proposals_pending",
            "team_id",
            "user_id",
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    #: The person who would join the team.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(sa.String(20), default=TeamRole.MEMBER)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(sa.String(20), default=ProposalStatus.PENDING)
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    #: The membership created on approval.
    membership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team_memberships.id"))

    team: Mapped[CareTeam] = relationship()


class Sex(StrEnum):
    """Sex as a strict INS trait."""

    FEMALE = "F"
    MALE = "M"
    UNDETERMINED = "I"


SEX_LABELS = {Sex.FEMALE: "Féminin", Sex.MALE: "Masculin", Sex.UNDETERMINED: "Indéterminé"}


class IdentityStatus(StrEnum):
    """Identity status under the French identity-vigilance rules (RNIV)."""

    PROVISIONAL = "provisional"
    RECOVERED = "recovered"
    VALIDATED = "validated"
    QUALIFIED = "qualified"


IDENTITY_STATUS_LABELS = {
    IdentityStatus.PROVISIONAL: "Identité provisoire",
    IdentityStatus.RECOVERED: "Identité récupérée",
    IdentityStatus.VALIDATED: "Identité validée",
    IdentityStatus.QUALIFIED: "Identité qualifiée",
}


def born_on_label(sex: str) -> str:
    """Return "Née le", "Né le" or "Né(e) le" for a sex trait (rows read without a Patient)."""
    return {"F": "Née le", "M": "Né le"}.get(sex, "Né(e) le")


class Patient(TimestampMixin, Base):
    """A patient with their strict identity traits and INS."""

    __tablename__ = "patients"
    __table_args__ = (
        sa.Index("ix_patients_search_birth", "search_birth_name", "birth_year"),
        sa.Index("ix_patients_trait_match", "search_birth_name", "birth_year", "sex"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: INS matricule (NIR or NIA, 15 characters with the key); unique when present.
    ins_matricule: Mapped[str | None] = mapped_column(sa.String(15), unique=True)
    #: OID qualifying the matricule (NIR, NIA, or their test OIDs).
    ins_oid: Mapped[str | None] = mapped_column(sa.String(32))
    birth_name: Mapped[str] = mapped_column(sa.String(100))
    used_name: Mapped[str] = mapped_column(sa.String(100), default="")
    #: First names of the birth certificate, in order, separated by spaces (INS format).
    first_names: Mapped[str] = mapped_column(sa.String(200))
    used_first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    birth_year: Mapped[int]
    #: Null when the month of birth is unknown.
    birth_month: Mapped[int | None]
    #: Null when the day of birth is unknown.
    birth_day: Mapped[int | None]
    sex: Mapped[str] = mapped_column(sa.String(1))
    #: INSEE code of the birthplace commune; 99xxx for a birth abroad (country code).
    birthplace_code: Mapped[str] = mapped_column(sa.String(5), default="")
    identity_status: Mapped[str] = mapped_column(sa.String(20), default=IdentityStatus.PROVISIONAL)
    #: How the identity was checked (document seen, INSi call), for validated/qualified.
    identity_check_method: Mapped[str] = mapped_column(sa.String(40), default="")
    identity_checked_at: Mapped[datetime | None]
    identity_checked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Last INSi answer "00" (INS retrieved or verified through the teleservice); cleared
    #: when a strict trait changes. With a document check, it makes the identity qualified.
    insi_checked_at: Mapped[datetime | None]
    insi_checked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: "retrieve" or "verify": which INSi operation answered "00".
    insi_operation: Mapped[str] = mapped_column(sa.String(10), default="")
    #: The high-trust document seen (identity.DOCUMENT_TYPES), by whom and when.
    document_type: Mapped[str] = mapped_column(sa.String(30), default="")
    document_checked_at: Mapped[datetime | None]
    document_checked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Upper-case, accent-free birth and used names: what search compares.
    search_birth_name: Mapped[str] = mapped_column(sa.String(100))
    search_used_name: Mapped[str] = mapped_column(sa.String(100), default="", index=True)
    #: Every word of the used, birth and first names, normalised (identity.names_search_key),
    #: kept by the services: the patient search matches parts of it, in any order.
    search_names: Mapped[str] = mapped_column(sa.String(1000), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(10), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    #: The GP (médecin traitant) when they have an account; gp_name otherwise.
    gp_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    gp_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Current state of the consent ledger, kept in step by the consent service (the ledger
    #: rows are the record; these columns make need-to-know queries cheap).
    sharing_consent: Mapped[bool] = mapped_column(default=False)
    dmp_opposition: Mapped[bool] = mapped_column(default=False)
    #: Set when this record was merged into another one (identity-vigilance duplicate).
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[PatientContact]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", order_by="PatientContact.id"
    )

    @property
    def display_name(self) -> str:
        name = self.used_name or self.birth_name
        first = self.used_first_name or self.first_names.split(" ")[0]
        if first.isupper():  # a strict trait stored in upper case: "MARIE-ANNE" -> "Marie-Anne"
            first = first.title()
        return f"{name.upper()} {first}"

    @property
    def birth_date_label(self) -> str:
        day = f"{self.birth_day:02d}" if self.birth_day else "00"
        month = f"{self.birth_month:02d}" if self.birth_month else "00"
        return f"{day}/{month}/{self.birth_year}"

    @property
    def born_on_label(self) -> str:
        """Return "Née le" or "Né le" by sex, "Né(e) le" when the sex is not known: the one
        French form of every page, PDF and letter."""
        return born_on_label(self.sex)

    @property
    def is_qualified(self) -> bool:
        """Qualified by the RNIV: the status, and the INSi answer and document check under it."""
        return (
            self.identity_status == IdentityStatus.QUALIFIED
            and self.insi_checked_at is not None
            and self.document_checked_at is not None
        )


class ContactKind(StrEnum):
    """Who a patient contact is."""

    CAREGIVER = "caregiver"
    TRUSTED_PERSON = "trusted_person"
    LEGAL_REPRESENTATIVE = "legal_representative"
    OTHER = "other"


CONTACT_KIND_LABELS = {
    ContactKind.CAREGIVER: "Aidant",
    ContactKind.TRUSTED_PERSON: "Personne de confiance",
    ContactKind.LEGAL_REPRESENTATIVE: "Représentant légal",
    ContactKind.OTHER: "Autre contact",
}


class PatientContact(Base):
    """A caregiver, trusted person, legal representative or other contact of a patient."""

    __tablename__ = "patient_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    name: Mapped[str] = mapped_column(sa.String(200))
    relationship_label: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    email: Mapped[str] = mapped_column(sa.String(255), default="")

    patient: Mapped[Patient] = relationship(back_populates="contacts")


class DuplicateStatus(StrEnum):
    """State of a possible-duplicate flag."""

    OPEN = "open"
    MERGED = "merged"
    DISMISSED = "dismissed"


class DuplicateFlag(Base):
    """Two records with the same birth name, birth date and sex, for a coordinator to judge."""

    __tablename__ = "duplicate_flags"
    __table_args__ = (sa.UniqueConstraint("patient_id", "other_patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The newer record.
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    other_patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=DuplicateStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship(foreign_keys=[patient_id])
    other_patient: Mapped[Patient] = relationship(foreign_keys=[other_patient_id])


class PatientMerge(Base):
    """A merge of a duplicate record into a survivor, with what it moved, so it can be undone.

    `moved` lists the ids of the rows re-pointed to the survivor per table, the enrolments
    the merge ended, and whether the INS moved: unmerge puts back exactly those.
    """

    __tablename__ = "patient_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(sa.ForeignKey("duplicate_flags.id"), index=True)
    duplicate_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    survivor_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    #: {"enrolments": [ids], "ended_enrolments": [ids], "patient_contacts": [...],
    #: "consent_records": [...], "circle_invitations": [...], "break_glass_accesses": [...],
    #: "ins_moved": bool}
    moved: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    undone_at: Mapped[datetime | None]
    undone_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class RequesterKind(StrEnum):
    """Who asked for the patient's enrolment."""

    GP = "gp"
    PRIVATE_PROFESSIONAL = "private_professional"
    HOSPITAL = "hospital"
    MEDICO_SOCIAL = "medico_social"
    PATIENT = "patient"
    CAREGIVER = "caregiver"


REQUESTER_KIND_LABELS = {
    RequesterKind.GP: "Médecin traitant",
    RequesterKind.PRIVATE_PROFESSIONAL: "Autre professionnel libéral",
    RequesterKind.HOSPITAL: "Établissement de santé",
    RequesterKind.MEDICO_SOCIAL: "Service social ou médico-social",
    RequesterKind.PATIENT: "La personne elle-même",
    RequesterKind.CAREGIVER: "Un aidant",
}


class ProblemCategory(StrEnum):
    """Why the enrolment was requested (DAC activity categories)."""

    MEDICAL = "medical"
    PSYCHOLOGICAL = "psychological"
    SOCIAL = "social"
    ENVIRONMENTAL = "environmental"
    DEPENDENCY = "dependency"
    HOSPITAL_DISCHARGE = "hospital_discharge"


PROBLEM_CATEGORY_LABELS = {
    ProblemCategory.MEDICAL: "Médical (polypathologie, soins complexes)",
    ProblemCategory.PSYCHOLOGICAL: "Psychologique ou psychiatrique",
    ProblemCategory.SOCIAL: "Social (isolement, droits, ressources)",
    ProblemCategory.ENVIRONMENTAL: "Environnement (logement, aides techniques)",
    ProblemCategory.DEPENDENCY: "Perte d'autonomie",
    ProblemCategory.HOSPITAL_DISCHARGE: "Sortie d'hospitalisation",
}


class EndReason(StrEnum):
    """Why a patient left a care team."""

    GOALS_MET = "goals_met"
    MOVED = "moved"
    INSTITUTION = "institution"
    REFUSED = "refused"
    DECEASED = "deceased"
    TRANSFERRED = "transferred"
    OTHER = "other"


END_REASON_LABELS = {
    EndReason.GOALS_MET: "Situation stabilisée, objectifs atteints",
    EndReason.MOVED: "Déménagement hors du territoire",
    EndReason.INSTITUTION: "Entrée en établissement",
    EndReason.REFUSED: "Refus de la personne",
    EndReason.DECEASED: "Décès",
    EndReason.TRANSFERRED: "Relais pris par une autre équipe",
    EndReason.OTHER: "Autre motif",
}


class Enrolment(Base):
    """A patient's stay in a care team's file: from the request to the exit."""

    __tablename__ = "enrolments"
    __table_args__ = (
        sa.Index("ix_enrolments_team_active", "team_id", "ended_at"),
        # One open enrolment per patient and team, even when two requests race.
        sa.Index(
            "uq_enrolments_patient_team_open",
            "patient_id",
            "team_id",
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    requested_on: Mapped[date]
    requester_kind: Mapped[str] = mapped_column(sa.String(30))
    requester_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Space-separated ProblemCategory values.
    problem_categories: Mapped[str] = mapped_column(sa.String(200), default="")
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The coordinator who enrolled the patient: the only one to see the record until the
    #: patient agrees to sharing.
    enrolled_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: The referent coordinator of this patient in this team: the one whom notices about the
    #: patient reach (or their stand-in during a cover). Null when nobody was named yet.
    referent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str] = mapped_column(sa.String(30), default="")
    end_note: Mapped[str] = mapped_column(sa.Text, default="")

    patient: Mapped[Patient] = relationship()
    team: Mapped[CareTeam] = relationship()

    @property
    def categories(self) -> list[str]:
        return self.problem_categories.split()


class CoverPeriod(Base):
    """A coordinator's absence: a stand-in receives their notices from one day to another.

    `team_id` null covers every team the coordinator coordinates. Days are Paris days, both
    inclusive. Overlaps for one coordinator are refused by the service, which locks the
    coordinator's row first (two declarations cannot both pass the check).
    """

    __tablename__ = "cover_periods"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="period_order"),
        sa.CheckConstraint("stand_in_id <> coordinator_id", name="not_oneself"),
        sa.Index("ix_cover_periods_coordinator_days", "coordinator_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The absent coordinator.
    coordinator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    stand_in_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: The team covered; null: every team the coordinator coordinates.
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("care_teams.id"))
    starts_on: Mapped[date]
    #: Last day of the absence, inclusive.
    ends_on: Mapped[date]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    team: Mapped[CareTeam | None] = relationship()


class CircleInvitation(Base):
    """A professional invited into one patient's circle only, until an expiry date."""

    __tablename__ = "circle_invitations"
    __table_args__ = (sa.Index("ix_circle_invitations_user_expiry", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ConsentKind(StrEnum):
    """What a consent-ledger row is about."""

    #: Information given and agreement to sharing within the circle (Code de la santé
    #: publique L.1110-4).
    SHARING = "sharing"
    #: Opposition to feeding the DMP.
    DMP_OPPOSITION = "dmp_opposition"


CONSENT_KIND_LABELS = {
    ConsentKind.SHARING: "Information et accord au partage au sein du cercle de soins",
    ConsentKind.DMP_OPPOSITION: "Opposition à l'alimentation du DMP",
}


class ConsentMethod(StrEnum):
    """How the patient's choice was collected."""

    ORAL = "oral"
    SIGNED_FORM = "signed_form"
    REPRESENTATIVE = "representative"
    #: Changed by the person (or their representative) in their own space (ptap.patient_space).
    PATIENT_SPACE = "patient_space"


CONSENT_METHOD_LABELS = {
    ConsentMethod.ORAL: "Recueil oral, tracé par le professionnel",
    ConsentMethod.SIGNED_FORM: "Formulaire signé",
    ConsentMethod.REPRESENTATIVE: "Par le représentant légal",
    ConsentMethod.PATIENT_SPACE: "Par la personne, dans son espace en ligne",
}


class ConsentRecord(Base):
    """One entry of the append-only consent ledger: a choice given, or withdrawn."""

    __tablename__ = "consent_records"
    __table_args__ = (sa.Index("ix_consent_records_patient_kind", "patient_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    #: True: given (agreement, or opposition expressed); False: withdrawn.
    given: Mapped[bool]
    method: Mapped[str] = mapped_column(sa.String(30))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    #: Signed form: blob key (ptap.core.blobs), consents/<random>.pdf; empty when none.
    document_path: Mapped[str] = mapped_column(sa.String(200), default="")
    document_sha256: Mapped[str] = mapped_column(sa.String(64), default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Confidentiality(StrEnum):
    """Per-document confidentiality the patient may ask for (documents carry this column)."""

    NORMAL = "normal"
    HIDDEN_FROM_PATIENT = "hidden_from_patient"
    HIDDEN_FROM_OTHER_PROFESSIONALS = "hidden_from_other_professionals"


class BreakGlassAccess(Base):
    """An emergency access by a professional outside the circle: time-limited, reviewed."""

    __tablename__ = "break_glass_accesses"
    __table_args__ = (sa.Index("ix_break_glass_user_expiry", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    review_note: Mapped[str] = mapped_column(sa.Text, default="")

    patient: Mapped[Patient] = relationship()


class CircleStructureKind(StrEnum):
    """What kind of outside service takes part in a patient's circle."""

    CCAS = "ccas"
    SSIAD = "ssiad"
    SAAD = "saad"
    HAD = "had"
    PHARMACY = "pharmacy"
    LABORATORY = "laboratory"
    DAY_CARE = "day_care"
    OTHER = "other"


CIRCLE_STRUCTURE_KIND_LABELS = {
    CircleStructureKind.CCAS: "CCAS (centre communal d'action sociale)",
    CircleStructureKind.SSIAD: "SSIAD (soins infirmiers à domicile)",
    CircleStructureKind.SAAD: "SAAD (aide à domicile)",
    CircleStructureKind.HAD: "HAD (hospitalisation à domicile)",
    CircleStructureKind.PHARMACY: "Pharmacie",
    CircleStructureKind.LABORATORY: "Laboratoire de biologie",
    CircleStructureKind.DAY_CARE: "EHPAD ou accueil de jour",
    CircleStructureKind.OTHER: "Autre service",
}
#: The same, short, for a tag in a list.
CIRCLE_STRUCTURE_KIND_TAGS = {
    CircleStructureKind.CCAS: "CCAS",
    CircleStructureKind.SSIAD: "SSIAD",
    CircleStructureKind.SAAD: "Aide à domicile",
    CircleStructureKind.HAD: "HAD",
    CircleStructureKind.PHARMACY: "Pharmacie",
    CircleStructureKind.LABORATORY: "Laboratoire",
    CircleStructureKind.DAY_CARE: "EHPAD / accueil de jour",
    CircleStructureKind.OTHER: "Autre",
}


class CircleStructure(Base):
    """An outside service taking part in one patient's circle (SSIAD, CCAS, pharmacy...).

    Named by a FINESS number, a free name, or both; linked to a known `Structure` when the
    FINESS matches one. Ending sets `ended_on` and keeps the row: the circle's history."""

    __tablename__ = "circle_structures"
    __table_args__ = (
        # The same FINESS at most once among a circle's running services, even under a race.
        sa.Index(
            "uq_circle_structures_patient_finess_open",
            "patient_id",
            "finess",
            unique=True,
            sqlite_where=sa.text("ended_on IS NULL AND finess IS NOT NULL"),
            postgresql_where=sa.text("ended_on IS NULL AND finess IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    #: The known structure with this FINESS number, if the platform has one.
    structure_id: Mapped[int | None] = mapped_column(sa.ForeignKey("structures.id"))
    #: FINESS number (9 digits, Luhn key); None for a service named only by its name.
    finess: Mapped[str | None] = mapped_column(sa.String(9))
    #: Free name; may be empty when the FINESS number names the service.
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    contact_person: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    #: What the service does for this patient ("passages matin et soir").
    note: Mapped[str] = mapped_column(sa.Text, default="")
    started_on: Mapped[date]
    ended_on: Mapped[date | None]
    added_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    structure: Mapped[Structure | None] = relationship()


# The orphan sweep (`ptap storage sweep`) keeps the signed forms the ledger references.
register_blob_references(
    "consents",
    lambda: sa.select(ConsentRecord.document_path).where(ConsentRecord.document_path != ""),
)
