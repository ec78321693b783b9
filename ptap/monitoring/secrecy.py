"""Statistical secrecy (secret statistique) of the tables shown to the agency: pure functions.

The rule applied, after the usual French practice for health-activity statistics:

* **Primary suppression.** Every count from 1 to 10 is hidden, never the number. A count of
  0 is shown as 0: an empty cell reveals nobody, and hiding zeros would make most tables of a
  small team unreadable.
* **Secondary suppression.** A table is shown with its row totals, column totals and grand
  total. Each row and each column of that bordered table is an equation (cells add up to the
  total); an equation with exactly one hidden term gives that term away ("total minus the
  visible cells"). So, until no equation has exactly one hidden term, another term of each
  such equation is hidden: the smallest positive visible cell (a zero only if nothing else is
  left), or the total when every cell is already hidden. Then the whole system is solved as
  an attacker would (row echelon form): while it still determines a hidden count from 1 to
  10 exactly, one more entry beside it is hidden and the rule above applied again. Nothing is
  ever un-hidden, so this ends.
* **One label.** Every hidden cell shows "s" (secret), whatever hid it: saying "< 11" for
  small counts only would tell that the other hidden cells are 0 or at least 11, and such
  bounds can pin a small count (a row 1 + 11 = 12 shown "< 11", "s", 12 gives 1 away).
* **Statistics on people.** A median or percentile computed over fewer than 11 people is
  hidden, as is a share whose numerator or denominator comes from a hidden cell, or whose
  denominator is below 11 (a share of a small group reveals its numerator).

Linked tables: ``protect_linked`` applies the same rules to any set of figures and the
equations that tie them (``levels`` protects the region's, territories' and teams' tables of
a quarter together; ``protect_table`` is the single-table case). Differencing between
periods is prevented by the caller (``queries``/``releases``): tables are protected per
calendar quarter, whatever period is asked for, and a period's totals are shown only for a
whole quarter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Smallest count shown: 1 to THRESHOLD - 1 are hidden.
THRESHOLD = 11
#: What a hidden cell shows instead of its value, whichever rule hid it (see "One label").
SUPPRESSED_LABEL = "s"


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell as shown: its value, or None when suppressed (the value is never kept)."""

    value: int | None

    @property
    def suppressed(self) -> bool:
        return self.value is None

    @property
    def label(self) -> str:
        return SUPPRESSED_LABEL if self.value is None else str(self.value)


HIDDEN = Cell(None)


@dataclass(frozen=True)
class ProtectedTable:
    """A table ready to show: cells, row totals, column totals and grand total, protected."""

    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...]
    column_totals: tuple[Cell, ...]
    total: Cell

    def at(self, i: int, j: int) -> Cell:
        """Return an entry of the bordered table (row len(cells): the column totals; column
        len(cells[0]): the row totals)."""
        n_rows, n_cols = len(self.cells), len(self.column_totals)
        if i < n_rows:
            return self.cells[i][j] if j < n_cols else self.row_totals[i]
        return self.column_totals[j] if j < n_cols else self.total


def is_primary(count: int) -> bool:
    """Tell whether a count must be hidden by itself (1 to 10 people)."""
    return 0 < count < THRESHOLD


#: An entry's key: a tuple, hashable and sortable, e.g. (node, row, column).
Key = Any
#: A term of an equation: an entry's key and its coefficient (+1 a part, -1 the total).
Term = tuple[Key, int]
#: Parts add up to the total: the sum of coefficient times value over the terms is 0.
Equation = Sequence[Term]
#: A prime above any count: the attacker's linear algebra is done exactly modulo it.
_PRIME = (1 << 61) - 1
#: Largest group of linked hidden entries for which the widening tries its candidates.
_SMALL_GROUP = 40


def _pick_partner(
    equation: Equation, values: Mapping, hidden: set, free: Collection = ()
) -> Key | None:
    """Return the term to hide next to a lone hidden one: the smallest positive visible part,
    else a visible zero part, else the total; None when the equation is already safe (a lone
    hidden term that is never shown, `free`, needs no partner: it is only a sum of shown
    figures)."""
    lone = [key for key, _ in equation if key in hidden]
    if len(lone) != 1 or lone[0] in free:
        return None
    parts = [(values[k], pos, k) for pos, (k, c) in enumerate(equation) if c > 0]
    visible = [p for p in parts if p[2] not in hidden]
    pool = [p for p in visible if p[0] > 0] or visible
    if pool:
        return min(pool, key=lambda p: p[:2])[2]
    return next(k for k, c in equation if c < 0 and k not in hidden)


def _secondary(
    values: Mapping, equations: Sequence[Equation], hidden: set, free: Collection = ()
) -> None:
    """Hide terms until no equation has exactly one hidden term (other than a `free` one)."""
    changed = True
    while changed:
        changed = False
        for equation in equations:
            partner = _pick_partner(equation, values, hidden, free)
            if partner is not None:
                hidden.add(partner)
                changed = True


def _components(equations: list[list[Term]]) -> list[list[list[Term]]]:
    """Split equations (hidden terms only) into groups sharing no unknown (union-find)."""
    parent: dict[Key, Key] = {}

    def find(k: Key) -> Key:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for equation in equations:
        first = find(equation[0][0])
        for key, _ in equation[1:]:
            parent[find(key)] = first
    groups: dict[Key, list[list[Term]]] = {}
    for equation in equations:
        groups.setdefault(find(equation[0][0]), []).append(equation)
    return list(groups.values())


def _determined(equations: list[list[Term]]) -> list[Key]:
    """Return the unknowns these equations fix exactly: the rows of their reduced row echelon
    form with a single non-zero entry. Computed modulo a 61-bit prime: exact integer
    arithmetic, fast, and a rank over the rationals is kept unless the prime divides a minor
    of a 0/±1 matrix (never, at these sizes, in practice; tests check with fractions)."""
    pivots: dict[Key, dict[Key, int]] = {}
    #: column -> the pivots whose row holds it (only those rows change when it is eliminated).
    holders: dict[Key, set[Key]] = defaultdict(set)
    for equation in equations:
        row: dict[Key, int] = {}
        for key, coef in equation:
            row[key] = (row.get(key, 0) + coef) % _PRIME
        for col in [c for c in row if c in pivots]:
            factor = row.get(col, 0)
            if factor:
                for k, v in pivots[col].items():
                    row[k] = (row.get(k, 0) - factor * v) % _PRIME
        row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        # The column held by the fewest rows: the least fill-in.
        col = min(row, key=lambda k: len(holders.get(k, ())))
        inverse = pow(row[col], _PRIME - 2, _PRIME)
        row = {k: v * inverse % _PRIME for k, v in row.items()}
        for pivot in holders.pop(col, set()):
            other = pivots[pivot]
            factor = other[col]
            for k, v in row.items():
                updated = (other.get(k, 0) - factor * v) % _PRIME
                if updated:
                    other[k] = updated
                    holders[k].add(pivot)
                else:
                    other.pop(k, None)
                    holders[k].discard(pivot)
        pivots[col] = row
        for k in row:
            holders[k].add(col)
    return [col for col, row in pivots.items() if len(row) == 1]


def _exposed(
    values: Mapping, equations: Sequence[Equation], hidden: set, free: Collection = ()
) -> list[Key]:
    """Return the hidden counts from 1 to 10 that the shown figures determine exactly: the
    first (in key order) of each independent group of unknowns.

    The unknowns are the hidden entries; every equation restricted to them (the visible
    terms are known numbers) constrains them. An unknown is determined when its unit vector
    lies in the equations' row space. Independent groups of unknowns are solved apart.
    """
    restricted = [[(k, c) for k, c in eq if k in hidden] for eq in equations]
    restricted = [eq for eq in restricted if eq]
    firsts = []
    for group in _components(restricted):
        keys = {k for eq in group for k, _ in eq}
        if not any(is_primary(values[k]) and k not in free for k in keys):
            continue  # no small count in this group: nothing to give away
        exposed = [key for key in _determined(group) if is_primary(values[key]) and key not in free]
        if exposed:
            firsts.append(min(exposed))
    return sorted(firsts)


def _determines(equations: Sequence[Equation], hidden: set, key: Key) -> bool:
    """Tell whether the shown figures determine the hidden entry `key` (its group only)."""
    restricted = [[(k, c) for k, c in eq if k in hidden] for eq in equations]
    group = [eq for eq in _components([eq for eq in restricted if eq]) if _holds(eq, key)]
    return bool(group) and key in _determined(group[0])


def _holds(group: list[list[Term]], key: Key) -> bool:
    return any(k == key for eq in group for k, _ in eq)


def _widen(
    values: Mapping,
    equations: Sequence[Equation],
    by_key: Mapping[Key, Sequence[Equation]],
    hidden: set,
    key: Key,
) -> None:
    """Hide one more entry next to an exposed cell.

    The candidates, in order: the positive visible entries of the equations holding it (its
    row first), smallest first, then their zeros, then the other entries of the lines linked
    to it. The first whose hiding leaves the cell undetermined, judged on the lines around
    it, is hidden (a partner in a line that another unknown already covers, such as a total
    never shown, would not help); failing that, or in a large group, the first candidate.
    Either way the loop of ``protect_linked`` checks the whole problem again. `by_key`: the
    equations of each key.
    """
    lines = [[k for k, _ in eq] for eq in by_key[key]]
    visible = [[k for k in line if k not in hidden] for line in lines]
    pools = [[k for k in line if values[k] > 0] for line in visible] + visible
    ordered = list(
        dict.fromkeys(k for pool in pools for k in sorted(pool, key=lambda k: (values[k], k)))
    )
    group = _group_of(equations, hidden, key)
    local = list({id(eq): eq for k in group for eq in by_key[k]}.values())
    linked = sorted(
        {k for eq in local for k, _ in eq} - hidden - set(ordered),
        key=lambda k: (values[k] == 0, values[k], k),
    )
    # Trying candidates costs a solve each: only for small groups (the usual case).
    tries = ordered[:8] + linked[:8] if len(group) <= _SMALL_GROUP else []
    for candidate in tries:
        around = local + list(by_key[candidate])
        if not _determines(around, hidden | {candidate}, key):
            hidden.add(candidate)
            return
    fallback = ordered or linked
    if not fallback:
        fallback = sorted((k for k in values if k not in hidden), key=lambda k: (values[k], k))
    hidden.add(fallback[0])


def _group_of(equations: Sequence[Equation], hidden: set, key: Key) -> set[Key]:
    """Return the hidden entries linked to `key` through the equations."""
    restricted = [[(k, c) for k, c in eq if k in hidden] for eq in equations]
    for group in _components([eq for eq in restricted if eq]):
        if _holds(group, key):
            return {k for eq in group for k, _ in eq}
    return {key}


def protect_linked(
    values: Mapping[Key, int],
    equations: Sequence[Equation],
    hide: Collection = (),
    free: Collection = (),
) -> set[Key]:
    """Apply primary and secondary suppression to linked figures; return the hidden keys.

    `values`: every figure (cells and totals, of every table of the problem);
    `equations`: how they add up (a row of a table, a territory's cell as the sum of its
    teams' cells...); `hide`: keys to hide from the start; `free`: keys computed but never
    shown (hidden from the start; an unknown to the attacker, not a count to protect).
    """
    free = set(free)
    hidden = {k for k, v in values.items() if is_primary(v)} | set(hide) | free
    by_key: dict[Key, list[Equation]] = defaultdict(list)
    for equation in equations:
        for key, _ in equation:
            by_key[key].append(equation)
    _secondary(values, equations, hidden, free)
    # Two hidden terms per line are not always enough (linked lines can still be solved):
    # while the shown figures determine a hidden small count, hide one more entry beside it
    # (in each independent group of hidden entries), and apply the line rule again.
    while exposed := _exposed(values, equations, hidden, free):
        for key in exposed:
            _widen(values, equations, by_key, hidden, key)
        _secondary(values, equations, hidden, free)
    return hidden


def bordered_equations(
    node: Key, n_rows: int, n_cols: int
) -> tuple[list[list[Term]], list[list[Term]]]:
    """Return the row and column equations of a bordered table (keys (node, i, j); row
    n_rows holds the column totals, column n_cols the row totals)."""
    rows = [
        [((node, i, j), 1) for j in range(n_cols)] + [((node, i, n_cols), -1)]
        for i in range(n_rows + 1)
    ]
    columns = [
        [((node, i, j), 1) for i in range(n_rows)] + [((node, n_rows, j), -1)]
        for j in range(n_cols + 1)
    ]
    return rows, columns


def bordered_grid(rows: Sequence[Sequence[int]]) -> list[list[int]]:
    """Return a table with its row totals, column totals and grand total."""
    n_cols = len(rows[0]) if rows else 0
    if any(len(r) != n_cols for r in rows):
        raise ValueError("every row must have the same number of cells")
    if any(v < 0 for r in rows for v in r):
        raise ValueError("counts cannot be negative")
    grid = [list(r) + [sum(r)] for r in rows]
    grid.append([sum(r[j] for r in rows) for j in range(n_cols)])
    grid[-1].append(sum(grid[-1]))
    return grid


def shown_table(
    grid: Sequence[Sequence[int]], hidden: Callable[[int, int], bool]
) -> ProtectedTable:
    """Return a bordered grid as shown, given which of its entries are hidden."""
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    shown = [
        [HIDDEN if hidden(i, j) else Cell(v) for j, v in enumerate(row)]
        for i, row in enumerate(grid)
    ]
    return ProtectedTable(
        cells=tuple(tuple(row[:n_cols]) for row in shown[:n_rows]),
        row_totals=tuple(row[n_cols] for row in shown[:n_rows]),
        column_totals=tuple(shown[n_rows][:n_cols]),
        total=shown[n_rows][n_cols],
    )


def protect_table(
    rows: Sequence[Sequence[int]], hide: Collection[tuple[int, int]] = ()
) -> ProtectedTable:
    """Apply primary and secondary suppression to a table shown with all its totals.

    `hide`: entries of the bordered table (see ``ProtectedTable.at``) to hide from the start,
    e.g. a total another table showing the same figure had to hide.
    """
    grid = bordered_grid(rows)
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    values = {(0, i, j): v for i, row in enumerate(grid) for j, v in enumerate(row)}
    row_eqs, column_eqs = bordered_equations(0, n_rows, n_cols)
    hidden = protect_linked(values, row_eqs + column_eqs, {(0, i, j) for i, j in hide})
    return shown_table(grid, lambda i, j: (0, i, j) in hidden)


def protect_statistic(value: float | None, people: int) -> float | None:
    """Return a median or percentile, or None when it rests on fewer than 11 people."""
    if value is None or people < THRESHOLD:
        return None
    return value


def protect_share(numerator: Cell, denominator: Cell, parts: Sequence[Cell] = ()) -> float | None:
    """Return numerator / denominator, or None when it could reveal a hidden count.

    `parts` are the other shown cells that add up to the denominator: if one is hidden, the
    share times the denominator would give it away.
    """
    if numerator.value is None or denominator.value is None:
        return None
    if denominator.value < THRESHOLD or any(p.suppressed for p in parts):
        return None
    return numerator.value / denominator.value
