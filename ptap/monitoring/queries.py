"""Reading the aggregates: the filters, one summed query, and the protected tables.

Nothing here reads a raw table: the page, the API and the exports are built from
``monitoring_counts`` and the quarters' protected releases stored by the refresh job
(``releases``): no table leaves this module unprotected, and no request runs the solver.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from ptap.care_teams.models import CareTeam, Territory
from ptap.core import clock
from ptap.core.errors import InvalidInput, PermissionDenied
from ptap.extensions import db
from ptap.monitoring.indicators import DURATION_BUCKETS, INDICATORS, Indicator
from ptap.monitoring.models import MonitoringCount
from ptap.monitoring.permissions import Scope
from ptap.monitoring.releases import ReleasesPending, node_of, quarter_months, quarter_of, releases
from ptap.monitoring.secrecy import (
    HIDDEN,
    Cell,
    ProtectedTable,
    protect_share,
    protect_statistic,
    protect_table,
)
from ptap.monitoring.services import month_of, months_between, next_month

#: Longest period one request may cover (months).
MAX_MONTHS = 60
MONTH_NAMES = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip


def month_label(month: date) -> str:
    """Return a French short month label, e.g. "mars 2026"."""
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


@dataclass(frozen=True)
class Filters:
    """What the caller asked for: a territory, a team, and a range of months."""

    territory_id: int | None
    team_id: int | None
    first: date
    last: date

    def as_args(self) -> dict[str, str]:
        """Return the query-string form of the filters."""
        args = {"from": f"{self.first:%Y-%m}", "to": f"{self.last:%Y-%m}"}
        if self.territory_id is not None:
            args["territory"] = str(self.territory_id)
        if self.team_id is not None:
            args["team"] = str(self.team_id)
        return args


def _month_arg(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        year, month = raw.split("-")[:2]
        if not (year.isdecimal() and month.isdecimal() and len(year) == 4):
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise InvalidInput(f"{field} doit être un mois au format AAAA-MM.", field=field) from exc


def _id_arg(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 9:
        raise InvalidInput(f"{field} doit être un identifiant numérique.", field=field)
    return int(raw)


def parse_filters(args: Mapping[str, str], scope: Scope) -> Filters:
    """Read territory, team, from and to; refuse malformed values and teams out of scope."""
    current = month_of(clock.now())
    last = _month_arg(args.get("to"), "to") or current
    index = last.year * 12 + last.month - 1 - 11  # twelve months by default, `to` included
    first = _month_arg(args.get("from"), "from") or date(index // 12, index % 12 + 1, 1)
    if first > last:
        raise InvalidInput("Le mois de début doit précéder le mois de fin.", field="from")
    if len(months_between(first, last)) > MAX_MONTHS:
        raise InvalidInput(f"La période couvre au plus {MAX_MONTHS} mois.", field="from")
    territory_id = _id_arg(args.get("territory"), "territory")
    team_id = _id_arg(args.get("team"), "team")
    if team_id is not None and not scope.allows(team_id):
        raise PermissionDenied()
    if team_id is not None and db.session.get(CareTeam, team_id) is None:
        raise InvalidInput("Équipe inconnue.", field="team")
    if territory_id is not None and db.session.get(Territory, territory_id) is None:
        raise InvalidInput("Territoire inconnu.", field="territory")
    if team_id is None and scope.team_ids is not None:
        team_id = _first_team(scope, territory_id)
    return Filters(territory_id, team_id, first, last)


def _first_team(scope: Scope, territory_id: int | None) -> int | None:
    """Return a coordinator's team shown when none is chosen: the first by name (in the
    territory asked for). A coordinator sees team tables only: a sum over "their teams" or
    over part of a territory is no table of the region's linked problem (docs/monitoring.md)."""
    stmt = sa.select(CareTeam.id).where(CareTeam.id.in_(list(scope.team_ids or ())))
    if territory_id is not None:
        stmt = stmt.where(CareTeam.territory_id == territory_id)
    return db.session.scalar(stmt.order_by(CareTeam.name, CareTeam.id).limit(1))


@dataclass(frozen=True)
class Option:
    """An entry of a filter list."""

    id: int
    label: str


def filter_options(scope: Scope) -> tuple[list[Option], list[Option]]:
    """Return the territories and teams the caller may filter on."""
    stmt = sa.select(CareTeam.id, CareTeam.name, Territory.id, Territory.name).join(
        Territory, Territory.id == CareTeam.territory_id
    )
    if scope.team_ids is not None:
        stmt = stmt.where(CareTeam.id.in_(list(scope.team_ids)))
    rows = db.session.execute(stmt.order_by(Territory.name, CareTeam.name)).all()
    territories = {tid: tname for _, _, tid, tname in rows}
    return (
        [Option(i, n) for i, n in sorted(territories.items(), key=lambda x: x[1])],
        [Option(team_id, f"{name} ({territories[tid]})") for team_id, name, tid, _ in rows],
    )


def load_counts(
    team_ids: list[int], first: date, last: date, indicators: list[str]
) -> dict[tuple[str, date, str], int]:
    """Sum some indicators over teams and months: (indicator, month, dimension) -> count."""
    c = MonitoringCount
    stmt = (
        sa.select(c.indicator, c.month, c.dimension, sa.func.sum(c.value))
        .where(c.month >= first, c.month <= last, c.indicator.in_(indicators))
        .where(c.team_id.in_(team_ids))
        .group_by(c.indicator, c.month, c.dimension)
    )
    return {(i, m, d): int(v) for i, m, d, v in db.session.execute(stmt)}


@dataclass(frozen=True)
class TableRow:
    """One month of an indicator, protected."""

    month: date
    label: str
    cells: tuple[Cell, ...]
    total: Cell | None
    #: The share column: a fraction, None when hidden, absent when the indicator has none.
    share: float | None = None
    #: True when the share has no denominator at all (nothing to divide: shown "—").
    share_empty: bool = False


@dataclass(frozen=True)
class DurationRow:
    """One month of a duration indicator: how many people, the median and p90 (hidden < 11)."""

    month: date | None
    label: str
    people: Cell
    median: str | None
    p90: str | None


@dataclass(frozen=True)
class IndicatorTable:
    """An indicator as shown: protected rows and totals, or unavailable."""

    indicator: Indicator
    rows: tuple[TableRow, ...] = ()
    #: The period's line; None for a stock column (its sum over months means nothing).
    totals: tuple[Cell | None, ...] = ()
    total: Cell | None = None
    total_share: float | None = None
    durations: tuple[DurationRow, ...] = ()

    @property
    def has_suppressed(self) -> bool:
        cells = [c for r in self.rows for c in (*r.cells, r.total) if c is not None]
        cells += [c for c in self.totals if c is not None]
        cells += [self.total] if self.total else []
        cells += [d.people for d in self.durations]
        return any(c.suppressed for c in cells)


def _share_empty(indicator: Indicator, cells: dict[str, Cell]) -> bool:
    return indicator.share is not None and all(cells[p].value == 0 for p in indicator.share[2])


def _share(indicator: Indicator, cells: dict[str, Cell]) -> float | None:
    assert indicator.share is not None  # noqa: S101 - called for indicators with a share
    _, numerator, parts = indicator.share
    denominator_parts = [cells[p] for p in parts]
    if any(p.suppressed for p in denominator_parts):
        return None
    denominator = Cell(sum(p.value or 0 for p in denominator_parts))
    return protect_share(cells[numerator], denominator, denominator_parts)


def quarter_label(quarter: date) -> str:
    """Return a quarter in French, e.g. "T1 2026"."""
    return f"T{(quarter.month - 1) // 3 + 1} {quarter.year}"


def is_quarter(filters: Filters) -> bool:
    """Tell whether the filters ask for exactly one calendar quarter (the only period whose
    totals are shown)."""
    return filters.first == quarter_of(filters.first) and filters.last == next_month(
        next_month(filters.first)
    )


def _count_table(
    indicator: Indicator, months: list[date], quarters: dict[date, dict], whole_quarter: bool
) -> IndicatorTable:
    keys = [k for k, _ in indicator.columns]
    rows = []
    for month in months:
        protected = quarters[quarter_of(month)][indicator.key]
        index = quarter_months(quarter_of(month)).index(month)
        cells = protected.cells[index]
        by_key = dict(zip(keys, cells, strict=True))
        rows.append(
            TableRow(
                month,
                month_label(month),
                cells,
                protected.row_totals[index] if indicator.row_total else None,
                _share(indicator, by_key) if indicator.share else None,
                _share_empty(indicator, by_key),
            )
        )
    if not whole_quarter:
        # No total over a free period: it would be the difference between two periods.
        return IndicatorTable(indicator, tuple(rows))
    protected = quarters[quarter_of(months[0])][indicator.key]
    total_share = (
        _share(indicator, dict(zip(keys, protected.column_totals, strict=True)))
        if indicator.share
        else None
    )
    # A stock's sum over the months means nothing: its period cell is left empty (None).
    totals = tuple(
        None if key in indicator.stocks else cell
        for key, cell in zip(keys, protected.column_totals, strict=True)
    )
    return IndicatorTable(
        indicator,
        tuple(rows),
        totals,
        protected.total if indicator.row_total else None,
        total_share,
    )


def duration_label(lower: int, upper: int | None) -> str:
    """Return a bucket of hours in French: hours up to two days, days beyond."""

    def unit(hours: int) -> str:
        return f"{hours} h" if hours < 48 else f"{hours // 24} j"

    if upper is None:
        return f"{unit(lower)} ou plus"
    if upper <= 48:
        return f"{lower} à {upper} h"
    return f"{unit(lower)} à {unit(upper)}"


def _percentile(histogram: dict[str, int], fraction: float) -> str | None:
    people = sum(histogram.values())
    if not people:
        return None
    rank, seen = fraction * people, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            lower = int(bucket)
            higher = [b for b in DURATION_BUCKETS if b > lower]
            return duration_label(lower, higher[0] if higher else None)
    return None  # pragma: no cover - the loop always reaches the rank


def _duration_table(
    indicator: Indicator,
    months: list[date],
    counts: dict,
    whole_quarter: bool,
    people: dict[date, ProtectedTable] | None = None,
) -> IndicatorTable:
    per_month: dict[date, dict[str, int]] = defaultdict(dict)
    for (key, month, bucket), n in counts.items():
        if key == indicator.key:
            per_month[month][bucket] = n
    # People per month are protected per calendar quarter, like the count tables (with
    # every level of the scope: `people`; alone when not given).
    if people is None:
        people = {
            q: protect_table([[sum(per_month[m].values())] for m in quarter_months(q)])
            for q in {quarter_of(m) for m in months}
        }
    rows = []
    for month in months:
        quarter = quarter_of(month)
        cell = people[quarter].cells[quarter_months(quarter).index(month)][0]
        hist = per_month[month]
        n = sum(hist.values())
        median = _percentile(hist, 0.5) if protect_statistic(0.0, n) is not None else None
        p90 = _percentile(hist, 0.9) if protect_statistic(0.0, n) is not None else None
        rows.append(DurationRow(month, month_label(month), cell, median, p90))
    if whole_quarter:
        overall: dict[str, int] = defaultdict(int)
        for month in months:
            for bucket, n in per_month[month].items():
                overall[bucket] += n
        shown = protect_statistic(0.0, sum(overall.values())) is not None
        rows.append(
            DurationRow(
                None,
                quarter_label(months[0]),
                people[quarter_of(months[0])].total,
                _percentile(overall, 0.5) if shown else None,
                _percentile(overall, 0.9) if shown else None,
            )
        )
    return IndicatorTable(indicator, durations=tuple(rows))


def _zeros(n_rows: int, n_cols: int) -> ProtectedTable:
    zero = Cell(0)
    return ProtectedTable(
        tuple((zero,) * n_cols for _ in range(n_rows)), (zero,) * n_rows, (zero,) * n_cols, zero
    )


def _empty() -> dict[str, ProtectedTable]:
    """Return the tables of a quarter or a node without any activity (zeros: nothing to hide)."""
    return {
        i.key: _zeros(3, 1 if i.kind == "duration" else len(i.columns))
        for i in INDICATORS
        if i.available
    }


@dataclass(frozen=True)
class Indicators:
    """Every indicator's protected table, and the date of the figures when they are late."""

    tables: list[IndicatorTable]
    #: When the stored releases predate the aggregates: when they were computed.
    as_of: datetime | None = None

    @property
    def as_of_label(self) -> str | None:
        """Return the French note of late figures, e.g. "chiffres du 07/12/2026 à 13:40"."""
        if self.as_of is None:
            return None
        local = self.as_of.astimezone(clock.PARIS)
        return f"chiffres du {local:%d/%m/%Y à %H:%M}"


def build_indicators(filters: Filters, scope: Scope) -> Indicators:
    """Return every indicator's protected table for the filters.

    The cells come from the quarters' stored releases (every level protected together by the
    refresh job; raises ``ReleasesPending`` before its first run); only the durations'
    histograms of the node asked for are read here (for the medians).
    """
    months = months_between(filters.first, filters.last)
    whole_quarter = is_quarter(filters)
    stored = releases(scope, {quarter_of(m) for m in months})
    tree = stored.tree
    node = node_of(tree, filters.territory_id, filters.team_id, scope)
    quarters = {
        q: release.get(node or (-1, -1)) or _empty() for q, release in stored.by_quarter.items()
    }
    durations = [i.key for i in INDICATORS if i.available and i.kind == "duration"]
    counts = {}
    if node is not None:
        counts = load_counts(tree.team_ids(node), filters.first, filters.last, durations)
    tables = []
    for indicator in INDICATORS:
        if not indicator.available:
            tables.append(IndicatorTable(indicator))
        elif indicator.kind == "duration":
            people = {q: release[indicator.key] for q, release in quarters.items()}
            tables.append(_duration_table(indicator, months, counts, whole_quarter, people))
        else:
            tables.append(_count_table(indicator, months, quarters, whole_quarter))
    return Indicators(tables, stored.as_of)


def build_tables(filters: Filters, scope: Scope) -> list[IndicatorTable]:
    """Return every indicator's protected table for the filters (``build_indicators``)."""
    return build_indicators(filters, scope).tables


__all__ = [
    "HIDDEN",
    "Filters",
    "IndicatorTable",
    "Indicators",
    "ReleasesPending",
    "build_indicators",
    "build_tables",
    "filter_options",
    "parse_filters",
]
