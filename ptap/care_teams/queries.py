"""Reads of teams and patients, always through need-to-know."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.models import AuditEvent
from ptap.care_teams.access import active_team_ids, sharing_ever_recorded, visible_patient_ids
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    ConsentRecord,
    DuplicateFlag,
    DuplicateStatus,
    Enrolment,
    Patient,
    PatientContact,
    PatientMerge,
    Structure,
    TeamMembership,
)
from ptap.care_teams.search import PatientSearch, visible_patients_query
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES
from ptap.extensions import db

# The patient search lives in its own module; these names stay importable from here.
__all__ = ["PatientSearch", "visible_patients_query"]


def active_enrolments(patient_id: int) -> list[Enrolment]:
    """Return the patient's current enrolments with their teams."""
    return list(
        db.session.scalars(
            sa.select(Enrolment)
            .where(Enrolment.patient_id == patient_id, Enrolment.ended_at.is_(None))
            .options(sa.orm.joinedload(Enrolment.team))
            .order_by(Enrolment.enrolled_at)
        )
    )


def all_enrolments(patient_id: int) -> list[Enrolment]:
    """Return every enrolment of the patient, newest first."""
    return list(
        db.session.scalars(
            sa.select(Enrolment)
            .where(Enrolment.patient_id == patient_id)
            .options(sa.orm.joinedload(Enrolment.team))
            .order_by(Enrolment.enrolled_at.desc())
        )
    )


@dataclass(frozen=True)
class CircleMember:
    """One person of the circle and why they are in it."""

    user_id: int
    name: str
    profession: str
    basis: str
    team_role: str = ""
    until: datetime | None = None
    invitation_id: int | None = None


def _team_basis(team_name: str) -> str:
    """Say "Équipe <name>" without doubling a name that already starts with "Équipe"."""
    return team_name if team_name.startswith("Équipe ") else f"Équipe {team_name}"


def circle(patient: Patient) -> list[CircleMember]:
    """Return the patient's circle: active team members, then current invitations."""
    today = clock.paris_today()
    members = db.session.execute(
        sa.select(User, TeamMembership.role, CareTeam.name)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .join(CareTeam, CareTeam.id == TeamMembership.team_id)
        .join(Enrolment, Enrolment.team_id == TeamMembership.team_id)
        .where(
            Enrolment.patient_id == patient.id,
            Enrolment.ended_at.is_(None),
            TeamMembership.starts_on <= today,
            sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            User.active.is_(True),
        )
        .order_by(User.last_name, User.first_name)
    ).all()
    result = [
        CircleMember(u.id, u.full_name, u.profession_label, _team_basis(team), role)
        for u, role, team in members
    ]
    invited = db.session.execute(
        sa.select(User, CircleInvitation)
        .join(CircleInvitation, CircleInvitation.user_id == User.id)
        .where(
            CircleInvitation.patient_id == patient.id,
            CircleInvitation.revoked_at.is_(None),
            CircleInvitation.expires_at > utcnow(),
        )
        .order_by(User.last_name)
    ).all()
    result += [
        CircleMember(
            u.id,
            u.full_name,
            u.profession_label,
            "Invité pour ce patient",
            until=inv.expires_at,
            invitation_id=inv.id,
        )
        for u, inv in invited
    ]
    return result


def consent_history(patient_id: int) -> list[tuple[ConsentRecord, str]]:
    """Return the consent ledger of the patient, newest first, with who recorded each entry."""
    return [
        (record, name)
        for record, name in db.session.execute(
            sa.select(ConsentRecord, User.first_name + " " + User.last_name)
            .join(User, User.id == ConsentRecord.recorded_by_id)
            .where(ConsentRecord.patient_id == patient_id)
            .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        ).all()
    ]


#: Actions that show in "who accessed my file": every read or write of the record.
ACCESS_LOG_PREFIXES = ("patient.", "consent.", "circle.", "enrolment.", "break_glass.")


@dataclass(frozen=True)
class AccessLogEntry:
    """One access to the patient's record, as shown to the patient."""

    at: datetime
    who: str
    profession: str
    action: str
    detail: str


ACTION_LABELS = {
    "patient.read": "Consultation du dossier",
    "patient.create": "Création du dossier",
    "patient.update_identity": "Modification de l'identité",
    "patient.update_contact": "Modification des coordonnées",
    "patient.contact_add": "Ajout d'un contact",
    "patient.contact_remove": "Suppression d'un contact",
    "patient.break_glass": "Accès en urgence (bris de glace)",
    "patient.access_log": "Consultation de l'historique des accès",
    "patient.duplicate_flag": "Signalement d'un doublon potentiel",
    "patient.duplicate_merge": "Fusion de doublons",
    "patient.duplicate_dismiss": "Doublon écarté",
    "patient.duplicate_unmerge": "Annulation d'une fusion de doublons",
    "patient.insi_query": "Interrogation du téléservice INSi",
    "patient.document_check": "Contrôle de la pièce d'identité",
    "consent.record": "Enregistrement d'un consentement",
    "circle.invite": "Invitation dans le cercle de soins",
    "circle.revoke": "Fin d'une invitation",
    "circle.structure_add": "Ajout d'une structure au cercle de soins",
    "circle.structure_update": "Modification d'une structure du cercle de soins",
    "circle.structure_end": "Fin de l'intervention d'une structure",
    "enrolment.create": "Entrée dans l'équipe",
    "enrolment.end": "Sortie de l'équipe",
    "break_glass.review": "Examen d'un accès en urgence",
    "patient.dmp_consult": "Consultation du DMP (liste des documents)",
    "patient.dmp_document": "Ouverture d'un document du DMP",
    "patient.dmp_file": "Versement d'un document du DMP au dossier de coordination",
    "patient.dmp_filed_read": "Lecture d'un document versé depuis le DMP",
    "patient.dmp_filed_remove": "Retrait d'un document versé depuis le DMP",
}
#: Actions whose audited reason the patient sees in "who accessed my file".
DETAILED_ACTIONS = {
    "patient.break_glass",
    "patient.dmp_consult",
    "patient.dmp_document",
    "patient.dmp_file",
    "patient.dmp_filed_read",
}


def access_log_query(patient_id: int) -> sa.Select[Any]:
    """Select the successful accesses to the patient's record (audit events), newest first."""
    return (
        sa.select(AuditEvent)
        .where(
            AuditEvent.patient_id == patient_id,
            AuditEvent.outcome == "success",
            sa.or_(*(AuditEvent.action.startswith(p) for p in ACCESS_LOG_PREFIXES)),
        )
        .order_by(AuditEvent.id.desc())
    )


def access_log(patient_id: int, limit: int | None = None) -> list[AccessLogEntry]:
    """Return the access log entries of a patient (all of them unless `limit`)."""
    stmt = access_log_query(patient_id)
    if limit:
        stmt = stmt.limit(limit)
    return describe_access_events(list(db.session.scalars(stmt)))


def my_teams(user_id: int) -> list[CareTeam]:
    """Return the teams the user belongs to today."""
    return list(
        db.session.scalars(
            sa.select(CareTeam)
            .where(CareTeam.id.in_(active_team_ids(user_id)))
            .options(sa.orm.joinedload(CareTeam.structure), sa.orm.joinedload(CareTeam.territory))
            .order_by(CareTeam.name)
        )
    )


def coordinated_teams(user_id: int) -> list[CareTeam]:
    """Return the teams the user coordinates today."""
    return list(
        db.session.scalars(
            sa.select(CareTeam)
            .where(CareTeam.id.in_(active_team_ids(user_id, role="coordinator")))
            .order_by(CareTeam.name)
        )
    )


def all_teams() -> list[CareTeam]:
    """Return every team (administration)."""
    return list(
        db.session.scalars(
            sa.select(CareTeam)
            .options(sa.orm.joinedload(CareTeam.structure), sa.orm.joinedload(CareTeam.territory))
            .order_by(CareTeam.name)
        )
    )


def open_duplicates(user_id: int) -> list[DuplicateFlag]:
    """Return open duplicate flags whose two records the user may both see."""
    visible = visible_patient_ids(user_id)
    return list(
        db.session.scalars(
            sa.select(DuplicateFlag)
            .where(
                DuplicateFlag.status == DuplicateStatus.OPEN,
                DuplicateFlag.patient_id.in_(visible),
                DuplicateFlag.other_patient_id.in_(visible_patient_ids(user_id)),
            )
            .options(
                sa.orm.joinedload(DuplicateFlag.patient),
                sa.orm.joinedload(DuplicateFlag.other_patient),
            )
            .order_by(DuplicateFlag.created_at)
        )
    )


def undoable_merges(user_id: int, since: datetime) -> list[tuple[PatientMerge, Patient, Patient]]:
    """Return the merges made since `since`, not undone, whose surviving record the user sees,
    with (merge, survivor, duplicate), newest first."""
    survivor = sa.orm.aliased(Patient)
    duplicate = sa.orm.aliased(Patient)
    rows = db.session.execute(
        sa.select(PatientMerge, survivor, duplicate)
        .join(survivor, survivor.id == PatientMerge.survivor_id)
        .join(duplicate, duplicate.id == PatientMerge.duplicate_id)
        .where(
            PatientMerge.undone_at.is_(None),
            PatientMerge.merged_at >= since,
            PatientMerge.survivor_id.in_(visible_patient_ids(user_id)),
        )
        .order_by(PatientMerge.merged_at.desc())
    )
    return [(m, s, d) for m, s, d in rows]


# --- JSON API helpers ----------------------------------------------------------------------


def active_team_ids_by_patient(patient_ids: list[int]) -> dict[int, list[int]]:
    """Map each patient to the ids of the teams following them now (one query for a page)."""
    teams: dict[int, list[int]] = {pid: [] for pid in patient_ids}
    if not patient_ids:
        return teams
    rows = db.session.execute(
        sa.select(Enrolment.patient_id, Enrolment.team_id)
        .where(Enrolment.patient_id.in_(patient_ids), Enrolment.ended_at.is_(None))
        .order_by(Enrolment.patient_id, Enrolment.team_id)
    ).all()
    for patient_id, team_id in rows:
        if team_id not in teams[patient_id]:
            teams[patient_id].append(team_id)
    return teams


def team_roles(user_id: int) -> dict[int, str]:
    """Map each team the user belongs to today to their role there (coordinator wins)."""
    today = clock.paris_today()
    roles: dict[int, str] = {}
    rows = db.session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.role).where(
            TeamMembership.user_id == user_id,
            TeamMembership.starts_on <= today,
            sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
        )
    ).all()
    for team_id, role in rows:
        if roles.get(team_id) != "coordinator":
            roles[team_id] = role
    return roles


def describe_access_events(events: list[AuditEvent]) -> list[AccessLogEntry]:
    """Turn a page of access-log events into entries, loading their actors in one query."""
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    entries = []
    for event in events:
        actor = actors.get(event.actor_id) if event.actor_id is not None else None
        entries.append(
            AccessLogEntry(
                at=event.occurred_at,
                who=actor.full_name if actor else (event.actor_label or "Système"),
                profession=actor.profession_label if actor else "",
                action=ACTION_LABELS.get(event.action, event.action),
                detail=event.reason if event.action in DETAILED_ACTIONS else "",
            )
        )
    return entries


# --- circle pages ----------------------------------------------------------------------------


#: Most professionals an autocompletion or a fallback list shows at once.
PROFESSIONAL_SEARCH_LIMIT = 20


def search_professionals(
    text: str, limit: int = PROFESSIONAL_SEARCH_LIMIT, profession: str = ""
) -> list[User]:
    """Return active clinicians (of `profession` when given) whose last name, first name or
    "last first" starts with `text` (case-insensitive), by name; at most `limit`. Empty below
    two characters."""
    words = " ".join(text.split()).lower()
    if len(words) < 2:
        return []
    pattern = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    last, first = sa.func.lower(User.last_name), sa.func.lower(User.first_name)
    stmt = (
        sa.select(User)
        .where(
            User.active.is_(True),
            User.role.in_(sorted(CLINICAL_ROLES)),
            sa.or_(
                last.like(pattern, escape="\\"),
                first.like(pattern, escape="\\"),
                (last + " " + first).like(pattern, escape="\\"),
                (first + " " + last).like(pattern, escape="\\"),
            ),
        )
        .order_by(User.last_name, User.first_name, User.id)
        .limit(limit)
    )
    if profession:
        stmt = stmt.where(User.profession == profession)
    return list(db.session.scalars(stmt))


def list_patient_structures(patient_id: int) -> list[Structure]:
    """Return the structures whose teams follow the patient now (who answers for the record)."""
    return list(
        db.session.scalars(
            sa.select(Structure)
            .join(CareTeam, CareTeam.structure_id == Structure.id)
            .join(Enrolment, Enrolment.team_id == CareTeam.id)
            .where(Enrolment.patient_id == patient_id, Enrolment.ended_at.is_(None))
            .distinct()
            .order_by(Structure.name)
        )
    )


# --- patient and team pages ------------------------------------------------------------------


def active_team_names_by_patient(patient_ids: list[int]) -> dict[int, list[str]]:
    """Map each patient to the names of the teams following them now (one query for a page)."""
    names: dict[int, list[str]] = {pid: [] for pid in patient_ids}
    if not patient_ids:
        return names
    rows = db.session.execute(
        sa.select(Enrolment.patient_id, CareTeam.name)
        .join(CareTeam, CareTeam.id == Enrolment.team_id)
        .where(Enrolment.patient_id.in_(patient_ids), Enrolment.ended_at.is_(None))
        .order_by(Enrolment.patient_id, CareTeam.name)
    ).all()
    for patient_id, team_name in rows:
        if team_name not in names[patient_id]:
            names[patient_id].append(team_name)
    return names


def count_active_enrolments_by_team(team_ids: list[int]) -> dict[int, int]:
    """Count the patients each team follows now (one grouped query for a list of teams)."""
    counts = dict.fromkeys(team_ids, 0)
    if not team_ids:
        return counts
    rows = db.session.execute(
        sa.select(Enrolment.team_id, sa.func.count(sa.distinct(Enrolment.patient_id)))
        .where(Enrolment.team_id.in_(team_ids), Enrolment.ended_at.is_(None))
        .group_by(Enrolment.team_id)
    ).all()
    counts.update({team_id: int(count) for team_id, count in rows})
    return counts


def record_visible_ids(user_id: int, patient_ids: list[int]) -> set[int]:
    """Return those of `patient_ids` whose record the user may open (need-to-know): the
    others are listed only as a consent to collect."""
    if not patient_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Patient.id).where(
                Patient.id.in_(patient_ids), Patient.id.in_(visible_patient_ids(user_id))
            )
        )
    )


def consent_to_collect_ids(patient_ids: list[int]) -> set[int]:
    """Return those of `patient_ids` whose choice about sharing was never recorded."""
    if not patient_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Patient.id).where(
                Patient.id.in_(patient_ids),
                Patient.sharing_consent.is_(False),
                ~sharing_ever_recorded(Patient.id),
            )
        )
    )


@dataclass(frozen=True)
class SharingCounts:
    """The team's patients it cannot share about yet: choice never recorded, or refused."""

    to_collect: int
    refused: int


def count_sharing_pending(team_id: int) -> SharingCounts:
    """Count the patients the team follows without an agreement to sharing (one query)."""
    recorded = sharing_ever_recorded(Patient.id)
    row = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(sa.case((~recorded, Enrolment.patient_id)))),
            sa.func.count(sa.distinct(sa.case((recorded, Enrolment.patient_id)))),
        )
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
            Patient.sharing_consent.is_(False),
        )
    ).one()
    return SharingCounts(int(row[0] or 0), int(row[1] or 0))


def count_open_duplicate_flags(patient_id: int) -> int:
    """Count the open possible-duplicate flags that involve the patient's record."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(DuplicateFlag)
            .where(
                DuplicateFlag.status == DuplicateStatus.OPEN,
                sa.or_(
                    DuplicateFlag.patient_id == patient_id,
                    DuplicateFlag.other_patient_id == patient_id,
                ),
            )
        )
        or 0
    )


def list_patient_contacts(patient_id: int) -> list[PatientContact]:
    """Return the patient's contacts (caregivers, trusted person...) in the order added."""
    return list(
        db.session.scalars(
            sa.select(PatientContact)
            .where(PatientContact.patient_id == patient_id)
            .order_by(PatientContact.id)
        )
    )


def user_names(user_ids: list[int]) -> dict[int, str]:
    """Map user ids to full names (one query)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(User.id, User.first_name, User.last_name).where(User.id.in_(user_ids))
    ).all()
    return {uid: f"{first} {last}" for uid, first, last in rows}


def list_break_glass_reviews(user_id: int) -> list[tuple[BreakGlassAccess, User]]:
    """Return unreviewed emergency accesses to patients of the teams the user coordinates."""
    teams = active_team_ids(user_id, role="coordinator")
    patients = sa.select(Enrolment.patient_id).where(
        Enrolment.team_id.in_(teams), Enrolment.ended_at.is_(None)
    )
    rows = db.session.execute(
        sa.select(BreakGlassAccess, User)
        .join(User, User.id == BreakGlassAccess.user_id)
        .where(
            BreakGlassAccess.reviewed_at.is_(None),
            BreakGlassAccess.patient_id.in_(patients),
            BreakGlassAccess.user_id != user_id,
        )
        .options(sa.orm.joinedload(BreakGlassAccess.patient))
        .order_by(BreakGlassAccess.created_at)
    ).all()
    return [(grant, user) for grant, user in rows]


def list_team_memberships(team_id: int) -> list[tuple[TeamMembership, User]]:
    """Return the team's memberships (current first, then past) with their users."""
    rows = db.session.execute(
        sa.select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id)
        .order_by(TeamMembership.ends_on.is_not(None), User.last_name, User.first_name)
    ).all()
    return [(membership, user) for membership, user in rows]


@dataclass(frozen=True)
class FollowingTeam:
    """A team following the patient now, and the patient's referent coordinator there."""

    team: str
    #: The referent's name; "" when none is named.
    coordinator: str


def following_teams_by_patient(patient_ids: list[int]) -> dict[int, list[FollowingTeam]]:
    """Map each patient to the teams following them now with their referent coordinator
    (one query for a page of the patient list)."""
    found: dict[int, list[FollowingTeam]] = {pid: [] for pid in patient_ids}
    if not patient_ids:
        return found
    rows = db.session.execute(
        sa.select(Enrolment.patient_id, CareTeam.name, User.first_name, User.last_name)
        .join(CareTeam, CareTeam.id == Enrolment.team_id)
        .outerjoin(User, User.id == Enrolment.referent_id)
        .where(Enrolment.patient_id.in_(patient_ids), Enrolment.ended_at.is_(None))
        .order_by(Enrolment.patient_id, CareTeam.name)
    ).all()
    for patient_id, team, first, last in rows:
        found[patient_id].append(FollowingTeam(team, f"{first} {last}" if last else ""))
    return found
