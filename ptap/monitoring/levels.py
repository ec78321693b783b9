"""Protecting the region's, each territory's and each team's tables together.

A territory's table is the sum of its teams' tables, and the region's the sum of its
territories'. Protected one by one, a team's hidden cell came back as "territory minus the
other teams" (and a territory's as "region minus the other territories"). So a quarter's
tables of one indicator, at every level a user can ask for, form one linked problem for
``secrecy.protect_linked``: the row and column equations of every table, plus, for every
entry (month or quarter, column or total), "the parent's entry is the sum of its children's".
Its exact attacker check then covers every linear combination of the figures shown across
the levels, totals and months included.

Nodes are tuples, so entries sort: ``REGION`` = (0, 0) (every team of the scope), a territory
(1, id) (the scope's teams in it), a team (2, id).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from ptap.monitoring.secrecy import (
    ProtectedTable,
    Term,
    bordered_equations,
    bordered_grid,
    protect_linked,
    shown_table,
)

Node = tuple[int, int]
Entry = tuple[Node, int, int]
REGION: Node = (0, 0)


def territory_node(territory_id: int) -> Node:
    """Return the node of a territory."""
    return (1, territory_id)


def team_node(team_id: int) -> Node:
    """Return the node of a team."""
    return (2, team_id)


@dataclass(frozen=True)
class Tree:
    """The levels of a scope: the region, its territories, their teams."""

    #: territory id -> the ids of its teams in the scope.
    territories: Mapping[int, tuple[int, ...]]

    def children(self) -> dict[Node, list[Node]]:
        """Return each inner node's children."""
        links = {REGION: [territory_node(t) for t in sorted(self.territories)]}
        for territory, teams in self.territories.items():
            links[territory_node(territory)] = [team_node(t) for t in sorted(teams)]
        return links

    def team_ids(self, node: Node) -> list[int]:
        """Return the ids of the teams a node sums."""
        level, key = node
        if level == 2:
            return [key]
        if level == 1:
            return list(self.territories.get(key, ()))
        return [t for teams in self.territories.values() for t in teams]

    def nodes(self) -> list[Node]:
        """Return every node: the region, the territories, the teams."""
        return [REGION, *(territory_node(t) for t in sorted(self.territories)), *self.leaves()]

    def leaves(self) -> list[Node]:
        """Return the team nodes."""
        return [team_node(t) for teams in self.territories.values() for t in sorted(teams)]


def _sum(tables: Sequence[Sequence[Sequence[int]]], n_rows: int, n_cols: int) -> list[list[int]]:
    return [[sum(t[i][j] for t in tables) for j in range(n_cols)] for i in range(n_rows)]


def protect_levels(
    leaves: Mapping[Node, Sequence[Sequence[int]]],
    tree: Tree,
    shape: tuple[int, int],
    hide: Collection[Entry] = (),
    free: Collection[Entry] = (),
) -> dict[Node, ProtectedTable]:
    """Protect one table per node (the teams' as given, the others summed) as one problem.

    `leaves`: each team's rows (missing teams count 0); `shape`: (rows, columns) of a table;
    `hide`: entries (node, i, j) of the bordered tables to hide from the start; `free`: those
    never shown (see ``secrecy.protect_linked``).
    """
    n_rows, n_cols = shape
    zeros = [[0] * n_cols for _ in range(n_rows)]
    children = tree.children()
    raw: dict[Node, list[list[int]]] = {
        leaf: [list(r) for r in leaves.get(leaf, zeros)] for leaf in tree.leaves()
    }
    for territory in children[REGION]:
        raw[territory] = _sum([raw[c] for c in children[territory]], n_rows, n_cols)
    raw[REGION] = _sum([raw[c] for c in children[REGION]], n_rows, n_cols)
    grids = {node: bordered_grid(rows) for node, rows in raw.items()}
    values = {
        (node, i, j): v
        for node, grid in grids.items()
        for i, row in enumerate(grid)
        for j, v in enumerate(row)
    }
    row_eqs: list[list[Term]] = []
    column_eqs: list[list[Term]] = []
    for node in sorted(grids):
        rows, columns = bordered_equations(node, n_rows, n_cols)
        row_eqs += rows
        column_eqs += columns
    # A parent's entry is the sum of its children's, for every entry of the bordered table.
    level_eqs: list[list[Term]] = [
        [((child, i, j), 1) for child in kids] + [((parent, i, j), -1)]
        for parent, kids in children.items()
        if kids
        for i in range(n_rows + 1)
        for j in range(n_cols + 1)
    ]
    hidden = protect_linked(values, row_eqs + column_eqs + level_eqs, hide, free)
    return {node: shown_table(grid, _hidden_in(hidden, node)) for node, grid in grids.items()}


def _hidden_in(hidden: set[Entry], node: Node) -> Callable[[int, int], bool]:
    return lambda i, j: (node, i, j) in hidden
