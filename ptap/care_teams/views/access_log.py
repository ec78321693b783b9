"""Who accessed the patient's record: the page and the PDF the patient can be given."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import (
    Response,
    render_template,
)

from ptap.audit.context import request_context
from ptap.audit.services import record_event
from ptap.care_teams import queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import (
    STRUCTURE_KIND_LABELS,
    Patient,
)
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import (
    ins_format,
    label,
    local_datetime,
)
from ptap.core import clock
from ptap.core.bounds import query_int
from ptap.core.pdf import render_pdf
from ptap.core.policy import requires
from ptap.extensions import db

ACCESS_LOG_PAGE_SIZE = 50


# --- access log -------------------------------------------------------------------------------


def _log_consultation(patient: Patient, what: str) -> None:
    record_event(
        request_context(),
        "patient.access_log",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=what,
    )


@bp.get("/patients/<int:patient_id>/access-log")
@requires("patients.list")
def access_log(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    _log_consultation(patient, "page")
    db.session.commit()
    page = db.paginate(
        queries.access_log_query(patient.id),
        page=query_int("page", 1),
        per_page=ACCESS_LOG_PAGE_SIZE,
        error_out=False,
    )
    return render_template(
        "care_teams/access_log.html",
        patient=patient,
        active_tab="access_log",
        page=page,
        entries=queries.describe_access_events(list(page.items)),
    )


def _access_log_document(patient: Patient) -> dict[str, Any]:
    """The PDF's plain-data context: identity, generation date, every entry, who answers."""
    structures = [
        {"name": s.name, "finess": s.finess or "", "kind": label(STRUCTURE_KIND_LABELS, s.kind)}
        for s in queries.list_patient_structures(patient.id)
    ]
    entries = [{**asdict(e), "at": local_datetime(e.at)} for e in queries.access_log(patient.id)]
    return {
        "patient": {
            "name": patient.display_name,
            "birth_name": patient.birth_name,
            "used_name": patient.used_name,
            "first_names": patient.first_names,
            "birth_date": patient.birth_date_label,
            "ins": ins_format(patient.ins_matricule),
        },
        "generated_at": local_datetime(clock.now()),
        "entries": entries,
        "structures": structures,
    }


@bp.get("/patients/<int:patient_id>/access-log.pdf")
@requires("patients.list")
def access_log_pdf(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    _log_consultation(patient, "pdf")
    db.session.commit()
    pdf = render_pdf("pdf/access_log.html", _access_log_document(patient))
    filename = f"historique-acces-{patient.id}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
