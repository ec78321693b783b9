"""Pages of the regional monitoring: indicators with charts, exports, quarterly reports.

The analysts' home page. Every figure comes from ``queries.build_tables`` (aggregates only,
protected by statistical secrecy); no page here reads a patient, a name or a free text.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import requires
from ptap.core.web import register_home, register_nav
from ptap.extensions import db
from ptap.monitoring import queries, services
from ptap.monitoring.forms import ReportForm
from ptap.monitoring.indicators import INDICATORS
from ptap.monitoring.models import MonitoringReport, ReportStatus
from ptap.monitoring.permissions import monitoring_scope
from ptap.monitoring.reports import PALETTE
from ptap.monitoring.schemas import IndicatorsOut
from ptap.monitoring.secrecy import SUPPRESSED_LABEL, THRESHOLD

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")

register_nav("Pilotage", "monitoring.indicators", "monitoring.view", "territoire")
register_nav("Rapports trimestriels", "monitoring.list_reports", "monitoring.reports", "territoire")
register_home("monitoring.indicators", "monitoring.reports")

STATUS_LABELS = {
    ReportStatus.PENDING: "En préparation",
    ReportStatus.READY: "Prêt",
    ReportStatus.FAILED: "Échec de la préparation",
}


def _user() -> Any:
    return current_user._get_current_object()


def _tables():
    scope = monitoring_scope(_user())
    filters = queries.parse_filters(request.args, scope)
    return scope, filters, queries.build_indicators(filters, scope)


@bp.get("")
@requires("monitoring.view")
def indicators():
    scope, filters, result = _tables()
    territories, teams = queries.filter_options(scope)
    sections: dict[str, list[queries.IndicatorTable]] = {}
    for table in result.tables:
        sections.setdefault(table.indicator.section, []).append(table)
    team = next((t.label for t in teams if t.id == filters.team_id), None)
    territory = next((t.label for t in territories if t.id == filters.territory_id), None)
    if team:
        subject = f"de l'équipe {team}"
    elif territory:
        subject = f"du territoire {territory}" + (
            "" if scope.team_ids is None else " (vos équipes)"
        )
    else:
        subject = (
            "de toutes les équipes de la région" if scope.team_ids is None else "de vos équipes"
        )
    return render_template(
        "monitoring/indicators.html",
        filters=filters,
        territories=territories,
        teams=teams,
        sections=list(sections.items()),
        palette=PALETTE,
        threshold=THRESHOLD,
        hidden_label=SUPPRESSED_LABEL,
        export_args=filters.as_args(),
        subject=subject,
        as_of=result.as_of_label,
    )


@bp.get("/export.csv")
@requires("monitoring.view")
def export_csv():
    _, filters, result = _tables()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["indicateur", "mois", "colonne", "valeur"])
    if result.as_of_label:
        writer.writerow(["note", "", "", result.as_of_label])
    for table in result.tables:
        ind = table.indicator
        if not ind.available:
            writer.writerow([ind.title, "", "", "non disponible"])
            continue
        for drow in table.durations:
            month = f"{drow.month:%Y-%m}" if drow.month else "total"
            writer.writerow([ind.title, month, "personnes", drow.people.label])
            writer.writerow([ind.title, month, "médiane", drow.median or SUPPRESSED_LABEL])
            writer.writerow([ind.title, month, "90e centile", drow.p90 or SUPPRESSED_LABEL])
        for row in table.rows:
            for (_, label), cell in zip(ind.columns, row.cells, strict=True):
                writer.writerow([ind.title, f"{row.month:%Y-%m}", label, cell.label])
            if row.total is not None:
                writer.writerow([ind.title, f"{row.month:%Y-%m}", "Total", row.total.label])
        # The quarter's line: only when the period is one calendar quarter (queries).
        for (_, label), total in zip(ind.columns, table.totals or (), strict=False):
            if total is not None:
                writer.writerow([ind.title, "trimestre", label, total.label])
        if table.total is not None:
            writer.writerow([ind.title, "trimestre", "Total", table.total.label])
    name = f"indicateurs-{filters.first:%Y-%m}-{filters.last:%Y-%m}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/export.json")
@requires("monitoring.view")
def export_json():
    _, filters, result = _tables()
    body = IndicatorsOut.of(filters, result.tables, result.as_of).model_dump(mode="json")
    name = f"indicateurs-{filters.first:%Y-%m}-{filters.last:%Y-%m}.json"
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- quarterly reports -----------------------------------------------------------------------


def _report_form() -> ReportForm:
    form = ReportForm()
    territories, _ = queries.filter_options(monitoring_scope(_user()))
    form.territory.choices = [SelectChoice("", "Tous les territoires")] + [
        SelectChoice(str(t.id), t.label) for t in territories
    ]
    if form.year.data is None and request.method == "GET":
        today = clock.paris_today()
        quarter = (today.month - 1) // 3 + 1  # the last complete quarter by default
        form.year.data, previous = (
            (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)
        )
        form.quarter.data = str(previous)
    return form


def _render_reports(form: ReportForm, status: int = 200):
    reports = db.session.execute(
        sa.select(
            MonitoringReport.id,
            MonitoringReport.year,
            MonitoringReport.quarter,
            MonitoringReport.territory_id,
            MonitoringReport.status,
            MonitoringReport.requested_at,
        )
        .order_by(MonitoringReport.id.desc())
        .limit(50)
    ).all()
    names = {c.value: c.label for c in form.territory.choices or []}
    rows = [
        {
            "label": f"T{r.quarter} {r.year}",
            "scope": names.get(str(r.territory_id) if r.territory_id else "", "Territoire"),
            "status": STATUS_LABELS[ReportStatus(r.status)],
            "requested": clock.paris_day(r.requested_at).strftime("%d/%m/%Y"),
            "url": url_for("monitoring.download_report", report_id=r.id)
            if r.status == ReportStatus.READY
            else None,
        }
        for r in reports
    ]
    return render_template("monitoring/reports.html", form=form, reports=rows), status


@bp.get("/reports")
@requires("monitoring.reports")
def list_reports():
    return _render_reports(_report_form())


@bp.post("/reports")
@requires("monitoring.reports")
def order_report():
    form = _report_form()
    if not form.validate_on_submit():
        return _render_reports(form, 422)
    territory = int(form.territory.data) if form.territory.data else None
    outcome = run_action(
        lambda: services.request_report(
            _user(), int(form.year.data or 0), int(form.quarter.data or 0), territory
        ),
        catch=(InvalidInput,),
        success="Le rapport est en préparation : il sera téléchargeable ici dans quelques minutes.",
    )
    if not outcome.ok:
        attach_error(form, outcome.failure)
        return _render_reports(form, 422)
    return redirect(url_for("monitoring.list_reports"))


@bp.get("/reports/<int:report_id>.pdf")
@requires("monitoring.reports")
def download_report(report_id: int):
    report = db.get_or_404(MonitoringReport, report_id)
    if report.status != ReportStatus.READY or report.pdf is None:
        return render_template(
            "errors/error.html",
            status=404,
            title="Rapport pas encore prêt",
            detail="Ce rapport est encore en préparation. Réessayez dans quelques minutes.",
        ), 404
    name = f"rapport-activite-T{report.quarter}-{report.year}.pdf"
    return Response(
        report.pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


__all__ = ["INDICATORS", "bp"]
