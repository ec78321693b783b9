"""Dashboard jobs: close the live rooms of teams whose memberships ended by date."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.care_teams.models import TeamMembership
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.dashboards.live import close_team_rooms
from ptap.extensions import db

#: A run this long after local midnight still catches the memberships that ended yesterday.
CUT_OFF_WINDOW = timedelta(minutes=3)


def cut_off_dashboard_sockets(now: datetime | None = None) -> int:
    """Make the live dashboards of teams whose memberships ended at midnight join again.

    A membership ends at the local midnight after its last day: no request happens then, so
    no signal fires. Just after midnight, every team with a membership that ended yesterday
    gets its room closed (`rejoin_required`), and `join_team` lets back only those who still
    coordinate it. Returns the number of teams.
    """
    local = (now or utcnow()).astimezone(clock.PARIS)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if local - midnight >= CUT_OFF_WINDOW:
        return 0
    yesterday = midnight.date() - timedelta(days=1)
    team_ids = set(
        db.session.scalars(
            sa.select(TeamMembership.team_id).where(TeamMembership.ends_on == yesterday)
        )
    )
    close_team_rooms(team_ids)
    return len(team_ids)
