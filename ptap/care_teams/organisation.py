"""Managing the organisation: territories, structures (FINESS), teams and memberships.

Admins manage territories, structures and teams; a team's current coordinators add members to
their own team. An administrator only proposes a member, and a second person (a coordinator
of the team or another administrator) approves (four-eyes: one administrator alone cannot give
clinical access). Anyone who manages the team may end a membership. Only clinicians
(coordinator or professional platform role) may belong to a team, since membership opens the
team's patients (see access.py).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.accounts.notifications import notify
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import (
    CareTeam,
    MembershipProposal,
    ProposalStatus,
    Structure,
    StructureKind,
    TeamMembership,
    TeamRole,
    Territory,
)
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.identifiers import is_valid_finess
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES, PlatformRole, can, has_role, is_clinician, require
from ptap.core.signals import send_after_commit, team_membership_changed
from ptap.extensions import db

#: INSEE region code: two digits (84 Auvergne-Rhône-Alpes, 11 Île-de-France, 04 La Réunion).
REGION_RE = re.compile(r"^\d{2}$")
#: INSEE department code: 01-95 but 20 (Corsica is 2A and 2B), or an overseas 971-974, 976.
DEPARTMENT_RE = re.compile(r"^(?:0[1-9]|1\d|[3-8]\d|9[0-5]|2[1-9]|2[AB]|97[1-46])$")


def _today() -> date:
    return clock.paris_today()


def _required(value: str, field: str, max_length: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidInput("Ce champ est obligatoire.", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"{max_length} caractères au plus.", field=field)
    return text


# --- reads --------------------------------------------------------------------------------


def list_territories() -> list[Territory]:
    """Return every territory, by department then name."""
    return list(
        db.session.scalars(sa.select(Territory).order_by(Territory.department_code, Territory.name))
    )


def list_structures() -> list[Structure]:
    """Return every structure with its territory, by name."""
    return list(
        db.session.scalars(
            sa.select(Structure)
            .options(sa.orm.joinedload(Structure.territory))
            .order_by(Structure.name, Structure.id)
        )
    )


def current_member_ids(team_id: int) -> set[int]:
    """Return the ids of the users whose membership of the team is current or yet to come."""
    today = _today()
    return set(
        db.session.scalars(
            sa.select(TeamMembership.user_id).where(
                TeamMembership.team_id == team_id,
                sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            )
        )
    )


# --- territories, structures, teams -------------------------------------------------------


def create_territory(
    user: User, name: str, region_code: str, department_code: str, ctx: AuditContext
) -> Territory:
    """Create a coordination territory (INSEE region and department codes)."""
    require(user, "teams.manage")
    name = _required(name, "name", 120)
    region_code = region_code.strip()
    if not REGION_RE.match(region_code):
        raise InvalidInput(
            "Code région INSEE : deux chiffres (par exemple 84).", field="region_code"
        )
    department_code = department_code.strip().upper()
    if not DEPARTMENT_RE.match(department_code):
        raise InvalidInput(
            "Code département INSEE : 01 à 95, 2A, 2B ou 971 à 976 (par exemple 69).",
            field="department_code",
        )
    territory = Territory(name=name, region_code=region_code, department_code=department_code)
    db.session.add(territory)
    db.session.flush()
    record_event(ctx, "org.territory_create", object_type="territory", object_id=territory.id)
    return territory


def normalise_finess(value: str) -> str:
    """Drop the spaces people type inside a FINESS number (69 0 78 1810 -> 690781810)."""
    return "".join(value.split())


def create_structure(
    user: User,
    name: str,
    kind: str,
    finess: str | None,
    territory: Territory,
    ctx: AuditContext,
) -> Structure:
    """Create a structure; its FINESS number, when given, is checked (Luhn) and unique."""
    require(user, "teams.manage")
    name = _required(name, "name", 200)
    if kind not in StructureKind.__members__.values():
        raise InvalidInput("Choisissez le type de structure.", field="kind")
    number = normalise_finess(finess or "") or None
    if number is not None:
        if not is_valid_finess(number):
            raise InvalidInput(
                "Numéro FINESS invalide : 9 chiffres, clé de contrôle comprise.", field="finess"
            )
        if db.session.scalar(sa.select(Structure.id).where(Structure.finess == number)):
            raise Conflict("Ce numéro FINESS est déjà enregistré.", field="finess")
    structure = Structure(name=name, kind=kind, finess=number, territory_id=territory.id)
    db.session.add(structure)
    db.session.flush()
    record_event(ctx, "org.structure_create", object_type="structure", object_id=structure.id)
    return structure


def create_team(user: User, name: str, structure: Structure, ctx: AuditContext) -> CareTeam:
    """Create an active care team of `structure`, on the structure's territory."""
    require(user, "teams.manage")
    name = _required(name, "name", 200)
    team = CareTeam(
        name=name, structure_id=structure.id, territory_id=structure.territory_id, active=True
    )
    db.session.add(team)
    db.session.flush()
    record_event(ctx, "org.team_create", object_type="care_team", object_id=team.id)
    return team


# --- memberships --------------------------------------------------------------------------


def _check_new_membership(
    team: CareTeam, member_user: User, role: str, starts_on: date, ends_on: date | None
) -> None:
    """Refuse a membership the rules do not allow (inactive team, non-clinician, overlap...)."""
    if not team.active:
        raise Conflict("Cette équipe est inactive : on n'y ajoute plus de membres.")
    if not is_clinician(member_user) or not member_user.active:
        raise InvalidInput(
            "Seul un professionnel ou un coordinateur de parcours actif peut être membre "
            "d'une équipe.",
            field="user_id",
        )
    if role not in TeamRole.__members__.values():
        raise InvalidInput("Choisissez le rôle dans l'équipe.", field="role")
    if role == TeamRole.COORDINATOR and not has_role(member_user, PlatformRole.COORDINATOR):
        raise InvalidInput(
            "Le rôle de coordination est réservé aux comptes de coordinateur de parcours.",
            field="role",
        )
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput("La fin ne peut pas précéder le début.", field="ends_on")
    overlap = db.session.scalar(
        sa.select(TeamMembership.id)
        .where(
            TeamMembership.team_id == team.id,
            TeamMembership.user_id == member_user.id,
            sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= starts_on),
            TeamMembership.starts_on <= ends_on if ends_on is not None else sa.true(),
        )
        .limit(1)
    )
    if overlap is not None:
        raise Conflict(
            "Cette personne est déjà membre de l'équipe sur cette période.", field="user_id"
        )


def _insert_membership(
    team: CareTeam,
    member_user: User,
    role: str,
    starts_on: date,
    ends_on: date | None,
    ctx: AuditContext,
) -> TeamMembership:
    membership = TeamMembership(
        team_id=team.id,
        user_id=member_user.id,
        role=role,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    db.session.add(membership)
    db.session.flush()
    record_event(
        ctx,
        "team.member_add",
        object_type="team_membership",
        object_id=membership.id,
        reason=f"team {team.id}, user {member_user.id}, role {role}",
    )
    return membership


def team_coordinator_ids(team_id: int) -> list[int]:
    """Return the ids of the team's current coordinators (active clinician accounts)."""
    today = _today()
    return sorted(
        set(
            db.session.scalars(
                sa.select(TeamMembership.user_id)
                .join(User, User.id == TeamMembership.user_id)
                .where(
                    TeamMembership.team_id == team_id,
                    TeamMembership.role == TeamRole.COORDINATOR,
                    TeamMembership.starts_on <= today,
                    sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
                    User.active.is_(True),
                    User.role.in_(sorted(CLINICAL_ROLES)),
                )
            )
        )
    )


def _admin_ids() -> list[int]:
    return list(
        db.session.scalars(
            sa.select(User.id).where(User.role == PlatformRole.ADMIN, User.active.is_(True))
        )
    )


def _tell(user_ids: list[int], kind: str, title: str, link: str, *, but: set[int]) -> None:
    """Notify each user (in-app, and by e-mail through the notification path) but `but`."""
    for user_id in user_ids:
        if user_id not in but:
            notify(user_id, kind, title, link)


def add_member(
    user: User,
    team: CareTeam,
    member_user: User,
    role: str,
    starts_on: date,
    ends_on: date | None,
    ctx: AuditContext,
) -> TeamMembership:
    """Add a clinician to the team, as member or coordinator, from `starts_on` (inclusive)
    until `ends_on` (inclusive; None while it lasts).

    Only the team's current coordinators add members directly: an administrator proposes
    (`propose_member`) and a second person approves. The other coordinators are told.
    """
    require(user, "team.add_member", team)
    _check_new_membership(team, member_user, role, starts_on, ends_on)
    membership = _insert_membership(team, member_user, role, starts_on, ends_on, ctx)
    _tell(
        team_coordinator_ids(team.id),
        "team_member_added",
        f"{member_user.full_name} a été ajouté à l'équipe {team.name} par {user.full_name}.",
        f"/teams/{team.id}",
        but={user.id},
    )
    return membership


def propose_member(
    user: User,
    team: CareTeam,
    member_user: User,
    role: str,
    starts_on: date,
    ends_on: date | None,
    ctx: AuditContext,
) -> MembershipProposal:
    """Propose adding someone to the team (administrators): nothing opens until a coordinator
    of the team or another administrator approves. The team's coordinators are told (the
    other administrators when the team has no coordinator)."""
    require(user, "teams.manage", team)
    _check_new_membership(team, member_user, role, starts_on, ends_on)
    pending = db.session.scalar(
        sa.select(MembershipProposal.id).where(
            MembershipProposal.team_id == team.id,
            MembershipProposal.user_id == member_user.id,
            MembershipProposal.status == ProposalStatus.PENDING,
        )
    )
    if pending is not None:
        raise Conflict("Un ajout de cette personne attend déjà une approbation.", field="user_id")
    proposal = MembershipProposal(
        team_id=team.id,
        user_id=member_user.id,
        role=role,
        starts_on=starts_on,
        ends_on=ends_on,
        proposed_by_id=user.id,
    )
    db.session.add(proposal)
    db.session.flush()
    record_event(
        ctx,
        "team.member_propose",
        object_type="membership_proposal",
        object_id=proposal.id,
        reason=f"team {team.id}, user {member_user.id}, role {role}",
    )
    deciders = team_coordinator_ids(team.id) or _admin_ids()
    _tell(
        deciders,
        "team_member_proposed",
        f"{user.full_name} propose d'ajouter {member_user.full_name} à l'équipe {team.name} : "
        "à approuver.",
        f"/teams/{team.id}",
        but={user.id, member_user.id},
    )
    return proposal


def add_or_propose_member(
    user: User,
    team: CareTeam,
    member_user: User,
    role: str,
    starts_on: date,
    ends_on: date | None,
    ctx: AuditContext,
) -> TeamMembership | MembershipProposal:
    """Add the member (a coordinator of the team), or propose it (an administrator)."""
    if can(user, "team.add_member", team):
        return add_member(user, team, member_user, role, starts_on, ends_on, ctx)
    return propose_member(user, team, member_user, role, starts_on, ends_on, ctx)


def _decide(user: User, proposal: MembershipProposal, status: str) -> None:
    require(user, "team.decide_member", proposal)
    if proposal.status != ProposalStatus.PENDING:
        raise Conflict("Cette proposition a déjà été traitée.")
    proposal.status, proposal.decided_by_id, proposal.decided_at = status, user.id, utcnow()


def approve_member(user: User, proposal: MembershipProposal, ctx: AuditContext) -> TeamMembership:
    """Approve an administrator's proposal (a coordinator of the team or another
    administrator; never the proposer nor the person proposed): the membership starts."""
    _decide(user, proposal, ProposalStatus.APPROVED)
    team = proposal.team
    member_user = db.session.get_one(User, proposal.user_id)
    _check_new_membership(team, member_user, proposal.role, proposal.starts_on, proposal.ends_on)
    membership = _insert_membership(
        team, member_user, proposal.role, proposal.starts_on, proposal.ends_on, ctx
    )
    proposal.membership_id = membership.id
    db.session.flush()
    record_event(
        ctx,
        "team.member_approve",
        object_type="membership_proposal",
        object_id=proposal.id,
        reason=f"team {team.id}, user {member_user.id}, proposed by {proposal.proposed_by_id}",
    )
    _tell(
        [*team_coordinator_ids(team.id), proposal.proposed_by_id],
        "team_member_added",
        f"{member_user.full_name} a été ajouté à l'équipe {team.name} "
        f"(approuvé par {user.full_name}).",
        f"/teams/{team.id}",
        but={user.id},
    )
    return membership


def reject_member(user: User, proposal: MembershipProposal, ctx: AuditContext) -> None:
    """Refuse an administrator's proposal (same deciders as the approval)."""
    _decide(user, proposal, ProposalStatus.REJECTED)
    db.session.flush()
    record_event(
        ctx,
        "team.member_reject",
        object_type="membership_proposal",
        object_id=proposal.id,
        reason=f"team {proposal.team_id}, user {proposal.user_id}",
    )
    _tell(
        [proposal.proposed_by_id],
        "team_member_rejected",
        f"Votre proposition d'ajout à l'équipe {proposal.team.name} a été refusée.",
        f"/teams/{proposal.team_id}",
        but={user.id},
    )


def list_pending_proposals(team_id: int) -> list[tuple[MembershipProposal, User, User]]:
    """Return the team's pending proposals with the proposed person and the proposer."""
    proposer = sa.orm.aliased(User)
    rows = db.session.execute(
        sa.select(MembershipProposal, User, proposer)
        .join(User, User.id == MembershipProposal.user_id)
        .join(proposer, proposer.id == MembershipProposal.proposed_by_id)
        .where(
            MembershipProposal.team_id == team_id,
            MembershipProposal.status == ProposalStatus.PENDING,
        )
        .order_by(MembershipProposal.id)
    )
    return [(p, u, by) for p, u, by in rows]


def _other_current_coordinators(membership: TeamMembership) -> int:
    """Count the team's other current coordinators (active clinician accounts)."""
    today = _today()
    return int(
        db.session.scalar(
            sa.select(sa.func.count(TeamMembership.id))
            .join(User, User.id == TeamMembership.user_id)
            .where(
                TeamMembership.team_id == membership.team_id,
                TeamMembership.id != membership.id,
                TeamMembership.role == TeamRole.COORDINATOR,
                TeamMembership.starts_on <= today,
                sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
                User.active.is_(True),
                User.role.in_(sorted(CLINICAL_ROLES)),
            )
        )
        or 0
    )


def end_membership(
    user: User, membership: TeamMembership, ends_on: date, ctx: AuditContext
) -> TeamMembership:
    """End a membership: `ends_on` is its last day, so yesterday ends it now.

    A membership that has not begun yet is cancelled (its last day becomes the day before
    it starts). A coordinator cannot end the team's last current coordinator: nobody but
    the administrators could manage the team any more.
    """
    team = membership.team
    require(user, "teams.manage", team)
    today = _today()
    if membership.ends_on is not None and membership.ends_on < today:
        raise Conflict("Cette appartenance à l'équipe est déjà terminée.")
    if ends_on < today - timedelta(days=1):
        raise InvalidInput("La fin ne peut pas être antérieure à hier.", field="ends_on")
    if membership.ends_on is not None and ends_on > membership.ends_on:
        raise InvalidInput("La fin prévue est déjà plus proche.", field="ends_on")
    ends_on = max(ends_on, membership.starts_on - timedelta(days=1))
    if (
        membership.role == TeamRole.COORDINATOR
        and membership.starts_on <= today
        and not has_role(user, PlatformRole.ADMIN)
        and _other_current_coordinators(membership) == 0
    ):
        raise Conflict(
            "C'est le dernier coordinateur de l'équipe : ajoutez d'abord un autre "
            "coordinateur, ou demandez à un administrateur.",
        )
    membership.ends_on = ends_on
    db.session.flush()
    record_event(
        ctx,
        "team.member_end",
        object_type="team_membership",
        object_id=membership.id,
        reason=f"team {team.id}, user {membership.user_id}, last day {ends_on.isoformat()}",
    )
    send_after_commit(
        team_membership_changed, "care_teams", team_id=team.id, user_id=membership.user_id
    )
    return membership
