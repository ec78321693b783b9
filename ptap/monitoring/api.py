"""JSON API of the monitoring indicators (analysts: every team; coordinators: their teams)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ptap.core.api import api_route
from ptap.monitoring import queries
from ptap.monitoring.permissions import monitoring_scope
from ptap.monitoring.schemas import IndicatorsOut


@api_route(
    "/monitoring/indicators",
    summary="Indicateurs d'activité par mois (secret statistique : effectifs de 1 à 10 et "
    "cellules permettant de les retrouver masqués, marqués suppressed, jamais leur valeur)",
    access="monitoring.view",
    response=IndicatorsOut,
    tags=("Pilotage",),
    query=(
        ("territory", "Identifiant du territoire"),
        ("team", "Identifiant de l'équipe"),
        ("from", "Premier mois, AAAA-MM (défaut : douze mois avant `to`)"),
        ("to", "Dernier mois, AAAA-MM (défaut : le mois en cours)"),
    ),
)
def get_indicators():
    scope = monitoring_scope(current_user)
    filters = queries.parse_filters(request.args, scope)
    result = queries.build_indicators(filters, scope)
    return IndicatorsOut.of(filters, result.tables, result.as_of)
