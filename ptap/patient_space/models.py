"""Patient-side accounts (the person, a caregiver, a legal representative), their invitations,
their one-time sign-in codes and their answers to a plan version.

They are NOT rows of `users`: see "Patient-side accounts" in docs/architecture.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow

#: The role string a patient-side account carries for the policy (never a PlatformRole).
PATIENT_SIDE_ROLE = "patient_side"


class Relationship(StrEnum):
    """Who the account holder is to the person cared for."""

    SELF = "self"
    CAREGIVER = "caregiver"
    LEGAL_REPRESENTATIVE = "legal_representative"


RELATIONSHIP_LABELS = {
    Relationship.SELF: "La personne elle-même",
    Relationship.CAREGIVER: "Aidant·e",
    Relationship.LEGAL_REPRESENTATIVE: "Représentant·e légal·e",
}


class Right(StrEnum):
    """What the person lets a caregiver do (the person and a representative have them all)."""

    SEE_PLAN = "see_plan"
    MESSAGE = "message"
    DOWNLOAD = "download"


RIGHT_LABELS = {
    Right.SEE_PLAN: "Voir le plan de coordination",
    Right.MESSAGE: "Écrire à l'équipe",
    Right.DOWNLOAD: "Télécharger les documents",
}


class _Grant:
    """Columns shared by an invitation and the account it becomes."""

    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    relationship: Mapped[str] = mapped_column(sa.String(30))
    #: Space-separated Right values (all of them for the person and a representative).
    rights: Mapped[str] = mapped_column(sa.String(120), default="")
    #: For a legal representative of an adult: the recorded legal basis (tutelle, habilitation...).
    legal_basis: Mapped[str] = mapped_column(sa.String(300), default="")

    @property
    def right_set(self) -> frozenset[str]:
        return frozenset(self.rights.split())

    @property
    def relationship_label(self) -> str:
        return RELATIONSHIP_LABELS.get(Relationship(self.relationship), self.relationship)


class PatientInvitation(_Grant, Base):
    """A single-use, expiring link a coordinator sent to open a patient-side account."""

    __tablename__ = "patient_space_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased.
    email: Mapped[str] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    #: SHA-256 of the link's secret; the secret itself is only in the e-mail.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class PatientAccount(_Grant, Base):
    """A patient-side account: reaches only its own person's data, only in the patient space."""

    __tablename__ = "patient_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased; one account per address (see docs/architecture.md).
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patient_space_invitations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when a coordinator ends the access (or the person withdraws a caregiver).
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Unused since wrong codes count per code (SignInCode.attempts) and per (e-mail, address)
    #: throttle, never on the account (a stranger could lock the person out); kept in the schema.
    failed_codes: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    #: Bumped at sign-out and when access ends: cookies carry it and die on mismatch.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]
    #: Optional second factor: a TOTP application's Base32 secret (null: e-mailed code only).
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    #: Last accepted TOTP time step: a code for this step or an earlier one is a replay.
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    # --- what Flask-Login and the policy read ---------------------------------------------
    is_patient_side = True
    role = PATIENT_SIDE_ROLE
    must_change_password = False
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    @property
    def full_name(self) -> str:
        return self.display_name

    @property
    def role_label(self) -> str:
        return self.relationship_label

    @property
    def audit_label(self) -> str:
        """How audit events name this actor (never a users.id)."""
        return f"espace patient #{self.id} ({self.relationship}) {self.email}"

    def get_id(self) -> str:
        return f"p:{self.id}:{self.session_version}"


class SignInCode(Base):
    """A one-time sign-in code sent by e-mail: hashed, bound to the account, single use."""

    __tablename__ = "patient_sign_in_codes"
    __table_args__ = (
        sa.Index("ix_patient_sign_in_codes_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patient_accounts.id", ondelete="CASCADE")
    )
    #: HMAC-SHA-256 of the account id and the code, keyed by SECRET_KEY.
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: Set once, by a conditional UPDATE (used_at IS NULL): the database makes it single use.
    used_at: Mapped[datetime | None]
    #: Attempts on this code, reserved before each comparison; it dies after auth.MAX_ATTEMPTS.
    attempts: Mapped[int] = mapped_column(default=0)


class ResponseKind(StrEnum):
    """The person's answer to a plan version awaiting their agreement."""

    AGREE = "agree"
    CHANGE = "change"


class PlanResponse(Base):
    """The person's (or representative's) answer to one plan version, from their space."""

    __tablename__ = "patient_plan_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("patient_accounts.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plan_versions.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
