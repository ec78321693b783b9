"""JSON API of the dashboard: one team's caseload with its alerts and workload.

The route declares `dashboard.view` (coordinator accounts; others get 403); a team the caller
does not coordinate answers 403, an unknown team 404. Same data, filters and sort as the page,
in the same fixed number of queries.
"""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ptap.audit.context import note_patients_shown, shows_patients
from ptap.care_teams.models import CareTeam
from ptap.core.api import api_route
from ptap.dashboards import present, queries
from ptap.dashboards.permissions import require_view_dashboard
from ptap.dashboards.schemas import (
    AlertOut,
    PatientRowOut,
    RequestOut,
    TeamDashboardOut,
    WorkloadOut,
)
from ptap.extensions import db


def _row_out(view: present.RowView) -> PatientRowOut:
    return PatientRowOut(
        patient_id=view.patient_id,
        name=view.name,
        birth_date=view.birth_date,
        sector=view.sector,
        enrolled_on=view.enrolled_on,
        record_url=view.record_url,
        alerts=[
            AlertOut(kind=a.kind, tag=a.tag, text=a.text, url=a.url, late=a.late, since=a.since)
            for a in view.alerts
        ],
    )


@api_route(
    "/dashboard/teams/<int:team_id>",
    summary="Le tableau de bord d'une équipe que je coordonne : les personnes suivies avec ce "
    "qui demande une action maintenant (et le lien où la corriger), le nombre de personnes par "
    "type d'alerte et la charge de chaque professionnel ; filtres et tri comme sur la page",
    access="dashboard.view",
    response=TeamDashboardOut,
    tags=("Tableau de bord",),
    query=(
        (
            "alert",
            "Type d'alerte : urgent_messages, break_glass, dmp_filings, overdue_actions, "
            "review_due, no_plan, consent, identity",
        ),
        ("professional", "Identifiant d'un professionnel ayant des actions ouvertes"),
        ("sector", "Commune (code postal et ville, comme dans `sector`)"),
        ("show", "all : toutes les personnes suivies ; par défaut, celles avec une alerte"),
        ("sort", "priority (défaut), name, enrolment ou alerts"),
    ),
)
@shows_patients("team dashboard")
def get_team_dashboard(team_id: int):
    team = db.get_or_404(CareTeam, team_id)
    require_view_dashboard(current_user, team)
    filters = present.parse_filters(request.args, strict=True)
    board = queries.build_dashboard(team.id, current_user.id)
    rows = present.select_rows(board, filters)
    note_patients_shown(r.patient.patient_id for r in rows)
    note_patients_shown(r.patient_id for r in board.requests)
    return TeamDashboardOut(
        team_id=team.id,
        team_name=team.name,
        today=board.today,
        caseload_size=len(board.rows),
        counts=board.counts,
        patients=[_row_out(present.row_view(r, board.today, filters.sort)) for r in rows],
        workload=[WorkloadOut(**vars(present.workload_view(w))) for w in board.workload],
        waiting_requests=[
            RequestOut(
                **vars(present.request_view(r, board.today)),
                received_at=r.received_at.isoformat(),
            )
            for r in board.requests
        ],
    )
