"""Idempotent demo data: fictitious accounts for every role, then a fictitious territory.

The eight main accounts (one per role and profession) get a TOTP secret that `ptap demo`
prints; the professionals of the demo teams (ptap.care_teams.demo.ROSTER) share the demo
password and set up their second factor at their first login. The territory, teams and
patients come from ptap.care_teams.demo.

Secrets are random per installation and shown only by the run that creates the accounts. A
seed (DEMO_SEED, refused in production) derives them instead, so that browser tests and the
screenshot scripts can log in. Demo data is never loaded in production.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from ptap.accounts.models import Profession, User
from ptap.accounts.passwords import hash_password
from ptap.accounts.queries import find_user_by_email
from ptap.accounts.services import NewUser, validate_new_user
from ptap.audit.services import AuditContext, record_event
from ptap.care_events.demo import load_care_events_demo
from ptap.care_plans.demo import load_care_plans_demo
from ptap.care_teams.demo import ROSTER, TERRITORY_NAME, DemoSummary, load_care_teams_demo
from ptap.care_teams.demo import SEED as CARE_TEAMS_SEED
from ptap.care_teams.demo_structures import load_circle_structures_demo
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.core.policy import PlatformRole
from ptap.extensions import db
from ptap.intake.demo import demo_team_ids, load_intake_demo
from ptap.letters.demo import load_letters_demo
from ptap.messaging.demo import load_messaging_demo

DEMO_DOMAIN = "demo.ptap.test"


class DemoRefused(RuntimeError):
    """Raised when demo data would be loaded into a production installation."""


@dataclass(frozen=True)
class DemoAccount:
    """What `ptap demo` prints for one account it created."""

    email: str
    role: str
    password: str
    totp_secret: str


@dataclass(frozen=True)
class DemoResult:
    """What one `ptap demo` run created: the main accounts and the team professionals."""

    accounts: list[DemoAccount] = field(default_factory=list)
    professionals_created: int = 0
    password: str = ""


def demo_password(seed: str = "") -> str:
    """Return the demo password: derived from the seed, or random when there is none."""
    if not seed:
        return "demo-" + secrets.token_urlsafe(12)
    digest = hashlib.sha256(f"ptap-demo-password:{seed}".encode()).digest()
    return "demo-" + base64.urlsafe_b64encode(digest[:12]).decode()


def demo_rpps(n: int) -> str:
    """Return a valid-format fictitious RPPS number (10 + 8 digits + Luhn key)."""
    partial = f"10{n:08d}"
    return partial + luhn_check_digit(partial)


def demo_totp_secret(email: str, seed: str = "") -> str:
    """Return a demo account's TOTP secret: derived from the seed, or random when there is none."""
    if not seed:
        return base64.b32encode(secrets.token_bytes(20)).decode()
    digest = hashlib.sha256(f"ptap-demo:{seed}:{email}".encode()).digest()[:20]
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


#: What `ptap demo` prints as the "password" of a patient-side account: it has none.
PATIENT_SIDE_SIGN_IN = "(code à 6 chiffres par e-mail, sur /espace/connexion)"

#: RPPS numbers of the team professionals start here (the main accounts use 1 to 5).
ROSTER_RPPS_START = 101


def load_demo() -> DemoResult:
    """Create the demo data that does not exist yet, commit, and say which accounts were new.

    Refused in production whatever the database: demo accounts (an administrator among them)
    would be a backdoor there.
    """
    if current_app.config["ENV"] == "production":
        raise DemoRefused("demo data is never loaded in production")
    seed = str(current_app.config.get("DEMO_SEED") or "")
    password = demo_password(seed)
    password_hash = functools.cache(lambda: hash_password(password))  # argon2 is slow: once
    accounts, users = _main_accounts(password, seed, password_hash)
    roster, created = _roster_accounts(password, password_hash)
    users.update(roster)
    db.session.commit()
    load_territory(users)
    from ptap.dashboards.demo import load_dashboard_demo

    load_dashboard_demo(users)  # a few facts of every kind for the coordinator's dashboard
    from ptap.meetings.demo import load_meetings_demo

    load_meetings_demo(users)  # past meetings whose decisions made plan versions, one upcoming
    from ptap.meetings.report_demo import load_reports_demo

    load_reports_demo()  # approved reports of the past meetings, queued for the DMP
    # Letters are filled from the plans and the meetings' decisions loaded above.
    load_letters_demo(demo_team_ids(TERRITORY_NAME))
    from ptap.grids.demo import load_grids_demo

    load_grids_demo(demo_team_ids(TERRITORY_NAME))  # two grids, scores evolving over months
    from ptap.filings.demo import load_filed_dmp_demo

    # A lab report the GP filed from a patient's DMP into the coordination file.
    load_filed_dmp_demo(users.get("medecin"), demo_team_ids(TERRITORY_NAME))
    from ptap.pathways.demo import load_pathways_demo

    # Three shared templates, followed; the frail-elderly one names the frailty grid above.
    load_pathways_demo(demo_team_ids(TERRITORY_NAME))
    db.session.commit()
    from ptap.patient_space.demo import load_patient_space_demo

    # A person and her daughter with accounts; a plan version awaits the person's agreement.
    accounts += [
        DemoAccount(a.email, a.role, PATIENT_SIDE_SIGN_IN, "")
        for a in load_patient_space_demo(users, DEMO_DOMAIN)
    ]
    from ptap.monitoring.tasks import refresh_monitoring_aggregates

    refresh_monitoring_aggregates()  # the analysts' charts are filled from the first login
    return DemoResult(accounts, created, password if accounts or created else "")


def load_territory(users: dict[str, User]) -> DemoSummary | None:
    """Create the demo territory, teams and patients, then two years of activity on them
    (requests with their clocks, pathway events), each part unless already there (commits)."""
    summary = load_care_teams_demo(users)
    load_circle_structures_demo(demo_team_ids(TERRITORY_NAME))  # SSIAD, CCAS... in some circles
    load_activity()
    return summary


def activity_rng(part: str) -> random.Random:
    """Return the generator of one part of the demo activity: seeded by DEMO_SEED (or a fixed
    default), so that the same seed gives the same activity."""
    seed = str(current_app.config.get("DEMO_SEED") or CARE_TEAMS_SEED)
    return random.Random(f"{part}:{seed}")  # noqa: S311 - reproducible fiction, not a secret


def load_activity() -> None:
    """Add the demo teams' two years of activity, each part unless already there (commits):
    requests with their clocks, pathway events, care plans in every state with their DMP
    filings, messages."""
    team_ids = demo_team_ids(TERRITORY_NAME)
    if not team_ids:
        return
    load_intake_demo(activity_rng("intake"), team_ids)
    load_care_events_demo(activity_rng("care_events"), team_ids)
    load_care_plans_demo(activity_rng("care_plans"), team_ids)
    load_messaging_demo(activity_rng("messaging"), team_ids)
    db.session.commit()


def _main_accounts(
    password: str, seed: str, password_hash: Callable[[], str]
) -> tuple[list[DemoAccount], dict[str, User]]:
    """Create the missing main accounts; list only those (their secrets exist nowhere else)."""
    ctx = AuditContext(actor_label="demo")
    accounts = []
    users: dict[str, User] = {}
    for local, first, last, profession, role, rpps_n in DEMO_PEOPLE:
        email = f"{local}@{DEMO_DOMAIN}"
        user: User | None = find_user_by_email(email)
        if user is None:
            secret = demo_totp_secret(email, seed)
            data = NewUser(
                email=email,
                first_name=first,
                last_name=last,
                profession=profession,
                role=role,
                password=password,
                rpps=demo_rpps(rpps_n) if rpps_n else None,
            )
            user = _new_account(data, password_hash(), ctx)
            user.totp_secret = secret
            user.totp_confirmed_at = utcnow()
            accounts.append(DemoAccount(email, role, password, secret))
        users[local] = user
    return accounts, users


def _roster_accounts(
    password: str, password_hash: Callable[[], str]
) -> tuple[dict[str, User], int]:
    """Create the team professionals' accounts (sharing the main accounts' password hash)."""
    ctx = AuditContext(actor_label="demo")
    users: dict[str, User] = {}
    created = 0
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
                password=password,
                rpps=demo_rpps(n),
            )
            user = _new_account(data, password_hash(), ctx)
            created += 1
        users[person.key] = user
    return users, created


def _new_account(data: NewUser, password_hash: str, ctx: AuditContext) -> User:
    """Create a checked account with a shared password hash (argon2 is slow on purpose: the
    demo hashes its one password once), audited like ptap.accounts.services.create_user."""
    validate_new_user(data)
    user = User(
        email=data.email,
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
    return user
