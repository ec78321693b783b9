"""Dashboard jobs: close the live rooms of teams whose memberships ended by date."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.care_teams.models import TeamMembership
from ptap.core import clock
from ptap.dashboards.live import close_team_rooms
from ptap.extensions import db

#: How far back the first run of a scheduler process looks (it knows no earlier run).
FIRST_RUN_LOOKBACK = timedelta(days=2)

#: The instant up to which the last successful run of this process looked.
_last_run: datetime | None = None


def cut_off_dashboard_sockets(now: datetime | None = None) -> int:
    """Make the live dashboards of teams whose memberships ended by date join again.

    A membership ends at the local midnight after its last day: no request happens then, so
    no signal fires. Every team with a membership that ended since the previous run (or in
    the last FIRST_RUN_LOOKBACK for a first run; a late or stopped scheduler catches up) gets
    its room closed (`rejoin_required`), and `join_team` lets back only those who still
    coordinate it. Returns the number of teams.

    Deliveries do not wait for this job: each socket stops receiving at its own deadline
    (ptap.dashboards.live); the job makes the pages join again, or tell their user.
    """
    global _last_run
    now = now or clock.now()
    since = _last_run
    if since is None or since >= now or now - since > FIRST_RUN_LOOKBACK:
        since = now - FIRST_RUN_LOOKBACK
    # A membership ending on `day` ends at the midnight starting `day + 1`, in (since, now].
    first = clock.paris_day(since) - timedelta(days=1)
    last = clock.paris_day(now) - timedelta(days=1)
    ended = [
        day
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
        if since < clock.paris_midnight(day + timedelta(days=1)) <= now
    ]
    team_ids: set[int] = set()
    if ended:
        team_ids = set(
            db.session.scalars(
                sa.select(TeamMembership.team_id).where(
                    TeamMembership.ends_on >= ended[0], TeamMembership.ends_on <= ended[-1]
                )
            )
        )
    close_team_rooms(team_ids)
    _last_run = now
    return len(team_ids)
