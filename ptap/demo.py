"""Idempotent demo data: fictitious accounts for every role, then a fictitious territory.

The eight main accounts (one per role and profession) get a deterministic TOTP secret that
`ptap demo` prints; the professionals of the demo teams (ptap.care_teams.demo.ROSTER) share the
demo password and set up their second factor at their first login. The territory, teams and
patients come from ptap.care_teams.demo.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from ptap.accounts.models import Profession, User
from ptap.accounts.passwords import hash_password
from ptap.accounts.queries import find_user_by_email
from ptap.accounts.services import NewUser, create_user, validate_new_user
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.demo import ROSTER, DemoSummary, load_care_teams_demo
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


#: RPPS numbers of the team professionals start here (the main accounts use 1 to 5).
ROSTER_RPPS_START = 101


def extra_professionals_count() -> int:
    """Return how many team professionals `ptap demo` creates besides the main accounts."""
    return len(ROSTER)


def load_demo() -> list[DemoAccount]:
    """Create the demo data that does not exist yet, commit, and list the main accounts."""
    accounts, users = _main_accounts()
    users.update(_roster_accounts())
    db.session.commit()
    load_territory(users)
    return accounts


def load_territory(users: dict[str, User]) -> DemoSummary | None:
    """Create the demo territory, teams and patients unless already there (commits)."""
    return load_care_teams_demo(users)


def _main_accounts() -> tuple[list[DemoAccount], dict[str, User]]:
    ctx = AuditContext(actor_label="demo")
    accounts = []
    users: dict[str, User] = {}
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
        users[local] = user
    return accounts, users


def _roster_accounts() -> dict[str, User]:
    """Create the team professionals' accounts (one argon2 hash shared: it is slow on purpose)."""
    ctx = AuditContext(actor_label="demo")
    users: dict[str, User] = {}
    password_hash: str | None = None
    for n, person in enumerate(ROSTER, start=ROSTER_RPPS_START):
        email = f"{person.key}@{DEMO_DOMAIN}"
        user = find_user_by_email(email)
        if user is None:
            data = NewUser(
                email=email,
                first_name=person.first_name,
                last_name=person.last_name,
                profession=person.profession,
                role=person.role,
                password=DEMO_PASSWORD,
                rpps=demo_rpps(n),
            )
            validate_new_user(data)
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            user = User(
                email=email,
                first_name=data.first_name,
                last_name=data.last_name,
                profession=data.profession,
                role=data.role,
                rpps=data.rpps,
                password_hash=password_hash,
                password_changed_at=utcnow(),
            )
            db.session.add(user)
            db.session.flush()
            record_event(ctx, "account.create", object_type="user", object_id=user.id)
        users[person.key] = user
    return users
