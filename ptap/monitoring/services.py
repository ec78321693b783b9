"""The aggregates' refresh: which months to recompute, and writing one month's counts.

A run recomputes whole partitions (a month, for every team or for some teams) from the raw
tables with ``sources.count_month`` and replaces their rows: delete, then insert. So a run is
idempotent, and one interrupted half-way is finished by the next (the watermark only moves at
the end). Which partitions:

* every month from the month of the last watermark (minus an overlap) to the current one, for
  every team: new activity is dated "now", and states that change with time (a re-evaluation
  now late) belong to the current month;
* the past months of rows changed since the watermark (``sources.touched_partitions``), for
  those teams only.

The overlap (OVERLAP) re-reads changes committed late by transactions that started before the
previous run: recomputing a partition twice costs time, never correctness.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ptap.care_teams.models import CareTeam, Territory
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.policy import Actor, require
from ptap.extensions import db
from ptap.monitoring import sources
from ptap.monitoring.models import (
    MonitoringCount,
    MonitoringReport,
    MonitoringStaleMonth,
    MonitoringState,
    ReportStatus,
)

STATE_KEY = "aggregates"
#: How far before the last watermark a run looks for changes.
OVERLAP = timedelta(minutes=10)


def month_of(instant: datetime | date) -> date:
    """Return the first day of the (Paris) month of an instant or day."""
    if isinstance(instant, datetime):
        instant = clock.paris_day(instant)
    return date(instant.year, instant.month, 1)


def next_month(month: date) -> date:
    """Return the first day of the following month."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """Return the UTC instants [start, end) of a Paris calendar month."""
    return clock.paris_midnight(month), clock.paris_midnight(next_month(month))


def months_between(first: date, last: date) -> list[date]:
    """Return the first days of the months from `first` to `last`, both included."""
    months, month = [], month_of(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


@dataclass
class RefreshPlan:
    """The partitions one run recomputes."""

    now: datetime
    #: Months recomputed for every team.
    months: list[date]
    #: Past months recomputed for some teams only.
    partial: dict[date, set[int]] = field(default_factory=dict)
    full: bool = False


def plan_refresh(now: datetime | None = None) -> RefreshPlan:
    """Decide which partitions the next run recomputes (a full rebuild on the first run)."""
    now = now or clock.now()
    current = month_of(now)
    state = db.session.get(MonitoringState, STATE_KEY)
    if state is None:
        earliest = sources.earliest_activity()
        first = month_of(earliest) if earliest is not None else current
        return RefreshPlan(now, months_between(first, current), full=True)
    since = state.watermark - OVERLAP
    months = months_between(month_of(since), current)
    partial: dict[date, set[int]] = defaultdict(set)
    for team_id, at in sources.touched_partitions(since):
        month = month_of(at)
        if month < months[0]:
            partial[month].add(team_id)
    return RefreshPlan(now, months, dict(sorted(partial.items())))


def recompute_month(month: date, today: date, teams: set[int] | None = None) -> int:
    """Replace the counts of one month (every team, or only `teams`); return the rows written."""
    start, end = month_bounds(month)
    rows = sources.count_month(start, end, today, teams)
    territory_of = dict(db.session.execute(sa.select(CareTeam.id, CareTeam.territory_id)).all())
    delete = sa.delete(MonitoringCount).where(MonitoringCount.month == month)
    if teams is not None:
        delete = delete.where(MonitoringCount.team_id.in_(list(teams)))
    db.session.execute(delete)
    values = [
        {
            "territory_id": territory_of[team],
            "team_id": team,
            "month": month,
            "indicator": indicator,
            "dimension": dimension,
            "value": value,
        }
        for team, indicator, dimension, value in rows
        if value
    ]
    if values:
        db.session.execute(sa.insert(MonitoringCount), values)
    db.session.flush()
    return len(values)


def advance_watermark(now: datetime) -> None:
    """Record that every partition up to `now` is up to date (and forget the stale-month
    notes that this run and the previous ones have read)."""
    state = db.session.get(MonitoringState, STATE_KEY)
    if state is not None:
        db.session.execute(
            sa.delete(MonitoringStaleMonth).where(
                MonitoringStaleMonth.noted_at < state.watermark - OVERLAP
            )
        )
    if state is None:
        db.session.add(MonitoringState(key=STATE_KEY, watermark=now, updated_at=clock.now()))
    else:
        state.watermark = now
        state.updated_at = clock.now()
    db.session.flush()


def reset_aggregates() -> None:
    """Forget every aggregate and the watermark: the next run rebuilds everything."""
    db.session.execute(sa.delete(MonitoringCount))
    db.session.execute(sa.delete(MonitoringState))
    db.session.execute(sa.delete(MonitoringStaleMonth))
    db.session.flush()


# --- quarterly reports -----------------------------------------------------------------------


def request_report(
    user: Actor, year: int, quarter: int, territory_id: int | None
) -> MonitoringReport:
    """Order the quarterly activity report of a territory (or the region); a job renders it."""
    require(user, "monitoring.reports")
    current = month_of(clock.now())
    if not 1 <= quarter <= 4:
        raise InvalidInput("Le trimestre va de 1 à 4.", field="quarter")
    if not 2000 <= year <= current.year or date(year, 3 * quarter - 2, 1) > current:
        raise InvalidInput("Ce trimestre n'a pas encore commencé.", field="year")
    if territory_id is not None and db.session.get(Territory, territory_id) is None:
        raise InvalidInput("Territoire inconnu.", field="territory")
    report = MonitoringReport(
        territory_id=territory_id,
        year=year,
        quarter=quarter,
        requested_by_id=user.id,
        requested_at=clock.now(),
    )
    db.session.add(report)
    db.session.flush()
    return report


def store_report(report: MonitoringReport, pdf: bytes | None) -> None:
    """Attach the rendered PDF to a report (None: the render failed)."""
    report.pdf = pdf
    report.status = ReportStatus.READY if pdf is not None else ReportStatus.FAILED
    report.ready_at = clock.now()
    db.session.flush()
