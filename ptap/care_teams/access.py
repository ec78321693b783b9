"""Need-to-know: who is in a patient's circle, and why, as SQL the lists can reuse.

A professional sees a patient when one of these holds (checked at the time of the request):
- member: an active member of a team where the patient has an active enrolment, and the patient
  agreed to sharing;
- invited: invited into this patient's circle, invitation neither expired nor revoked, the
  patient still followed by a team (active enrolment), and the patient agreed to sharing;
- enrolling coordinator: enrolled the patient (active enrolment) and still coordinates that
  team; sees the record even before the patient's agreement, to collect it;
- break-the-glass: an emergency access still running.
A narrower basis, asked for explicitly (`collecting=True`, `with_consent_to_collect=True`),
is not need-to-know on the record: consent to collect. While the patient's choice about
sharing has never been recorded (no consent-ledger row), every current coordinator of a team
following the patient may find them in the list ("Consentement à recueillir"), open the
consents page (patient header included) and record the choice; nothing else (not in the
circle, not the patient's coordinator, no plan, DMP, identity or conversation). Once the choice
is recorded the ordinary bases apply: a refusal ends it.
Admins, ARS analysts and deactivated accounts never see patients: the policy rules stop them,
and this module refuses them too (a non-clinician wrongly added to a team gets nothing). A
record merged into another one is seen by nobody.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_teams.models import (
    BreakGlassAccess,
    CircleInvitation,
    ConsentKind,
    ConsentRecord,
    Enrolment,
    Patient,
    TeamMembership,
    TeamRole,
)
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES
from ptap.extensions import db


class AccessBasis(StrEnum):
    """Why a user may see a patient."""

    MEMBER = "member"
    INVITED = "invited"
    ENROLLING_COORDINATOR = "enrolling_coordinator"
    BREAK_GLASS = "break_glass"
    CONSENT_TO_COLLECT = "consent_to_collect"  # consents page only, never the record


def active_team_ids(user_id: int, *, role: str | None = None) -> sa.Select[Any]:
    """Select the ids of the teams the user belongs to today (optionally with a team role)."""
    today = clock.paris_today()
    stmt = sa.select(TeamMembership.team_id).where(
        TeamMembership.user_id == user_id,
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )
    if role is not None:
        stmt = stmt.where(TeamMembership.role == role)
    return stmt


def current_member_ids(team_ids: sa.Select[Any]) -> sa.Select[Any]:
    """Select the ids of the users who belong today to one of `team_ids` (former members of
    those teams, whose membership ended, are left out)."""
    today = clock.paris_today()
    return sa.select(TeamMembership.user_id).where(
        TeamMembership.team_id.in_(team_ids),
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )


def belongs_to_a_team(user_id: int) -> bool:
    """Tell whether the user belongs to at least one team today."""
    return db.session.scalar(active_team_ids(user_id).limit(1)) is not None


def _clinician(user_id: int) -> sa.Select[Any]:
    """Select the user's id if they are an active clinician (coordinator or professional)."""
    return sa.select(User.id).where(
        User.id == user_id, User.role.in_(CLINICAL_ROLES), User.active.is_(True)
    )


def visible_patient_ids(
    user_id: int, *, circle_only: bool = False, with_consent_to_collect: bool = False
) -> sa.CompoundSelect[Any]:
    """Select the ids of every patient the user may see now (union of the four bases; with
    `circle_only`, without break-the-glass: the patients whose circle the user is part of;
    with `with_consent_to_collect`, for the patient list only, the consents to collect too).

    Each branch starts from the user's own rows (teams, invitations, enrolments, accesses)
    through their indexes and joins the patient by primary key: never `IN (SELECT ... FROM
    patients)` over the whole table, which SQLite materialises on every call (docs/performance.md).
    """
    now = utcnow()
    clinician = _clinician(user_id)
    live = Patient.merged_into_id.is_(None)
    consented = sa.and_(live, Patient.sharing_consent.is_(True))
    followed = sa.exists().where(
        Enrolment.patient_id == CircleInvitation.patient_id, Enrolment.ended_at.is_(None)
    )
    via_team = (
        sa.select(Enrolment.patient_id)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.ended_at.is_(None),
            Enrolment.team_id.in_(
                active_team_ids(user_id).where(TeamMembership.user_id.in_(clinician))
            ),
            consented,
        )
    )
    via_invitation = (
        sa.select(CircleInvitation.patient_id)
        .join(Patient, Patient.id == CircleInvitation.patient_id)
        .where(
            CircleInvitation.user_id.in_(clinician),
            CircleInvitation.expires_at > now,
            CircleInvitation.revoked_at.is_(None),
            consented,
            followed,
        )
    )
    via_enrolling = (
        sa.select(Enrolment.patient_id)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.enrolled_by_id.in_(clinician),
            Enrolment.ended_at.is_(None),
            Enrolment.team_id.in_(active_team_ids(user_id, role=TeamRole.COORDINATOR)),
            live,
        )
    )
    via_collecting = (
        sa.select(Enrolment.patient_id)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.ended_at.is_(None),
            Enrolment.team_id.in_(
                active_team_ids(user_id, role=TeamRole.COORDINATOR).where(
                    TeamMembership.user_id.in_(clinician)
                )
            ),
            live,
            Patient.sharing_consent.is_(False),
            ~sharing_ever_recorded(Patient.id),
        )
    )
    via_break_glass = (
        sa.select(BreakGlassAccess.patient_id)
        .join(Patient, Patient.id == BreakGlassAccess.patient_id)
        .where(BreakGlassAccess.user_id.in_(clinician), BreakGlassAccess.expires_at > now, live)
    )
    if circle_only:
        return sa.union(via_team, via_invitation, via_enrolling)
    if with_consent_to_collect:
        return sa.union(via_team, via_invitation, via_enrolling, via_collecting, via_break_glass)
    return sa.union(via_team, via_invitation, via_enrolling, via_break_glass)


def sharing_ever_recorded(patient_id: Any) -> sa.Exists:
    """SQL: the patient's choice about sharing was recorded at least once (given or not)."""
    return sa.exists().where(
        ConsentRecord.patient_id == patient_id, ConsentRecord.kind == ConsentKind.SHARING
    )


def consent_to_collect(patient: Patient) -> bool:
    """Tell whether the patient's choice about sharing has never been recorded."""
    if patient.sharing_consent:
        return False
    return not db.session.scalar(sa.select(sharing_ever_recorded(patient.id)))


def _is_clinician(user_id: int) -> bool:
    user = db.session.get(User, user_id)
    return user is not None and user.active and user.role in CLINICAL_ROLES


def collects_consent(user_id: int, patient: Patient) -> bool:
    """Tell whether the user coordinates a team following a patient whose choice about
    sharing has never been recorded (the consent-to-collect basis, not need-to-know)."""
    if patient.merged_into_id is not None or not consent_to_collect(patient):
        return False
    if not _is_clinician(user_id):
        return False
    teams = active_team_ids(user_id, role=TeamRole.COORDINATOR)
    return bool(
        db.session.scalar(
            sa.select(Enrolment.id)
            .where(
                Enrolment.patient_id == patient.id,
                Enrolment.ended_at.is_(None),
                Enrolment.team_id.in_(teams),
            )
            .limit(1)
        )
    )


def _enrolled_by_coordinator(user_id: int, patient_id: int) -> bool:
    """Tell whether the user enrolled the patient in a team they still coordinate (active)."""
    return bool(
        db.session.scalar(
            sa.select(Enrolment.id)
            .where(
                Enrolment.patient_id == patient_id,
                Enrolment.ended_at.is_(None),
                Enrolment.enrolled_by_id == user_id,
                Enrolment.team_id.in_(active_team_ids(user_id, role=TeamRole.COORDINATOR)),
            )
            .limit(1)
        )
    )


def access_basis(user_id: int, patient: Patient, *, collecting: bool = False) -> AccessBasis | None:
    """Return why the user may see the patient now, or None (the strongest basis first).

    CONSENT_TO_COLLECT is returned only when asked (`collecting`): it opens the consents
    page, never the record, so callers checking "is not None" stay on need-to-know."""
    if patient.merged_into_id is not None or not _is_clinician(user_id):
        return None
    now = utcnow()
    active = sa.select(Enrolment.id).where(
        Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None)
    )
    if patient.sharing_consent:
        member = db.session.scalar(
            active.where(Enrolment.team_id.in_(active_team_ids(user_id))).limit(1)
        )
        if member:
            return AccessBasis.MEMBER
        invited = db.session.scalar(
            sa.select(CircleInvitation.id)
            .where(
                CircleInvitation.patient_id == patient.id,
                CircleInvitation.user_id == user_id,
                CircleInvitation.expires_at > now,
                CircleInvitation.revoked_at.is_(None),
            )
            .limit(1)
        )
        if invited and db.session.scalar(active.limit(1)):
            return AccessBasis.INVITED
    if _enrolled_by_coordinator(user_id, patient.id):
        return AccessBasis.ENROLLING_COORDINATOR
    glass = db.session.scalar(
        sa.select(BreakGlassAccess.id)
        .where(
            BreakGlassAccess.patient_id == patient.id,
            BreakGlassAccess.user_id == user_id,
            BreakGlassAccess.expires_at > now,
        )
        .limit(1)
    )
    if glass:
        return AccessBasis.BREAK_GLASS
    if collecting and collects_consent(user_id, patient):
        return AccessBasis.CONSENT_TO_COLLECT
    return None


def coordinates_patient(user_id: int, patient: Patient) -> bool:
    """Tell whether the user coordinates the patient's care: the enrolling coordinator (while
    they still coordinate that team), or (with the patient's agreement) a coordinator of a team
    where the patient is enrolled."""
    if _enrolled_by_coordinator(user_id, patient.id):
        return True
    if not patient.sharing_consent:
        return False
    active = sa.select(Enrolment.id).where(
        Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None)
    )
    teams = active_team_ids(user_id, role=TeamRole.COORDINATOR)
    return bool(db.session.scalar(active.where(Enrolment.team_id.in_(teams)).limit(1)))


def is_team_coordinator(user_id: int, team_id: int) -> bool:
    """Tell whether the user is a coordinator of the team today."""
    teams = active_team_ids(user_id, role=TeamRole.COORDINATOR)
    return bool(db.session.scalar(teams.where(TeamMembership.team_id == team_id).limit(1)))


def coordinated_team_count(user_id: int) -> int:
    """Return how many teams the user coordinates today."""
    teams = active_team_ids(user_id, role=TeamRole.COORDINATOR).subquery()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(teams)) or 0)


def is_team_member(user_id: int, team_id: int) -> bool:
    """Tell whether the user belongs to the team today (any team role)."""
    teams = active_team_ids(user_id)
    return bool(db.session.scalar(teams.where(TeamMembership.team_id == team_id).limit(1)))


def active_enrolment_team_ids(patient_id: int) -> list[int]:
    """Return the ids of the teams following the patient now."""
    return list(
        db.session.scalars(
            sa.select(Enrolment.team_id).where(
                Enrolment.patient_id == patient_id, Enrolment.ended_at.is_(None)
            )
        )
    )
