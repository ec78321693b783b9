"""Idempotent demo data: fictitious accounts for every role (care teams come with their issue)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from ptap.accounts.models import Profession, User
from ptap.accounts.queries import find_user_by_email
from ptap.accounts.services import NewUser, create_user
from ptap.audit.services import AuditContext
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.core.policy import PlatformRole
from ptap.extensions import db

DEMO_PASSWORD = "demo-ptap-2026"  # noqa: S105 - public demo credential, development only
DEMO_DOMAIN = "demo.ptap.test"


@dataclass(frozen=True)
class DemoAccount:
    """What `ptap demo` prints for one account."""

    email: str
    role: str
    password: str
    totp_secret: str


def demo_rpps(n: int) -> str:
    """Return a valid-format fictitious RPPS number (10 + 8 digits + Luhn key)."""
    partial = f"10{n:08d}"
    return partial + luhn_check_digit(partial)


def demo_totp_secret(email: str) -> str:
    """Return a stable TOTP secret for a demo account, so printed secrets stay valid."""
    digest = hashlib.sha256(f"ptap-demo:{email}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


DEMO_PEOPLE = [
    ("admin", "Adèle", "Admin-Démo", Profession.ADMINISTRATIVE, PlatformRole.ADMIN, None),
    ("coordination", "Claire", "Coordo-Fictive", Profession.NURSE, PlatformRole.COORDINATOR, 1),
    ("medecin", "Marc", "Généraliste-Exemple", Profession.PHYSICIAN, PlatformRole.PROFESSIONAL, 2),
    ("infirmiere", "Inès", "Soins-Démo", Profession.NURSE, PlatformRole.PROFESSIONAL, 3),
    ("pharmacien", "Paul", "Officine-Fictif", Profession.PHARMACIST, PlatformRole.PROFESSIONAL, 4),
    ("kine", "Karim", "Kiné-Exemple", Profession.PHYSIOTHERAPIST, PlatformRole.PROFESSIONAL, 5),
    ("social", "Sophie", "Social-Démo", Profession.SOCIAL_WORKER, PlatformRole.PROFESSIONAL, None),
    ("ars", "Arnaud", "Analyste-Fictif", Profession.PUBLIC_HEALTH, PlatformRole.ARS_ANALYST, None),
]


def load_demo() -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet, commit, and list them all."""
    ctx = AuditContext(actor_label="demo")
    accounts = []
    for local, first, last, profession, role, rpps_n in DEMO_PEOPLE:
        email = f"{local}@{DEMO_DOMAIN}"
        secret = demo_totp_secret(email)
        user: User | None = find_user_by_email(email)
        if user is None:
            user = create_user(
                NewUser(
                    email=email,
                    first_name=first,
                    last_name=last,
                    profession=profession,
                    role=role,
                    password=DEMO_PASSWORD,
                    rpps=demo_rpps(rpps_n) if rpps_n else None,
                ),
                ctx,
            )
            user.totp_secret = secret
            user.totp_confirmed_at = utcnow()
        accounts.append(DemoAccount(email, role, DEMO_PASSWORD, secret))
    db.session.commit()
    return accounts
