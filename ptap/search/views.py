"""The search page of a patient's record (the header's search box leads here)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.policy import requires
from ptap.extensions import db
from ptap.search import queries, services
from ptap.search.registry import source_labels
from ptap.search.schemas import parse_params

bp = Blueprint("search", __name__)


@bp.get("/patients/<int:patient_id>/search")
@requires("patient.search")
def patient_search(patient_id: int):
    """Search the record: results, or the form and its errors (422) with the input kept."""
    patient = load_patient(patient_id, what="recherche")
    params = parse_params(request.args)
    results = None
    if not params.errors and params.q.strip():
        user = current_user._get_current_object()
        results = queries.search_patient(user, patient, params.q, params.filters, params.page)
        services.record_patient_search(
            request_context(), patient, params.q, params.filters, results.total
        )
    db.session.commit()  # keep the audited read and search
    return render_template(
        "search/patient_search.html",
        patient=patient,
        params=params,
        results=results,
        kinds=source_labels(),
        hide_header_search=True,  # the page's own form is the search box here
        prev_url=_page_url(patient.id, results.page - 1) if results and results.page > 1 else "",
        next_url=(
            _page_url(patient.id, results.page + 1)
            if results and results.page < results.pages
            else ""
        ),
    ), (422 if params.errors else 200)


def _page_url(patient_id: int, page: int) -> str:
    """The same search, another page."""
    args: dict[str, Any] = request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    return url_for("search.patient_search", patient_id=patient_id, **args)
