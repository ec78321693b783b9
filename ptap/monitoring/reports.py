"""The quarterly activity report: plain data for templates/pdf/monitoring_report.html.

The charts are drawn on the server as SVG (no JavaScript in a PDF) from the same protected
tables as the page: a hidden cell has no bar, and its month is marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ptap.care_teams.models import Territory
from ptap.core import clock
from ptap.extensions import db
from ptap.monitoring.models import MonitoringReport
from ptap.monitoring.permissions import Scope
from ptap.monitoring.queries import Filters, IndicatorTable, build_tables

#: Colour-blind-safe palette (Okabe-Ito), also used by the page's charts.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
WIDTH, HEIGHT, LEFT, BOTTOM = 520, 170, 40, 24


@dataclass(frozen=True)
class Bar:
    """One bar of an SVG chart."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """An SVG grouped bar chart: bars, month labels, the scale's top value, the legend."""

    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]
    top: int
    legend: tuple[tuple[str, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM


def chart_of(table: IndicatorTable) -> Chart | None:
    """Draw a count table as grouped bars (None for unavailable or duration indicators)."""
    ind = table.indicator
    if not ind.available or ind.kind != "count" or not table.rows:
        return None
    visible = [c.value for r in table.rows for c in r.cells if c.value is not None]
    top = max([*visible, 1])
    n_cols = len(ind.columns)
    group = (WIDTH - LEFT) / len(table.rows)
    bar_w = group / (n_cols + 1)
    plot_h = HEIGHT - BOTTOM - 10
    bars, labels = [], []
    for i, row in enumerate(table.rows):
        x0 = LEFT + i * group + bar_w / 2
        hidden = any(c.suppressed for c in row.cells)
        labels.append((LEFT + i * group + group / 2, row.label + (" *" if hidden else "")))
        for j, cell in enumerate(row.cells):
            if not cell.value:
                continue
            h = plot_h * cell.value / top
            bars.append(
                Bar(
                    round(x0 + j * bar_w, 1),
                    round(HEIGHT - BOTTOM - h, 1),
                    round(bar_w * 0.9, 1),
                    round(h, 1),
                    PALETTE[j % len(PALETTE)],
                    f"{ind.columns[j][1]} : {cell.value}",
                )
            )
    legend = tuple((PALETTE[j % len(PALETTE)], label) for j, (_, label) in enumerate(ind.columns))
    return Chart(tuple(bars), tuple(labels), top, legend)


def quarter_months(year: int, quarter: int) -> tuple[date, date]:
    """Return the first and last months of a quarter."""
    first = 3 * quarter - 2
    return date(year, first, 1), date(year, first + 2, 1)


def report_context(report: MonitoringReport) -> dict[str, object]:
    """Return the plain data of a report's PDF (counts are protected; no person appears)."""
    first, last = quarter_months(report.year, report.quarter)
    filters = Filters(report.territory_id, None, first, last)
    tables = build_tables(filters, Scope(None))
    territory = db.session.get(Territory, report.territory_id) if report.territory_id else None
    sections: dict[str, list[tuple[IndicatorTable, Chart | None]]] = {}
    for table in tables:
        sections.setdefault(table.indicator.section, []).append((table, chart_of(table)))
    return {
        "title": f"Rapport d'activité — T{report.quarter} {report.year}",
        "scope": territory.name if territory else "Tous les territoires de la région",
        "generated_on": clock.paris_today().strftime("%d/%m/%Y"),
        "sections": list(sections.items()),
    }
