"""Two periods (or two tables sharing a figure) cannot be combined to recover a hidden count.

The attacker collects every figure shown for every period of a half-year and solves them
together, knowing that the three request tables count the same requests each month.
"""

from datetime import date

from ptap.extensions import db
from ptap.monitoring import queries, releases
from ptap.monitoring.indicators import BY_KEY
from ptap.monitoring.models import MonitoringCount
from ptap.monitoring.permissions import Scope
from ptap.monitoring.services import months_between
from tests.monitoring.test_secrecy import _rank

MONTHS = months_between(date(2026, 1, 1), date(2026, 6, 1))
TABLES = ("requests_requester", "requests_channel", "requests_mission")
#: Phone requests (the first column of each table) per month: the reviewer's 3, 20, 25.
FIRST_COLUMN = (3, 20, 25, 14, 2, 30)
SECOND_COLUMN = (0, 5, 12, 0, 40, 9)


def _store(world):
    team = world.teams[0]
    for key in TABLES:
        columns = [k for k, _ in BY_KEY[key].columns]
        for month, a, b in zip(MONTHS, FIRST_COLUMN, SECOND_COLUMN, strict=True):
            for dimension, value in ((columns[0], a), (columns[1], b)):
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
    return team


def _published(team):
    """Every (period, table) shown for the half-year's periods."""
    for i, first in enumerate(MONTHS):
        for last in MONTHS[i:]:
            filters = queries.Filters(None, team.id, first, last)
            for table in queries.build_tables(filters, Scope(None)):
                if table.indicator.key in TABLES:
                    yield first, last, table


def test_no_period_difference_recovers_a_hidden_count(db, world):
    team = _store(world)
    unknowns = {
        (key, month, col): n
        for n, (key, month, col) in enumerate(
            (key, month, col)
            for key in TABLES
            for month in MONTHS
            for col, _ in BY_KEY[key].columns
        )
    }

    def form(terms):
        row = [0] * len(unknowns)
        for t in terms:
            row[unknowns[t]] += 1
        return row

    equations, hidden, shown_cells = [], set(), {}
    for first, last, table in _published(team):
        ind = table.indicator
        cols = [k for k, _ in ind.columns]
        window = months_between(first, last)
        for row in table.rows:
            for col, cell in zip(cols, row.cells, strict=True):
                key = (ind.key, row.month, col)
                # A month's cell is the same whatever the period asked for.
                assert shown_cells.setdefault(key, cell) == cell, (first, last, key)
                if cell.suppressed:
                    hidden.add(key)
                else:
                    equations.append(form([key]))
            if row.total is not None and not row.total.suppressed:
                equations.append(form([(ind.key, row.month, c) for c in cols]))
        for col, cell in zip(cols, table.totals or [None] * len(cols), strict=True):
            if cell is not None and not cell.suppressed:
                equations.append(form([(ind.key, m, col) for m in window]))
        if table.total is not None and not table.total.suppressed:
            equations.append(form([(ind.key, m, c) for m in window for c in cols]))
    # What the attacker knows besides: the three tables count the same requests each month.
    for month in MONTHS:
        base = form([(TABLES[0], month, c) for c, _ in BY_KEY[TABLES[0]].columns])
        for other in TABLES[1:]:
            row = form([(other, month, c) for c, _ in BY_KEY[other].columns])
            equations.append([a - b for a, b in zip(base, row, strict=True)])
    assert (TABLES[1], date(2026, 1, 1), BY_KEY[TABLES[1]].columns[0][0]) in hidden
    rank = _rank(equations)
    for key in sorted(hidden, key=str):
        month_index = MONTHS.index(key[1])
        column = 0 if key[2] == BY_KEY[key[0]].columns[0][0] else 1
        value = (FIRST_COLUMN, SECOND_COLUMN)[column][month_index]
        if 0 < value < 11:
            unit = [0] * len(unknowns)
            unit[unknowns[key]] = 1
            assert _rank([*equations, unit]) > rank, key


def test_totals_are_shown_for_a_calendar_quarter_only(db, world):
    team = _store(world)
    for first, last, table in _published(team):
        whole = first.month in (1, 4) and len(months_between(first, last)) == 3
        assert bool(table.totals) == whole, (first, last)
        assert (table.total is not None) == whole
