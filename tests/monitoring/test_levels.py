"""Region, territory and team tables cannot be subtracted from one another.

The attacker of these tests collects every figure shown at every level and solves the
additive equations exactly (rational arithmetic, an elimination written apart from the
module's): no hidden count from 1 to 10 may be determined.
"""

import random
from datetime import date
from fractions import Fraction

from ptap.extensions import db
from ptap.monitoring import queries, releases
from ptap.monitoring.indicators import BY_KEY
from ptap.monitoring.levels import REGION, Tree, protect_levels, team_node, territory_node
from ptap.monitoring.models import MonitoringCount
from ptap.monitoring.permissions import Scope
from ptap.monitoring.secrecy import protect_table


def solved(equations):
    """Return the unknowns fixed by equations {unknown: coefficient} (constants left out):
    reduced row echelon form over the rationals; a row with one entry fixes its unknown."""
    pivots = {}
    for equation in equations:
        row = {k: Fraction(v) for k, v in equation.items() if v}
        for col, pivot in pivots.items():
            if row.get(col):
                f = row[col]
                for k, v in pivot.items():
                    row[k] = row.get(k, 0) - f * v
                row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        col = min(row, key=str)
        row = {k: v / row[col] for k, v in row.items()}
        for other in pivots.values():
            if other.get(col):
                f = other[col]
                for k, v in row.items():
                    other[k] = other.get(k, 0) - f * v
                for k in [k for k, v in other.items() if not v]:
                    del other[k]
        pivots[col] = row
    return {col for col, row in pivots.items() if len(row) == 1}


def _bordered(rows):
    grid = [list(r) + [sum(r)] for r in rows]
    grid.append([sum(c) for c in zip(*grid, strict=True)])
    return grid


def _attack(shown, truth, children):
    """Hidden primary entries (node, i, j) an attacker determines from tables by node.

    `shown`: node -> ProtectedTable; `truth`: node -> bordered grid of the true values."""
    hidden = {
        (node, i, j)
        for node, table in shown.items()
        for i in range(len(truth[node]))
        for j in range(len(truth[node][0]))
        if table.at(i, j).suppressed
    }
    equations = []

    def add(terms):
        eq = {}
        for key, coef in terms:
            if key in hidden:
                eq[key] = eq.get(key, 0) + coef
        if eq:
            equations.append(eq)

    for node, grid in truth.items():
        n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
        for i in range(n_rows + 1):
            add([((node, i, j), 1) for j in range(n_cols)] + [((node, i, n_cols), -1)])
        for j in range(n_cols + 1):
            add([((node, i, j), 1) for i in range(n_rows)] + [((node, n_rows, j), -1)])
    for parent, kids in children.items():
        if kids:
            for i in range(len(truth[parent])):
                for j in range(len(truth[parent][0])):
                    add([((k, i, j), 1) for k in kids] + [((parent, i, j), -1)])
    return {key for key in solved(equations) if 0 < truth[key[0]][key[1]][key[2]] < 11}


def _truth(tree, leaves, shape):
    zeros = [[0] * shape[1] for _ in range(shape[0])]
    raw = {leaf: leaves.get(leaf, zeros) for leaf in tree.leaves()}
    children = tree.children()
    for territory in children[REGION]:
        kids = [raw[k] for k in children[territory]] or [zeros]
        raw[territory] = [
            [sum(t[i][j] for t in kids) for j in range(shape[1])] for i in range(shape[0])
        ]
    kids = [raw[k] for k in children[REGION]] or [zeros]
    raw[REGION] = [[sum(t[i][j] for t in kids) for j in range(shape[1])] for i in range(shape[0])]
    return {node: _bordered(rows) for node, rows in raw.items()}, children


def _check(tree, leaves, shape):
    shown = protect_levels(leaves, tree, shape)
    truth, children = _truth(tree, leaves, shape)
    for node, grid in truth.items():
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                cell = shown[node].at(i, j)
                assert cell.suppressed or cell.value == value
                assert not (0 < value < 11) or cell.suppressed, (node, i, j)
    assert _attack(shown, truth, children) == set()
    return shown, truth, children


def test_territory_minus_the_visible_teams_gives_no_team_away():
    tree = Tree({1: (10, 11)})
    leaves = {team_node(10): [[3, 40]], team_node(11): [[50, 60]]}
    # Protected one by one, the territory's 53 minus the other team's 50 gives the 3 away.
    separate = {node: protect_table(rows) for node, rows in leaves.items()}
    truth, children = _truth(tree, leaves, (1, 2))
    separate[territory_node(1)] = protect_table([[53, 100]])
    separate[REGION] = protect_table([[53, 100]])
    assert (team_node(10), 0, 0) in _attack(separate, truth, children)
    shown, _, _ = _check(tree, leaves, (1, 2))
    assert shown[team_node(10)].at(0, 0).suppressed
    # Something else at the team or territory level is hidden to cover it.
    assert shown[team_node(11)].at(0, 0).suppressed or shown[territory_node(1)].at(0, 0).suppressed


def test_region_minus_the_visible_territories_gives_no_territory_away():
    tree = Tree({1: (10,), 2: (20, 21)})
    leaves = {
        team_node(10): [[4, 30], [25, 35]],
        team_node(20): [[40, 50], [60, 70]],
        team_node(21): [[15, 20], [30, 45]],
    }
    shown, _, _ = _check(tree, leaves, (2, 2))
    # A territory of one team shows the same cells as its team.
    assert shown[territory_node(1)] == shown[team_node(10)]
    assert shown[territory_node(1)].at(0, 0).suppressed


def test_a_total_minus_one_visible_cell_gives_nothing_away_at_any_level():
    tree = Tree({1: (10,)})
    shown, _, _ = _check(tree, {team_node(10): [[3, 50], [40, 60]]}, (2, 2))
    for node in (REGION, territory_node(1), team_node(10)):
        table = shown[node]
        assert table.cells[0][0].suppressed
        assert sum(c.suppressed for c in (*table.cells[0], table.row_totals[0])) >= 2
        assert sum(c.suppressed for c in (table.cells[0][0], table.cells[1][0])) >= 2 or (
            table.column_totals[0].suppressed
        )


def test_random_hierarchies_determine_no_hidden_small_count():
    for seed in range(40):
        rng = random.Random(seed)
        territories = {
            t: tuple(range(10 * t, 10 * t + rng.randint(1, 3)))
            for t in range(1, rng.randint(2, 3) + 1)
        }
        tree = Tree(territories)
        shape = (rng.randint(1, 3), rng.randint(1, 3))

        def draw(rng=rng):
            return rng.choice((0, rng.randint(1, 10), rng.randint(1, 10), rng.randint(11, 40)))

        leaves = {
            leaf: [[draw() for _ in range(shape[1])] for _ in range(shape[0])]
            for leaf in tree.leaves()
        }
        _check(tree, leaves, shape)


CHANNELS = [k for k, _ in BY_KEY["requests_channel"].columns]
MISSIONS = [k for k, _ in BY_KEY["requests_mission"].columns]
Q1 = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def _store(world, seed):
    rng = random.Random(seed)
    for team in world.teams:
        for month in Q1:
            row = [rng.choice((0, rng.randint(1, 10), rng.randint(11, 30))) for _ in CHANNELS]
            for key, dims in (
                ("requests_channel", zip(CHANNELS, row, strict=True)),
                ("requests_mission", [(MISSIONS[2], sum(row))]),
            ):
                for dimension, value in dims:
                    if value:
                        db.session.add(
                            MonitoringCount(
                                territory_id=team.territory_id,
                                team_id=team.id,
                                month=month,
                                indicator=key,
                                dimension=dimension,
                                value=value,
                            )
                        )
    db.session.flush()
    releases.store_releases()


def _published(world):
    """Node -> indicator -> ProtectedTable-like grid of cells, from build_tables (Q1)."""
    north, south = world.territories
    asks = {REGION: (None, None)}
    asks |= {territory_node(t.id): (t.id, None) for t in world.territories}
    asks |= {team_node(t.id): (None, t.id) for t in world.teams}
    out = {}
    for node, (territory, team) in asks.items():
        filters = queries.Filters(territory, team, Q1[0], Q1[-1])
        for table in queries.build_tables(filters, Scope(None)):
            if table.indicator.key in ("requests_channel", "requests_mission"):
                grid = [[*r.cells, r.total] for r in table.rows]
                grid.append([*table.totals, table.total])
                out[(node, table.indicator.key)] = grid
    return out


def test_published_levels_resist_an_attacker_knowing_the_shared_totals(db, world, monkeypatch):
    for seed in range(3):
        db.session.query(MonitoringCount).delete()
        _store(world, seed)
        shown = _published(world)
        counts = releases.load_team_counts(Scope(None), Q1[0])
        truth = {}
        for team in world.teams:
            for key, dims in (("requests_channel", CHANNELS), ("requests_mission", MISSIONS)):
                rows = [[counts.get((team.id, key, m, d), 0) for d in dims] for m in Q1]
                truth[(team_node(team.id), key)] = rows
        tree = releases.load_tree(Scope(None))
        children = tree.children()
        for key in ("requests_channel", "requests_mission"):
            leaves = {leaf: truth[(leaf, key)] for leaf in tree.leaves()}
            true_grids, _ = _truth(tree, leaves, (3, len(leaves[tree.leaves()[0]][0])))
            for node, grid in true_grids.items():
                truth[(node, key)] = grid
        # One attacker over both tables, every level, knowing both count the same requests.
        hidden = {
            (node, i, j)
            for node, grid in shown.items()
            for i, row in enumerate(grid)
            for j, cell in enumerate(row)
            if cell.suppressed
        }
        for node, grid in shown.items():
            for i, row in enumerate(grid):
                for j, cell in enumerate(row):
                    assert cell.suppressed or cell.value == truth[node][i][j]
        equations = []

        def add(terms, hidden=hidden, equations=equations):
            eq = {k: c for k, c in terms if k in hidden}
            if eq:
                equations.append(eq)

        nodes = {node for node, _ in shown}
        for node, key in shown:
            n_cols = len(truth[(node, key)][0]) - 1
            for i in range(4):
                add(
                    [(((node, key), i, j), 1) for j in range(n_cols)]
                    + [(((node, key), i, n_cols), -1)]
                )
            for j in range(n_cols + 1):
                add([(((node, key), i, j), 1) for i in range(3)] + [(((node, key), 3, j), -1)])
            for parent, kids in children.items():
                if node == parent and kids:
                    for i in range(4):
                        for j in range(n_cols + 1):
                            add(
                                [(((k, key), i, j), 1) for k in kids]
                                + [(((parent, key), i, j), -1)]
                            )
        for node in nodes:
            channel = len(CHANNELS)
            mission = len(MISSIONS)
            for i in range(4):
                add(
                    [
                        (((node, "requests_channel"), i, channel), 1),
                        (((node, "requests_mission"), i, mission), -1),
                    ]
                )
        found = {k for k in solved(equations) if 0 < truth[k[0]][k[1]][k[2]] < 11}
        assert found == set(), seed


def test_totals_never_shown_do_not_make_large_cells_hidden(db, world):
    """The active file's row totals and the sum of a stock over months are never shown: a
    small number of inclusions beside 77 people followed hides the inclusions only."""
    team = world.teams[2]  # alone in its territory
    rows = ([3, 77, 0], [5, 82, 0], [3, 84, 0])
    for month, row in zip(Q1, rows, strict=True):
        for dimension, value in zip(("new", "ongoing", "exits"), row, strict=True):
            if value:
                db.session.add(
                    MonitoringCount(
                        territory_id=team.territory_id,
                        team_id=team.id,
                        month=month,
                        indicator="file",
                        dimension=dimension,
                        value=value,
                    )
                )
    db.session.flush()
    releases.store_releases()
    filters = queries.Filters(None, team.id, Q1[0], Q1[-1])
    [table] = [t for t in queries.build_tables(filters, Scope(None)) if t.indicator.key == "file"]
    assert [[c.label for c in r.cells] for r in table.rows] == [
        ["s", "77", "0"],
        ["s", "82", "0"],
        ["s", "84", "0"],
    ]
    assert table.totals[0].value == 11 and table.totals[1] is None
