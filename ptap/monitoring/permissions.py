"""Who sees the monitoring indicators; rules registered in the core policy.

The agency's analysts see every team; a coordinator sees the teams they coordinate today,
and no other team's figures. Professionals and administrators see none. Only analysts order
the agency's quarterly reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, TeamRole
from ptap.core.errors import PermissionDenied
from ptap.core.policy import Actor, PlatformRole, has_role, is_clinician, require, rule
from ptap.extensions import db


@dataclass(frozen=True)
class Scope:
    """The teams whose figures a user may see: all of them (None) or these ids."""

    team_ids: frozenset[int] | None

    def allows(self, team_id: int) -> bool:
        return self.team_ids is None or team_id in self.team_ids


def _coordinated(user: Actor) -> frozenset[int]:
    if not is_clinician(user):
        return frozenset()
    stmt = access.active_team_ids(user.id, role=TeamRole.COORDINATOR)
    return frozenset(db.session.scalars(stmt))


@rule("monitoring.view")
def _view(user: Actor, team: CareTeam | None) -> bool:
    """See indicators: analysts for every team; coordinators for the teams they coordinate."""
    if has_role(user, PlatformRole.ARS_ANALYST):
        return True
    if not has_role(user, PlatformRole.COORDINATOR):
        return False
    if team is None:  # the navigation entry: any coordinator account (no query per page)
        return is_clinician(user)
    return access.is_team_coordinator(user.id, team.id)


@rule("monitoring.reports")
def _reports(user: Actor, _obj: object) -> bool:
    """Order and download the agency's quarterly activity reports: analysts."""
    return has_role(user, PlatformRole.ARS_ANALYST)


def monitoring_scope(user: Actor) -> Scope:
    """Return the teams whose figures `user` may see (raises if none)."""
    require(user, "monitoring.view")
    if has_role(user, PlatformRole.ARS_ANALYST):
        return Scope(None)
    teams = _coordinated(user)
    if not teams:  # a coordinator account that coordinates no team today
        raise PermissionDenied()
    return Scope(teams)


def visible_teams(scope: Scope) -> list[CareTeam]:
    """Return the teams of a scope, by name."""
    stmt = sa.select(CareTeam).order_by(CareTeam.name)
    if scope.team_ids is not None:
        stmt = stmt.where(CareTeam.id.in_(list(scope.team_ids)))
    return list(db.session.scalars(stmt))
