"""Users (health professionals and staff), recovery codes and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core.models import Base, TimestampMixin
from ptap.core.policy import ROLE_LABELS, PlatformRole


class Profession(StrEnum):
    """Profession of a user, after the RPPS professions (plus non-clinical staff)."""

    PHYSICIAN = "physician"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PHYSIOTHERAPIST = "physiotherapist"
    SOCIAL_WORKER = "social_worker"
    DIETITIAN = "dietitian"
    PSYCHOLOGIST = "psychologist"
    OCCUPATIONAL_THERAPIST = "occupational_therapist"
    CARE_COORDINATOR = "care_coordinator"
    ADMINISTRATIVE = "administrative"
    PUBLIC_HEALTH = "public_health"


PROFESSION_LABELS = {
    Profession.PHYSICIAN: "Médecin",
    Profession.NURSE: "Infirmier·ère",
    Profession.PHARMACIST: "Pharmacien·ne",
    Profession.PHYSIOTHERAPIST: "Masseur-kinésithérapeute",
    Profession.SOCIAL_WORKER: "Assistant·e de service social",
    Profession.DIETITIAN: "Diététicien·ne",
    Profession.PSYCHOLOGIST: "Psychologue",
    Profession.OCCUPATIONAL_THERAPIST: "Ergothérapeute",
    Profession.CARE_COORDINATOR: "Coordinateur·rice de parcours",
    Profession.ADMINISTRATIVE: "Personnel administratif",
    Profession.PUBLIC_HEALTH: "Santé publique",
}


class User(UserMixin, TimestampMixin, Base):
    """A person who logs into PTAP."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased; the login identifier.
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(120))
    last_name: Mapped[str] = mapped_column(sa.String(120))
    profession: Mapped[str] = mapped_column(sa.String(40))
    #: 11-digit RPPS number (Luhn-checked); maps Pro Santé Connect identities to accounts.
    rpps: Mapped[str | None] = mapped_column(sa.String(11), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20), default=PlatformRole.PROFESSIONAL)
    #: argon2id hash (argon2-cffi encoded form, parameters included).
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    password_changed_at: Mapped[datetime | None]
    #: Set by an admin reset: the user must choose a new password at next login.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    #: Base32 TOTP secret; null until the user has confirmed enrolment.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_confirmed_at: Mapped[datetime | None]
    #: Last accepted TOTP time step: a code for this step or an earlier one is a replay.
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Consecutive failed password or second-factor attempts since the last success.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    #: Bumped by "log out everywhere" and admin resets: sessions carry it and die on mismatch.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[PlatformRole(self.role)]

    @property
    def profession_label(self) -> str:
        return PROFESSION_LABELS[Profession(self.profession)]

    def get_id(self) -> str:
        # The session stores the version too, so bumping it logs out every session.
        return f"{self.id}:{self.session_version}"


class RecoveryCode(Base):
    """A one-time second-factor recovery code, stored as a SHA-256 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class TokenScope(StrEnum):
    """What a personal API token may be used for."""

    READ = "api:read"
    WRITE = "api:write"
    SOCKET = "socket"


TOKEN_SCOPE_LABELS = {
    TokenScope.READ: "Lecture API",
    TokenScope.WRITE: "Écriture API",
    TokenScope.SOCKET: "Temps réel (Socket.IO)",
}


class ApiToken(TimestampMixin, Base):
    """A personal API token: shown once, stored as a SHA-256 hash, scoped, expiring, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    #: First characters of the token, kept to help the owner recognise it.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Space-separated TokenScope values.
    scopes: Mapped[str] = mapped_column(sa.String(120))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class UserSession(Base):
    """A login session kept on the server: the signed cookie carries only its random id.

    Ending the row (logout, timeout, log out everywhere) ends the session for pages, the API
    and sockets alike, even for a copy of the old cookie.
    """

    __tablename__ = "user_sessions"

    #: Random opaque id (secrets.token_urlsafe), also the cookie's `sid`.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    #: Updated at most once a minute (idle timeout).
    last_seen_at: Mapped[datetime]
    #: Last password + TOTP re-authentication (needed to mint API tokens).
    reauthenticated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    #: Why it ended: logout, idle, max_age, logout_everywhere, password_change, admin...
    end_reason: Mapped[str] = mapped_column(sa.String(40), default="")
    #: Truncated User-Agent and client address, shown to the user and in investigations.
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")
    ip_address: Mapped[str] = mapped_column(sa.String(64), default="")
    #: How the session was opened: "password" (password + TOTP) or "psc" (Pro Santé Connect,
    #: e-CPS); only a PSC session may consult the DMP.
    auth_method: Mapped[str] = mapped_column(sa.String(20), default="password", server_default="")


class LoginThrottle(Base):
    """Failure counter and lock of one login key: an address, an e-mail, or both.

    Keys: `ip:<address>`, `acct:<sha256 of the e-mail>`, `pair:<sha256>:<address>`. E-mails
    are counted whether an account exists or not, so a lock says nothing about existence.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    #: A `pair` key that has seen a full login: its address is known for that account and
    #: passes the account-wide lock (a stranger cannot keep the user out).
    trusted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ActivationLink(Base):
    """A one-time link to set one's password (new account, or after an admin reset).

    Stored as a SHA-256 hash; single use (`used_at`), expiring. The admin never sees a password.
    """

    __tablename__ = "activation_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
