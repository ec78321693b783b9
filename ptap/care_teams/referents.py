"""Referent coordinators of enrolments, and cover while a coordinator is away.

Each open enrolment names a referent: a coordinator of the team, the enrolling one to begin
with. A coordinator going on leave declares a cover period (a stand-in, a team or all their
teams, first and last day, Paris days, inclusive). Notices meant for coordinators go through
`with_cover`: during an active cover the stand-in receives a copy, its title starting with
"Remplacement de <name> :"; the absent coordinator keeps receiving theirs too, so that the
record of what happened is whole when they come back (and so nothing is lost if the cover
is cancelled). Covers do not chain: the stand-in's own stand-in is not looked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, CoverPeriod, Enrolment, TeamMembership, TeamRole
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES, require
from ptap.extensions import db

#: Longest cover declared at once (a year): a typo in the year is caught.
MAX_COVER_DAYS = 366


def _active_coordinators(
    team_ids: sa.Select[Any] | list[int], on: date | None = None
) -> sa.Select[int, int]:
    """Select the (user id, team id) pairs of the teams' active coordinators on `on`
    (default: today, Paris)."""
    today = on or clock.paris_today()
    return sa.select(TeamMembership.user_id, TeamMembership.team_id).where(
        TeamMembership.team_id.in_(team_ids),
        TeamMembership.role == TeamRole.COORDINATOR,
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
        TeamMembership.user_id.in_(
            sa.select(User.id).where(User.active.is_(True), User.role.in_(CLINICAL_ROLES))
        ),
    )


def list_team_coordinators(team_id: int) -> list[User]:
    """Return today's active coordinators of a team, by name."""
    ids = _active_coordinators([team_id]).with_only_columns(TeamMembership.user_id)
    return list(
        db.session.scalars(
            sa.select(User).where(User.id.in_(ids)).order_by(User.last_name, User.first_name)
        )
    )


def coordinated_team_ids(user_id: int) -> list[int]:
    """Return the ids of the teams the user coordinates today."""
    return sorted(set(db.session.scalars(access.active_team_ids(user_id, role="coordinator"))))


def _is_coordinator_of(user_id: int, team_id: int) -> bool:
    pairs = _active_coordinators([team_id]).where(TeamMembership.user_id == user_id)
    return db.session.execute(pairs.limit(1)).first() is not None


# --- Referent -------------------------------------------------------------------------------


def set_referent(
    user: User, enrolment: Enrolment, referent: User | None, ctx: AuditContext
) -> Enrolment:
    """Name the enrolment's referent (an active coordinator of its team), or nobody."""
    require(user, "enrolment.referent", enrolment)
    if referent is not None and not _is_coordinator_of(referent.id, enrolment.team_id):
        raise InvalidInput(
            "Le référent doit coordonner l'équipe qui suit la personne.", field="referent_id"
        )
    new_id = referent.id if referent is not None else None
    if new_id == enrolment.referent_id:
        return enrolment
    enrolment.referent_id = new_id
    db.session.flush()
    record_event(
        ctx,
        "enrolment.referent",
        object_type="enrolment",
        object_id=enrolment.id,
        patient_id=enrolment.patient_id,
        reason=f"referent {new_id}" if new_id else "no referent",
    )
    return enrolment


def _still_coordinating() -> sa.ColumnElement[bool]:
    """The enrolment's referent still coordinates its team today (a referent who left the
    team, or became a plain member, is nobody's referent any more)."""
    pairs = _active_coordinators(sa.select(CareTeam.id)).subquery()
    return sa.exists().where(
        pairs.c.user_id == Enrolment.referent_id, pairs.c.team_id == Enrolment.team_id
    )


def current_referents(enrolment_ids: Iterable[int]) -> dict[int, int]:
    """Map each enrolment to its referent, when named and still coordinating its team."""
    ids = sorted(set(enrolment_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Enrolment.id, Enrolment.referent_id).where(
            Enrolment.id.in_(ids), Enrolment.referent_id.is_not(None), _still_coordinating()
        )
    )
    return {enrolment_id: referent_id for enrolment_id, referent_id in rows if referent_id}


def referent_ids(patient_id: int) -> list[int]:
    """Return the referents of the patient's open enrolments (one per team, when named and
    still coordinating it)."""
    return sorted(
        {
            rid
            for rid in db.session.scalars(
                sa.select(Enrolment.referent_id).where(
                    Enrolment.patient_id == patient_id,
                    Enrolment.ended_at.is_(None),
                    _still_coordinating(),
                )
            )
            if rid is not None
        }
    )


# --- Cover periods ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverRequest:
    """What a coordinator declares: who stands in, for which team (None: all), which days."""

    stand_in_id: int
    team_id: int | None
    starts_on: date
    ends_on: date


def _validate_cover(user: User, req: CoverRequest) -> None:
    today = clock.paris_today()
    if req.ends_on < req.starts_on:
        raise InvalidInput("Le dernier jour précède le premier.", field="ends_on")
    if req.ends_on < today:
        raise InvalidInput("Cette absence est déjà terminée.", field="ends_on")
    if (req.ends_on - req.starts_on).days >= MAX_COVER_DAYS:
        raise InvalidInput("Une absence se déclare pour un an au plus.", field="ends_on")
    if req.stand_in_id == user.id:
        raise InvalidInput("Choisissez une autre personne que vous.", field="stand_in_id")
    mine = coordinated_team_ids(user.id)
    if req.team_id is not None and req.team_id not in mine:
        raise InvalidInput("Vous ne coordonnez pas cette équipe.", field="team_id")
    teams = [req.team_id] if req.team_id is not None else mine
    pairs = _active_coordinators(teams).where(TeamMembership.user_id == req.stand_in_id)
    covered = {team_id for _, team_id in db.session.execute(pairs)}
    if not teams or covered != set(teams):
        raise InvalidInput(
            "La personne qui vous remplace doit coordonner "
            + ("cette équipe." if req.team_id is not None else "chacune de vos équipes."),
            field="stand_in_id",
        )


def _overlapping(coordinator_id: int, starts_on: date, ends_on: date) -> int | None:
    return db.session.scalar(
        sa.select(CoverPeriod.id).where(
            CoverPeriod.coordinator_id == coordinator_id,
            CoverPeriod.cancelled_at.is_(None),
            CoverPeriod.starts_on <= ends_on,
            CoverPeriod.ends_on >= starts_on,
        )
    )


def declare_cover(user: User, req: CoverRequest, ctx: AuditContext) -> CoverPeriod:
    """Declare the user's absence and who stands in for them; overlaps are refused."""
    require(user, "cover.declare")
    _validate_cover(user, req)
    # Lock the coordinator's row: a second declaration waits for this one to commit, then
    # sees it (no check-then-insert race on the overlap rule). SQLite has one writer anyway.
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    if _overlapping(user.id, req.starts_on, req.ends_on) is not None:
        raise Conflict(
            "Une absence déjà déclarée couvre une partie de ces jours : annulez-la d'abord.",
            field="starts_on",
        )
    cover = CoverPeriod(
        coordinator_id=user.id,
        stand_in_id=req.stand_in_id,
        team_id=req.team_id,
        starts_on=req.starts_on,
        ends_on=req.ends_on,
        created_by_id=user.id,
    )
    db.session.add(cover)
    db.session.flush()
    record_event(
        ctx,
        "cover.declare",
        object_type="cover_period",
        object_id=cover.id,
        reason=f"stand-in {req.stand_in_id} {req.starts_on}..{req.ends_on}"
        f" team {req.team_id or 'all'}",
    )
    return cover


def cancel_cover(user: User, cover: CoverPeriod, ctx: AuditContext) -> CoverPeriod:
    """Cancel a current or future cover: notices go to the coordinator alone again."""
    require(user, "cover.cancel", cover)
    if cover.cancelled_at is not None:
        return cover
    if cover.ends_on < clock.paris_today():
        raise Conflict("Cette absence est terminée.")
    cover.cancelled_at = utcnow()
    db.session.flush()
    record_event(ctx, "cover.cancel", object_type="cover_period", object_id=cover.id)
    return cover


def get_cover(cover_id: int) -> CoverPeriod:
    """Return a cover period, or raise NotFound."""
    cover = db.session.get(CoverPeriod, cover_id)
    if cover is None:
        raise NotFound("Absence introuvable.")
    return cover


@dataclass(frozen=True)
class CoverLine:
    """A current or future cover, as the "Absence et remplacement" page lists it."""

    id: int
    coordinator: str
    stand_in: str
    team: str
    starts_on: date
    ends_on: date
    current: bool
    mine: bool


def list_covers(user_id: int) -> list[CoverLine]:
    """List the current and future covers the user is away for or stands in for."""
    today = clock.paris_today()
    absent, stand_in = aliased(User), aliased(User)
    rows = db.session.execute(
        sa.select(CoverPeriod, absent, stand_in, CareTeam.name)
        .join(absent, absent.id == CoverPeriod.coordinator_id)
        .join(stand_in, stand_in.id == CoverPeriod.stand_in_id)
        .outerjoin(CareTeam, CareTeam.id == CoverPeriod.team_id)
        .where(
            sa.or_(CoverPeriod.coordinator_id == user_id, CoverPeriod.stand_in_id == user_id),
            CoverPeriod.cancelled_at.is_(None),
            CoverPeriod.ends_on >= today,
        )
        .order_by(CoverPeriod.starts_on, CoverPeriod.id)
    ).all()
    return [
        CoverLine(
            id=c.id,
            coordinator=a.full_name,
            stand_in=s.full_name,
            team=team or "Toutes les équipes",
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            current=c.starts_on <= today,
            mine=c.coordinator_id == user_id,
        )
        for c, a, s, team in rows
    ]


# --- Routing ----------------------------------------------------------------------------------


def stand_ins(
    user_ids: Iterable[int], *, team_ids: Iterable[int] | None = None, on: date | None = None
) -> dict[int, int]:
    """Map each of `user_ids` away on `on` (default: today, Paris) to their stand-in.

    A cover of all teams always applies; a one-team cover applies only when the notice is
    about that team (`team_ids`). The stand-in must still coordinate, that day, the cover's
    team, or with a cover of all teams one of `team_ids` (any team when none is given):
    deactivated stand-ins, and those who left the team since the declaration, are skipped.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    day = on or clock.paris_today()
    scope: sa.ColumnElement[bool] = CoverPeriod.team_id.is_(None)
    teams = sorted(set(team_ids or ()))
    if teams:
        scope = sa.or_(scope, CoverPeriod.team_id.in_(teams))
    their_teams = (
        _active_coordinators(teams, on=day)
        if teams
        else _active_coordinators(sa.select(CareTeam.id), on=day)
    ).subquery()
    still_coordinates = sa.exists().where(
        their_teams.c.user_id == CoverPeriod.stand_in_id,
        sa.or_(CoverPeriod.team_id.is_(None), their_teams.c.team_id == CoverPeriod.team_id),
    )
    rows = db.session.execute(
        sa.select(CoverPeriod.coordinator_id, CoverPeriod.stand_in_id)
        .join(User, User.id == CoverPeriod.stand_in_id)
        .where(
            CoverPeriod.coordinator_id.in_(ids),
            CoverPeriod.cancelled_at.is_(None),
            CoverPeriod.starts_on <= day,
            CoverPeriod.ends_on >= day,
            User.active.is_(True),
            scope,
            still_coordinates,
        )
        .order_by(CoverPeriod.id)
    )
    return {coordinator: stand_in for coordinator, stand_in in rows}


def cover_copies(
    drafts: Sequence[NotificationDraft],
    *,
    team_ids: Iterable[int] | None = None,
    on: date | None = None,
) -> list[tuple[NotificationDraft, NotificationDraft]]:
    """Return (original, copy) for each draft whose recipient is away: the copy goes to the
    stand-in, its title starting with "Remplacement de <name> :"; a stand-in already told
    the same thing (same kind and link) gets no second copy.

    The stand-in's right to know is the caller's to check (a cover does not open the
    patients of a team the stand-in is not part of): filter the copies by access.
    """
    cover = stand_ins({d.user_id for d in drafts}, team_ids=team_ids, on=on)
    if not cover:
        return []
    names = {
        u.id: u.full_name for u in db.session.scalars(sa.select(User).where(User.id.in_(cover)))
    }
    told = {(d.user_id, d.kind, d.link) for d in drafts}
    copies = []
    for d in drafts:
        stand_in = cover.get(d.user_id)
        if stand_in is None or (stand_in, d.kind, d.link) in told:
            continue
        told.add((stand_in, d.kind, d.link))
        title = f"Remplacement de {names.get(d.user_id, '')} : {d.title}"
        copies.append((d, NotificationDraft(stand_in, d.kind, title[:300], d.link)))
    return copies


def with_cover(
    drafts: Sequence[NotificationDraft],
    *,
    team_ids: Iterable[int] | None = None,
    on: date | None = None,
) -> list[NotificationDraft]:
    """Return the drafts plus, for each recipient away, a copy for their stand-in
    (`cover_copies`; the caller filters by access)."""
    return list(drafts) + [copy for _, copy in cover_copies(drafts, team_ids=team_ids, on=on)]


def list_fellow_coordinators(user_id: int) -> tuple[list[CareTeam], list[User]]:
    """Return the teams the user coordinates and the other coordinators of those teams."""
    team_ids = coordinated_team_ids(user_id)
    teams = list(
        db.session.scalars(
            sa.select(CareTeam).where(CareTeam.id.in_(team_ids)).order_by(CareTeam.name)
        )
    )
    ids = _active_coordinators(team_ids).with_only_columns(TeamMembership.user_id)
    users = db.session.scalars(
        sa.select(User)
        .where(User.id.in_(ids), User.id != user_id)
        .order_by(User.last_name, User.first_name)
    )
    return teams, list(users)


def list_coordinators_of_my_teams(user_id: int) -> list[User]:
    """Return today's coordinators of the teams the user belongs to (the referent filter)."""
    ids = _active_coordinators(access.active_team_ids(user_id)).with_only_columns(
        TeamMembership.user_id
    )
    return list(
        db.session.scalars(
            sa.select(User).where(User.id.in_(ids)).order_by(User.last_name, User.first_name)
        )
    )
