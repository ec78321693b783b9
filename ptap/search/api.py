"""JSON API of the patient search (GET /api/v1/patients/{id}/search)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.api import api_route
from ptap.core.errors import InvalidInput
from ptap.extensions import db
from ptap.search import queries, services
from ptap.search.schemas import SearchOut, parse_params

SEARCH = ("Recherche",)


@api_route(
    "/patients/<int:patient_id>/search",
    summary="Chercher dans le dossier de coordination d'un patient : plans, concertations, "
    "lettres, messages lisibles, dépôts DMP, événements (accès tracé ; 422 sur un filtre "
    "invalide ou une requête sans mot)",
    access="patient.search",
    response=SearchOut,
    tags=SEARCH,
    query=(
        ("q", "Les mots cherchés (opérateurs et guillemets sont ignorés)"),
        ("types", "Types de résultats, séparés par des virgules (care_plan, meeting, letter…)"),
        ("from", "Date de début incluse (AAAA-MM-JJ)"),
        ("to", "Date de fin incluse (AAAA-MM-JJ)"),
        ("page", "Numéro de page (20 résultats par page)"),
    ),
)
def patient_search(patient_id: int):
    patient = load_patient(patient_id, what="recherche")
    db.session.commit()  # the audited read stands even if the parameters are refused
    params = parse_params(request.args)
    for name, message in params.errors.items():
        raise InvalidInput(message, field=name)
    results = queries.search_patient(
        current_user._get_current_object(), patient, params.q, params.filters, params.page
    )
    if not results.query.terms:
        raise InvalidInput("Indiquez au moins un mot à chercher.", field="q")
    services.record_patient_search(
        request_context(), patient, params.q, params.filters, results.total
    )
    db.session.commit()
    return SearchOut.of(results)
