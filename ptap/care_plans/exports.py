"""API exports of one care-plan version: the printable PDF/A and the FHIR R4 Bundle.

Both load the plan through need-to-know (`load_plan`: an outsider gets the audited 404 of an
unknown patient; admins and ARS analysts are refused by the `patients.list` guard) and commit
the read's audit before rendering. They return flask Responses, which `api_route` passes
through unserialised. Session authentication works for these GETs, so the care-plan pages
link here directly for the download.
"""

from __future__ import annotations

import json

from flask import Response

from ptap.care_plans.documents import render_version_pdf
from ptap.care_plans.fhir import version_bundle
from ptap.care_plans.loaders import load_plan
from ptap.care_plans.queries import get_version
from ptap.core.api import api_route
from ptap.extensions import db

EXPORTS = ("Plans personnalisés de coordination",)
FHIR_JSON = "application/fhir+json"


@api_route(
    "/patients/<int:patient_id>/care-plan/versions/<int:number>.pdf",
    summary="Une version du PPCS en PDF/A-1b, à imprimer ou à verser au dossier (accès tracé)",
    access="patients.list",
    tags=EXPORTS,
)
def export_version_pdf(patient_id: int, number: int):
    plan = load_plan(patient_id)
    version = get_version(plan.id, number)
    db.session.commit()  # the read is audited even if the rendering fails
    filename = f"ppcs-{patient_id}-v{number}.pdf"
    return Response(
        render_version_pdf(version),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api_route(
    "/patients/<int:patient_id>/care-plan/versions/<int:number>/fhir",
    summary="Une version du PPCS en FHIR R4 : Bundle collection (CarePlan, Patient, CareTeam, "
    "Condition, Goal...) (accès tracé)",
    access="patients.list",
    tags=EXPORTS,
)
def export_version_fhir(patient_id: int, number: int):
    plan = load_plan(patient_id)
    version = get_version(plan.id, number)
    db.session.commit()  # the read is audited even if the export fails
    body = json.dumps(version_bundle(version), ensure_ascii=False)
    return Response(body, content_type=f"{FHIR_JSON}; charset=utf-8")
