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

Limits (docs/monitoring.md): differencing between two separately requested tables (a
territory minus one of its teams) is not prevented by this module. Differencing between two
periods is prevented by the caller (``queries``): tables are protected per calendar quarter,
whatever period is asked for, and a period's totals are shown only for a whole quarter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

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


def _pick_partner(values: Sequence[int], hidden: Sequence[bool]) -> int | None:
    """Return the index of the visible term to hide next to a lone hidden one, or None."""
    visible = [i for i, h in enumerate(hidden) if not h]
    if not visible:
        return None
    positive = [i for i in visible if values[i] > 0]
    pool = positive or visible
    return min(pool, key=lambda i: (values[i], i))


def _protect_line(values: list[int], hidden: list[bool], total: int, total_hidden: bool) -> int:
    """Fix one equation (cells + total); return the index to hide (len(values) = the total),
    or -1 when the equation is already safe."""
    hidden_terms = sum(hidden) + (1 if total_hidden else 0)
    if hidden_terms != 1:
        return -1
    partner = _pick_partner(values, hidden)
    if partner is None:
        return len(values)  # the lone hidden term is the only cell: hide the total too
    return partner


def _exposed(grid: list[list[int]], hidden: list[list[bool]]) -> list[tuple[int, int]]:
    """Return the hidden counts from 1 to 10 that the shown figures determine exactly.

    The unknowns are the hidden entries of the bordered table; each row and column is an
    equation. An unknown is determined when its unit vector lies in the equations' row space:
    in reduced row echelon form, a row with a single non-zero entry. Floats suffice: the
    coefficients are 0 and ±1 and the tables have a few dozen entries.
    """
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    unknowns = [(i, j) for i in range(n_rows + 1) for j in range(n_cols + 1) if hidden[i][j]]
    if not unknowns:
        return []
    index = {u: k for k, u in enumerate(unknowns)}
    equations: list[list[float]] = []
    lines = [[(i, j) for j in range(n_cols)] + [(i, n_cols)] for i in range(n_rows + 1)]
    lines += [[(i, j) for i in range(n_rows)] + [(n_rows, j)] for j in range(n_cols + 1)]
    for line in lines:
        eq = [0.0] * len(unknowns)
        for position, (i, j) in enumerate(line):
            if (i, j) in index:
                eq[index[(i, j)]] += -1.0 if position == len(line) - 1 else 1.0
        if any(eq):
            equations.append(eq)
    pivot_row = 0
    for col in range(len(unknowns)):
        best = max(
            range(pivot_row, len(equations)), key=lambda r: abs(equations[r][col]), default=None
        )
        if best is None or abs(equations[best][col]) < 1e-9:
            continue
        equations[pivot_row], equations[best] = equations[best], equations[pivot_row]
        pivot = equations[pivot_row]
        factor = pivot[col]
        pivot[:] = [v / factor for v in pivot]
        for r, eq in enumerate(equations):
            if r != pivot_row and abs(eq[col]) > 1e-9:
                f = eq[col]
                eq[:] = [a - f * b for a, b in zip(eq, pivot, strict=True)]
        pivot_row += 1
        if pivot_row == len(equations):
            break
    exposed = []
    for eq in equations[:pivot_row]:
        nonzero = [k for k, v in enumerate(eq) if abs(v) > 1e-9]
        if len(nonzero) == 1:
            i, j = unknowns[nonzero[0]]
            if is_primary(grid[i][j]):
                exposed.append((i, j))
    return exposed


def _secondary(grid: list[list[int]], hidden: list[list[bool]]) -> None:
    """Hide terms until no row or column of the bordered table has exactly one hidden term."""
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    changed = True
    while changed:
        changed = False
        for i in range(n_rows + 1):
            pick = _protect_line(
                grid[i][:n_cols], hidden[i][:n_cols], grid[i][n_cols], hidden[i][n_cols]
            )
            if pick >= 0:
                hidden[i][pick] = True
                changed = True
        for j in range(n_cols + 1):
            column = [grid[i][j] for i in range(n_rows)]
            column_hidden = [hidden[i][j] for i in range(n_rows)]
            pick = _protect_line(column, column_hidden, grid[n_rows][j], hidden[n_rows][j])
            if pick >= 0:
                hidden[pick][j] = True
                changed = True


def _widen(grid: list[list[int]], hidden: list[list[bool]], i: int, j: int) -> None:
    """Hide one more entry next to an exposed cell: the smallest positive visible entry of its
    row (totals included), else of its column, else any visible entry."""
    row = [(grid[i][c], i, c) for c in range(len(grid[0])) if not hidden[i][c]]
    column = [(grid[r][j], r, j) for r in range(len(grid)) if not hidden[r][j]]
    rest = [
        (grid[r][c], r, c)
        for r in range(len(grid))
        for c in range(len(grid[0]))
        if not hidden[r][c]
    ]
    for pool in ([x for x in row if x[0] > 0], [x for x in column if x[0] > 0], row, column, rest):
        if pool:
            _, r, c = min(pool)
            hidden[r][c] = True
            return


def protect_table(
    rows: Sequence[Sequence[int]], hide: Collection[tuple[int, int]] = ()
) -> ProtectedTable:
    """Apply primary and secondary suppression to a table shown with all its totals.

    `hide`: entries of the bordered table (see ``ProtectedTable.at``) to hide from the start,
    e.g. a total another table showing the same figure had to hide.
    """
    n_rows = len(rows)
    n_cols = len(rows[0]) if rows else 0
    if any(len(r) != n_cols for r in rows):
        raise ValueError("every row must have the same number of cells")
    if any(v < 0 for r in rows for v in r):
        raise ValueError("counts cannot be negative")
    # The bordered table: row n_rows holds the column totals, column n_cols the row totals.
    grid = [list(r) + [sum(r)] for r in rows]
    grid.append([sum(rows[i][j] for i in range(n_rows)) for j in range(n_cols)])
    grid[-1].append(sum(grid[-1]))
    hidden = [[is_primary(v) for v in row] for row in grid]
    for i, j in hide:
        hidden[i][j] = True
    _secondary(grid, hidden)
    # Two hidden terms per line are not always enough (linked lines can still be solved):
    # while the shown figures determine a hidden small count, hide one more entry beside it.
    while exposed := _exposed(grid, hidden):
        _widen(grid, hidden, *exposed[0])
        _secondary(grid, hidden)

    shown = [
        [HIDDEN if h else Cell(v) for v, h in zip(row, flags, strict=True)]
        for row, flags in zip(grid, hidden, strict=True)
    ]
    return ProtectedTable(
        cells=tuple(tuple(row[:n_cols]) for row in shown[:n_rows]),
        row_totals=tuple(row[n_cols] for row in shown[:n_rows]),
        column_totals=tuple(shown[n_rows][:n_cols]),
        total=shown[n_rows][n_cols],
    )


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
