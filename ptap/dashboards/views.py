"""Pages of the coordinator's dashboard: the team picker, a team's dashboard (also its print
view) and the rows the page refetches when a live event says a patient changed."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.audit.context import note_patients_shown, shows_patients
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import CareTeam
from ptap.core import clock
from ptap.core.bounds import MAX_DB_INT
from ptap.core.errors import InvalidInput
from ptap.core.policy import requires
from ptap.core.web import register_home, register_nav
from ptap.dashboards import present, queries
from ptap.dashboards.alerts import ALERT_LABELS
from ptap.dashboards.permissions import require_view_dashboard
from ptap.extensions import db

bp = Blueprint("dashboards", __name__)

register_nav("Tableau de bord", "dashboards.home", "dashboard.view")
# Coordinators land on their dashboard after login (professionals keep the home page).
register_home("dashboards.home", "dashboard.view")

#: Rows refetched at once after a live event, at most.
MAX_REFRESH = 100


def _team(team_id: int) -> CareTeam:
    team = db.get_or_404(CareTeam, team_id)
    require_view_dashboard(current_user, team)
    return team


@bp.get("/dashboard")
@requires("dashboard.view")
def home():
    teams = team_queries.coordinated_teams(current_user.id)
    if len(teams) == 1:
        return redirect(url_for(".team_dashboard", team_id=teams[0].id))
    return render_template("dashboards/teams.html", teams=teams)


@bp.get("/teams/<int:team_id>/dashboard")
@shows_patients("team dashboard")
@requires("dashboard.view")
def team_dashboard(team_id: int):
    team = _team(team_id)
    filters = present.parse_filters(request.args, strict=False)
    board = queries.build_dashboard(team.id, current_user.id)
    rows = present.select_rows(board, filters)
    note_patients_shown(r.patient.patient_id for r in rows)
    note_patients_shown(r.patient_id for r in board.requests)
    printing = request.args.get("print") == "1"
    return render_template(
        "dashboards/team.html",
        team=team,
        teams=team_queries.coordinated_teams(current_user.id),
        filters=filters,
        rows=[present.row_view(r, board.today, filters.sort) for r in rows],
        caseload_size=len(board.rows),
        counts=[(kind, label, board.counts[kind]) for kind, label in ALERT_LABELS.items()],
        requests=[present.request_view(r, board.today) for r in board.requests],
        requests_total=board.requests_total,
        requests_url=present.requests_url(),
        kinds_map=json.dumps({r.patient.patient_id: sorted(r.kinds) for r in board.rows}),
        workload=[present.workload_view(w) for w in board.workload],
        sectors=present.sectors(board),
        sorts=present.SORTS,
        alert_labels=ALERT_LABELS,
        today=board.today,
        printing=printing,
    )


def _patient_ids() -> list[int]:
    raw = request.args.getlist("patient_id")
    if not raw or len(raw) > MAX_REFRESH:
        raise InvalidInput(f"Indiquez de 1 à {MAX_REFRESH} personnes.", field="patient_id")
    if not all(v.isascii() and v.isdecimal() and 1 <= int(v) <= MAX_DB_INT for v in raw):
        raise InvalidInput("patient_id doit être un identifiant numérique.", field="patient_id")
    return sorted({int(v) for v in raw})


@bp.get("/teams/<int:team_id>/dashboard/rows")
@shows_patients("team dashboard rows")
@requires("dashboard.view")
def dashboard_rows(team_id: int):
    team = _team(team_id)
    ids = _patient_ids()
    filters = present.parse_filters(request.args, strict=False)
    board = queries.build_dashboard(team.id, current_user.id, only=ids)
    rows = present.select_rows(board, filters)
    note_patients_shown(r.patient.patient_id for r in rows)
    # Every requested patient gets an answer: their row if it passes the filters, and the
    # kinds of their alerts (the counters), or nothing if they left the caseload.
    kinds: dict[int, Any] = {pid: None for pid in ids}
    kinds.update({r.patient.patient_id: sorted(r.kinds) for r in board.rows})
    return render_template(
        "dashboards/_rows.html",
        rows=[present.row_view(r, board.today, filters.sort) for r in rows],
        kinds_map=json.dumps(kinds),
    )


@bp.get("/teams/<int:team_id>/dashboard/requests")
@shows_patients("team dashboard requests")
@requires("dashboard.view")
def dashboard_requests(team_id: int):
    team = _team(team_id)
    requests = queries.waiting_requests(team.id, clock.now())
    note_patients_shown(r.patient_id for r in requests.first)
    return render_template(
        "dashboards/_requests.html",
        team=team,
        requests=[present.request_view(r) for r in requests.first],
        requests_total=requests.total,
        requests_url=present.requests_url(),
    )


@bp.get("/teams/<int:team_id>/dashboard/workload")
@requires("dashboard.view")
def dashboard_workload(team_id: int):
    team = _team(team_id)
    workload = queries.team_workload(team.id, current_user.id)
    return render_template(
        "dashboards/_workload.html",
        team=team,
        workload=[present.workload_view(w) for w in workload],
        filters=present.parse_filters(request.args, strict=False),
    )
