"""A quarter's protected tables at every level of a scope, computed by the job and stored.

The unit of protection is a calendar quarter (three months and their totals) of every level:
the region (every team), each territory, each team; a coordinator reads the same release
restricted to their teams (each team's table is protected once, whoever reads it). One
indicator's tables at these levels are protected as one linked problem (``levels``), and the
tables that show the same figure (``SHARED_FIGURES``) hide it in the same months at every
level. Solving it takes seconds at regional scale, so it never runs in a request: the refresh
job (``store_releases``, after the aggregates) computes the release of every quarter whose
aggregates changed (a checksum of its rows and of the scope's teams) and stores it in
``monitoring_releases``; pages, the API, the exports and the reports read it (``releases``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from ptap.care_teams.models import CareTeam
from ptap.core.errors import DomainError
from ptap.core.models import utcnow
from ptap.extensions import db
from ptap.monitoring.indicators import INDICATORS, Indicator
from ptap.monitoring.levels import Node, Tree, protect_levels, team_node, territory_node
from ptap.monitoring.models import MonitoringCount, MonitoringRelease
from ptap.monitoring.permissions import Scope
from ptap.monitoring.secrecy import Cell, ProtectedTable
from ptap.monitoring.services import months_between, next_month

#: Figures shown by several tables: each group's tables hide the same months of it. The
#: value is the column holding it (None: the row total).
SHARED_FIGURES: tuple[dict[str, str | None], ...] = (
    {"requests_requester": None, "requests_channel": None, "requests_mission": None},
    {"mix_age": None, "mix_sex": None, "file": "new"},
)
#: The region: the single linked problem every reader's release is cut from.
ALL = Scope(None)
#: Its stored name (``monitoring_releases.scope``).
ALL_KEY = "all"
#: Parsed releases kept in memory (a release: one quarter of one scope, every level).
CACHE_SIZE = 64

log = logging.getLogger(__name__)

Release = dict[Node, dict[str, ProtectedTable]]
_cache: OrderedDict[tuple[int, str], Release] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every parsed release (tests)."""
    with _lock:
        _cache.clear()


def quarter_of(month: date) -> date:
    """Return the first month of a month's calendar quarter."""
    return date(month.year, 3 * ((month.month - 1) // 3) + 1, 1)


def quarter_months(quarter: date) -> list[date]:
    """Return the three months of a quarter."""
    return months_between(quarter, next_month(next_month(quarter)))


def load_tree(scope: Scope) -> Tree:
    """Return the scope's territories and teams (their current territory)."""
    stmt = sa.select(CareTeam.id, CareTeam.territory_id)
    if scope.team_ids is not None:
        stmt = stmt.where(CareTeam.id.in_(list(scope.team_ids)))
    territories: dict[int, list[int]] = defaultdict(list)
    for team_id, territory_id in db.session.execute(stmt):
        territories[territory_id].append(team_id)
    return Tree({t: tuple(sorted(teams)) for t, teams in territories.items()})


def _scoped(stmt: sa.Select, scope: Scope) -> sa.Select:
    if scope.team_ids is not None:
        return stmt.where(MonitoringCount.team_id.in_(list(scope.team_ids)))
    return stmt


def _fingerprints(scope: Scope, quarters: Iterable[date]) -> dict[date, tuple]:
    """Return a checksum of each quarter's rows (one query): any rewrite changes it."""
    c = MonitoringCount
    quarters = sorted(quarters)
    stmt = _scoped(
        sa.select(
            c.month,
            sa.func.count(),
            sa.func.sum(c.value),
            sa.func.sum(c.value * c.id),
            sa.func.sum(c.id * c.team_id),
            sa.func.sum(c.id * sa.func.length(c.dimension)),
            sa.func.sum(c.value * sa.func.length(c.indicator)),
        )
        .where(c.month >= quarters[0], c.month < next_month(quarter_months(quarters[-1])[-1]))
        .group_by(c.month),
        scope,
    )
    sums: dict[date, list] = defaultdict(list)
    for month, *checks in db.session.execute(stmt):
        sums[quarter_of(month)].append((month, *(int(x or 0) for x in checks)))
    return {q: tuple(sorted(sums[q])) for q in quarters}


def load_team_counts(scope: Scope, quarter: date) -> dict[tuple[int, str, date, str], int]:
    """Return a quarter's aggregates per team: (team, indicator, month, dimension) -> count."""
    c = MonitoringCount
    stmt = _scoped(
        sa.select(c.team_id, c.indicator, c.month, c.dimension, sa.func.sum(c.value))
        .where(c.month >= quarter, c.month < next_month(quarter_months(quarter)[-1]))
        .group_by(c.team_id, c.indicator, c.month, c.dimension),
        scope,
    )
    return {(t, i, m, d): int(v) for t, i, m, d, v in db.session.execute(stmt)}


def _leaf_rows(
    indicator: Indicator, months: list[date], counts: dict, tree: Tree
) -> dict[Node, list[list[int]]]:
    if indicator.kind == "duration":
        buckets: dict[tuple[int, date], int] = defaultdict(int)
        for (team, key, month, _), n in counts.items():
            if key == indicator.key:
                buckets[(team, month)] += n
        return {
            team_node(t): [[buckets[(t, m)]] for m in months]
            for teams in tree.territories.values()
            for t in teams
        }
    keys = [k for k, _ in indicator.columns]
    return {
        team_node(t): [[counts.get((t, indicator.key, m, k), 0) for k in keys] for m in months]
        for teams in tree.territories.values()
        for t in teams
    }


def _shared_column(indicator: Indicator, group: dict[str, str | None]) -> int:
    keys = [k for k, _ in indicator.columns]
    column = group[indicator.key]
    return keys.index(column) if column else len(keys)


def _unpublished(indicator: Indicator, n_months: int, tree: Tree) -> set:
    """Return the entries computed but never shown: the row totals of a table whose columns
    overlap, and a stock's sum over the months. They are unknowns to an attacker, so they
    start hidden (counting them as shown made the line rule hide large visible cells, e.g.
    the people followed at a month's end beside a small number of inclusions); they stay
    figures the attacker may compute, never counts to protect."""
    if indicator.kind == "duration":
        return set()
    keys = [k for k, _ in indicator.columns]
    entries = set()
    if not indicator.row_total:
        entries |= {(i, len(keys)) for i in range(n_months + 1)}
    entries |= {(n_months, keys.index(k)) for k in indicator.stocks}
    return {(node, i, j) for node in tree.nodes() for i, j in entries}


def protect_quarter(quarter: date, counts: dict, tree: Tree) -> Release:
    """Protect every table of one quarter at every level; return node -> indicator -> table.

    Count tables are months x columns; a duration's table counts its people per month. Tables
    that show the same figure hide it in the same entries: hidden in one, hidden in all, until
    nothing changes.
    """
    months = quarter_months(quarter)
    indicators = [i for i in INDICATORS if i.available]
    leaves = {i.key: _leaf_rows(i, months, counts, tree) for i in indicators}
    shapes = {
        i.key: (len(months), 1 if i.kind == "duration" else len(i.columns)) for i in indicators
    }
    hide: dict[str, set] = defaultdict(set)
    free = {i.key: _unpublished(i, len(months), tree) for i in indicators}
    protected = {
        key: protect_levels(leaves[key], tree, shapes[key], hide[key], free[key]) for key in leaves
    }
    while True:
        changed = set()
        for group in SHARED_FIGURES:
            columns = {i.key: _shared_column(i, group) for i in indicators if i.key in group}
            wanted = {
                (node, i, j)
                for key, j in columns.items()
                for node, table in protected[key].items()
                for i in range(len(months) + 1)
                if table.at(i, j).suppressed
            }
            for key, j in columns.items():
                entries = {(node, i, j) for node, i, _ in wanted}
                if not entries <= hide[key]:
                    hide[key] |= entries
                    changed.add(key)
        if not changed:
            break
        for key in changed:
            protected[key] = protect_levels(leaves[key], tree, shapes[key], hide[key], free[key])
    release: Release = defaultdict(dict)
    for key, tables in protected.items():
        for node, table in tables.items():
            release[node][key] = table
    return dict(release)


class ReleasesPending(DomainError):
    """A quarter with data has no stored release yet: the job has not run since."""

    status = 503
    title = (
        "Indicateurs en cours de calcul : les chiffres protégés par le secret statistique "
        "seront disponibles après le prochain calcul (quelques minutes)."
    )


@dataclass(frozen=True)
class Releases:
    """The scope's tree and each quarter's release, as stored by the job."""

    tree: Tree
    by_quarter: dict[date, Release]
    #: When a release shown is older than the aggregates: the oldest such computation.
    as_of: datetime | None = None


def _checksum(rows: tuple, tree: Tree) -> str:
    return hashlib.sha256(repr((rows, sorted(tree.territories.items()))).encode()).hexdigest()


def _node_name(node: Node) -> str:
    return f"{node[0]}:{node[1]}"


def _dump(tree: Tree, release: Release) -> dict[str, Any]:
    """Return a release as JSON: each table's bordered grid, null where hidden."""
    return {
        "tree": {str(t): list(teams) for t, teams in tree.territories.items()},
        "nodes": {
            _node_name(node): {
                key: [
                    [table.at(i, j).value for j in range(len(table.column_totals) + 1)]
                    for i in range(len(table.cells) + 1)
                ]
                for key, table in tables.items()
            }
            for node, tables in release.items()
        },
    }


def _table(grid: list[list[int | None]]) -> ProtectedTable:
    cells = [tuple(Cell(v) for v in row) for row in grid]
    return ProtectedTable(
        tuple(row[:-1] for row in cells[:-1]),
        tuple(row[-1] for row in cells[:-1]),
        cells[-1][:-1],
        cells[-1][-1],
    )


def _load(payload: dict[str, Any]) -> Release:
    release: Release = {}
    for name, tables in payload["nodes"].items():
        level, key = name.split(":")
        release[(int(level), int(key))] = {k: _table(grid) for k, grid in tables.items()}
    return release


def _restricted(release: Release, scope: Scope) -> Release:
    """Return the nodes of a release a scope may read: a coordinator's teams only."""
    if scope.team_ids is None:
        return release
    return {node: tables for node, tables in release.items() if _visible(node, scope)}


def _visible(node: Node, scope: Scope) -> bool:
    return node[0] == 2 and scope.allows(node[1])


def releases(scope: Scope, quarters: Iterable[date]) -> Releases:
    """Return the scope's tree and each quarter's stored release (never computed here).

    Every team's table is protected once, in the region's linked problem (``ALL``); a
    coordinator reads that single release restricted to their teams' nodes, so the same team
    shows the same hidden cells whatever the set of teams its reader coordinates.

    A quarter without any aggregate is empty (every level shows zeros). A release computed
    from older aggregates is shown, and ``as_of`` says when it was computed; a quarter with
    data and no release at all raises ``ReleasesPending``. Parsed payloads are kept in a
    small in-process cache keyed by the stored row and its checksum.
    """
    quarters = sorted(set(quarters))
    tree = load_tree(ALL)
    prints = _fingerprints(ALL, quarters)
    wanted = [q for q in quarters if prints[q]]
    out: dict[date, Release] = {q: {} for q in quarters}
    shown_tree = tree if scope.team_ids is None else load_tree(scope)
    if not wanted:
        return Releases(shown_tree, out)
    r = MonitoringRelease
    stored = {
        row.quarter: row
        for row in db.session.execute(
            sa.select(r.id, r.quarter, r.checksum, r.computed_at).where(
                r.scope == ALL_KEY, r.quarter.in_(wanted)
            )
        )
    }
    if missing := [q for q in wanted if q not in stored]:
        log.info("monitoring releases pending: %s", missing)
        raise ReleasesPending()
    with _lock:
        parsed = {q: _cache.get((row.id, row.checksum)) for q, row in stored.items()}
    if to_read := [row.id for q, row in stored.items() if parsed[q] is None]:
        payloads = db.session.execute(sa.select(r.id, r.payload).where(r.id.in_(to_read)))
        loaded = {row_id: _load(payload) for row_id, payload in payloads}
        with _lock:
            for q, row in stored.items():
                if row.id in loaded:
                    parsed[q] = _cache[(row.id, row.checksum)] = loaded[row.id]
                if (row.id, row.checksum) in _cache:
                    _cache.move_to_end((row.id, row.checksum))
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    stale = [
        row.computed_at for q, row in stored.items() if row.checksum != _checksum(prints[q], tree)
    ]
    out.update(
        {q: _restricted(release, scope) for q, release in parsed.items() if release is not None}
    )
    return Releases(shown_tree, out, min(stale) if stale else None)


def store_releases() -> int:
    """Compute and store the region's release of every quarter whose aggregates changed.

    One linked problem per quarter (region, territories, teams) is the single source of
    every reader's figures (``releases``). Each release is committed on its own: an
    interrupted run keeps what it stored, and the next run computes only what is still out
    of date. Rows of other scopes (stored per coordinator by earlier versions) are deleted.
    Returns how many were computed.
    """
    r = MonitoringRelease
    if db.session.execute(sa.delete(r).where(r.scope != ALL_KEY)).rowcount:  # type: ignore[attr-defined]
        db.session.commit()
    c = MonitoringCount
    months = db.session.scalars(sa.select(c.month).distinct())
    quarters = sorted({quarter_of(m) for m in months})
    if not quarters:
        return 0
    computed = 0
    tree = load_tree(ALL)
    prints = _fingerprints(ALL, quarters)
    stored = {
        row.quarter: row
        for row in db.session.scalars(
            sa.select(r).where(r.scope == ALL_KEY).options(orm.defer(r.payload))
        ).all()
    }
    for quarter in quarters:
        checksum = _checksum(prints[quarter], tree)
        row = stored.get(quarter)
        if not prints[quarter] or (row is not None and row.checksum == checksum):
            continue
        # The checksum sees every rewrite (the current month is rewritten by every run):
        # the quarter is solved again only when its counts or its tree really changed.
        counts = load_team_counts(ALL, quarter)
        data_hash = _checksum(tuple(sorted(counts.items())), tree)
        if row is not None and row.data_hash == data_hash:
            row.checksum = checksum
            db.session.commit()
            continue
        release = protect_quarter(quarter, counts, tree)
        if row is None:
            row = MonitoringRelease(scope=ALL_KEY, quarter=quarter)
            db.session.add(row)
        row.checksum, row.data_hash = checksum, data_hash
        row.payload, row.computed_at = _dump(tree, release), utcnow()
        db.session.commit()
        computed += 1
    return computed


def node_of(
    tree: Tree, territory_id: int | None, team_id: int | None, scope: Scope = ALL
) -> Node | None:
    """Return the node the filters ask for, or None when it holds no team of the scope.

    A coordinator's scope has team nodes only: the region's and the territories' tables sum
    other teams, and a sum over the coordinator's teams is no table of the linked problem.
    """
    if scope.team_ids is not None and (team_id is None or not scope.allows(team_id)):
        return None
    if team_id is not None:
        territory = next((t for t, teams in tree.territories.items() if team_id in teams), None)
        if territory is None or territory_id not in (None, territory):
            return None
        return team_node(team_id)
    if territory_id is not None:
        return territory_node(territory_id) if territory_id in tree.territories else None
    return (0, 0)
