"""Test factories: add, flush, return (Indico's create_user, CTFd's gen_*)."""

from __future__ import annotations

import itertools
import time

import pyotp

from ptap.accounts.models import User
from ptap.accounts.passwords import hash_password
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.extensions import db

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)
# argon2 is deliberately slow: hash the shared test password once.
_PASSWORD_HASH = hash_password(PASSWORD)


def valid_rpps(n: int) -> str:
    partial = f"10{n:08d}"
    return partial + luhn_check_digit(partial)


def make_user(
    *,
    role: str = "professional",
    profession: str = "physician",
    email: str | None = None,
    totp: bool = True,
    rpps: str | None = None,
    **overrides: object,
) -> User:
    n = next(_seq)
    user = User(
        email=email or f"user{n}@example.test",
        first_name=f"Prénom{n}",
        last_name=f"Nom{n}",
        profession=profession,
        role=role,
        rpps=rpps,
        password_hash=_PASSWORD_HASH,
        password_changed_at=utcnow(),
        totp_secret=pyotp.random_base32(32) if totp else None,
        totp_confirmed_at=utcnow() if totp else None,
    )
    for key, value in overrides.items():
        setattr(user, key, value)
    db.session.add(user)
    db.session.flush()
    return user


def totp_code(user: User) -> str:
    """Return a TOTP code the server will accept now (a step after the last one used)."""
    assert user.totp_secret
    current = int(time.time() // 30)
    step = max(current, user.totp_last_step + 1)
    if step > current + 1:  # both acceptable steps used: wait for the next one
        time.sleep(30 - time.time() % 30 + 0.1)
        step = int(time.time() // 30)
    return pyotp.TOTP(user.totp_secret).at(step * 30)


# --- care teams ------------------------------------------------------------------------------

from datetime import UTC, date, datetime  # noqa: E402

from ptap.care_teams.identity import refresh_search_names  # noqa: E402
from ptap.care_teams.models import (  # noqa: E402
    CareTeam,
    ConsentRecord,
    Enrolment,
    Patient,
    Structure,
    TeamMembership,
    Territory,
)
from ptap.core.ins import InsOid, with_key  # noqa: E402

_nir_seq = itertools.count(1)


def valid_nir(sex: str = "F", year: int = 1940, month: int = 5) -> str:
    """Return a valid NIR for the traits (department 69, Lyon 1er, running order).

    The running order has three digits: it wraps after 999 (a test makes far fewer patients,
    and the tables are emptied between tests), so the NIR keeps its 13 digits in a long run.
    """
    n = (next(_nir_seq) - 1) % 999 + 1
    return with_key(f"{'2' if sex == 'F' else '1'}{year % 100:02d}{month:02d}69381{n:03d}")


def make_team(name: str | None = None) -> CareTeam:
    territory = Territory(name="Rhône", region_code="84", department_code="69")
    structure = Structure(name="DAC du Rhône", kind="dac", territory=territory)
    team = CareTeam(name=name or f"Équipe {next(_seq)}", territory=territory, structure=structure)
    db.session.add(team)
    db.session.flush()
    return team


def add_member(
    team: CareTeam,
    user: User,
    role: str = "member",
    *,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> TeamMembership:
    membership = TeamMembership(
        team_id=team.id,
        user_id=user.id,
        role=role,
        starts_on=starts_on or date(2020, 1, 1),
        ends_on=ends_on,
    )
    db.session.add(membership)
    db.session.flush()
    return membership


CHECK_METHOD_OF = {
    "qualified": "insi_and_document",
    "validated": "identity_card",
    "recovered": "insi",
}


def identity_facts(status: str) -> dict[str, object]:
    """The RNIV facts a status stands on (INSi answer 00, document check), set directly."""
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    facts: dict[str, object] = {}
    if status in ("recovered", "qualified"):
        facts |= {"insi_checked_at": at, "insi_operation": "retrieve"}
    if status in ("validated", "qualified"):
        facts |= {"document_checked_at": at, "document_type": "identity_card"}
    return facts


def make_patient(
    team: CareTeam,
    enrolled_by: User,
    *,
    consent: bool = True,
    status: str = "qualified",
    **overrides: object,
) -> Patient:
    n = next(_seq)
    sex = str(overrides.pop("sex", "F"))
    patient = Patient(
        birth_name=f"NOMTEST{n}",
        first_names="Jeanne Marie",
        birth_year=1940,
        birth_month=5,
        birth_day=12,
        sex=sex,
        birthplace_code="69381",
        identity_status=status,
        identity_check_method=CHECK_METHOD_OF.get(status, ""),
        **identity_facts(status),
        ins_matricule=valid_nir(sex),
        ins_oid=InsOid.TEST_NIR,
        search_birth_name=f"NOMTEST{n}",
        sharing_consent=consent,
    )
    for key, value in overrides.items():
        setattr(patient, key, value)
    if "search_names" not in overrides:
        refresh_search_names(patient)
    db.session.add(patient)
    db.session.flush()
    db.session.add(
        Enrolment(
            patient_id=patient.id,
            team_id=team.id,
            requested_on=date(2026, 1, 5),
            requester_kind="gp",
            problem_categories="medical",
            enrolled_by_id=enrolled_by.id,
            referent_id=enrolled_by.id,
        )
    )
    if consent:
        db.session.add(
            ConsentRecord(
                patient_id=patient.id,
                kind="sharing",
                given=True,
                method="oral",
                recorded_by_id=enrolled_by.id,
            )
        )
    db.session.flush()
    return patient
