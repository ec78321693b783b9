"""Who sees a team's dashboard; rules registered in the core policy.

The dashboard is the coordinators' tool: it shows the whole team's caseload and every
colleague's workload. A professional who is a member but not a coordinator does not get it:
their need-to-know is their own patients and actions ("Mes actions", the patient list), not
the team's management view. Admins and ARS analysts never see it (no clinical access).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, TeamMembership, TeamRole
from ptap.core import clock
from ptap.core.policy import Actor, PlatformRole, has_role, is_clinician, require, rule
from ptap.extensions import db


@rule("dashboard.view")
def _view_dashboard(user: Actor, team: CareTeam | None) -> bool:
    """The page itself: coordinator accounts; one team's dashboard: its current coordinators."""
    if not is_clinician(user) or not has_role(user, PlatformRole.COORDINATOR):
        return False
    if team is None:
        return True
    return access.is_team_coordinator(user.id, team.id)


def require_view_dashboard(user: Actor, team: CareTeam) -> None:
    """Raise PermissionDenied unless the user may see this team's dashboard."""
    require(user, "dashboard.view", team)


def can_view_team(user: Actor, team_id: int) -> bool:
    """Tell whether the user may see the dashboard of the team with this id (sockets)."""
    team = db.session.get(CareTeam, team_id)
    return team is not None and _view_dashboard(user, team)


def coordination_end(user_id: int, team_id: int) -> datetime | None:
    """Return the instant the user's coordination of the team ends by date alone (the Paris
    midnight after the last day of the latest current coordinator membership), or None when
    a current one has no end. Holding none: now."""
    today = clock.paris_today()
    ends = list(
        db.session.scalars(
            sa.select(TeamMembership.ends_on).where(
                TeamMembership.user_id == user_id,
                TeamMembership.team_id == team_id,
                TeamMembership.role == TeamRole.COORDINATOR,
                TeamMembership.starts_on <= today,
                sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            )
        )
    )
    if not ends:
        return clock.now()
    last_days = [day for day in ends if day is not None]
    if len(last_days) < len(ends):
        return None
    return clock.paris_midnight(max(last_days) + timedelta(days=1))


def coordinated_team_ids(user_id: int) -> list[int]:
    """Return the ids of the teams the user coordinates today."""
    stmt = access.active_team_ids(user_id, role=TeamRole.COORDINATOR)
    return sorted(set(db.session.scalars(stmt)))
