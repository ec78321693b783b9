"""Published versions: the list, one version read-only, and a comparison of two."""

from __future__ import annotations

from flask import render_template, request

from ptap.care_plans import queries
from ptap.care_plans.content import load_content
from ptap.care_plans.loaders import load_plan
from ptap.care_plans.views import bp, history
from ptap.care_plans.views.common import patient_of
from ptap.core.bounds import MAX_DB_INT
from ptap.core.errors import NotFound
from ptap.core.policy import requires
from ptap.extensions import db


@bp.get("/patients/<int:patient_id>/care-plan/versions")
@requires("patients.list")
def list_versions(patient_id: int):
    plan = load_plan(patient_id)
    db.session.commit()  # keep the audited read
    return render_template(
        "care_plans/versions.html",
        patient=patient_of(plan),
        active_tab="care_plan",
        versions=history.version_rows(plan),
    )


@bp.get("/patients/<int:patient_id>/care-plan/versions/<int:number>")
@requires("patients.list")
def show_version(patient_id: int, number: int):
    plan = load_plan(patient_id)
    version = queries.get_version(plan.id, number)
    db.session.commit()  # keep the audited read
    patient = patient_of(plan)
    return render_template(
        "care_plans/version.html",
        patient=patient,
        active_tab="care_plan",
        page=history.version_page(plan, patient, version),
    )


def _number(name: str, default: int) -> int:
    value = request.args.get(name, "")
    if not value:
        return default
    if not (value.isascii() and value.isdecimal()) or int(value) > MAX_DB_INT:
        raise NotFound("Version introuvable.")
    return int(value)


@bp.get("/patients/<int:patient_id>/care-plan/compare")
@requires("patients.list")
def compare_versions(patient_id: int):
    plan = load_plan(patient_id)
    latest = plan.current_version.number if plan.current_version else 0
    first, second = _number("from", max(latest - 1, 1)), _number("to", latest)
    sections, details, provenance = [], [], ("", "")
    if latest:
        older, newer = queries.get_version(plan.id, first), queries.get_version(plan.id, second)
        old, new = load_content(older.content), load_content(newer.content)
        sections, details = queries.compare(old, new), history.change_details(old, new)
        provenance = (older.provenance_label, newer.provenance_label)
    db.session.commit()  # keep the audited read
    return render_template(
        "care_plans/compare.html",
        patient=patient_of(plan),
        active_tab="care_plan",
        sections=sections,
        details=details,
        first=first,
        second=second,
        provenance=provenance,
        numbers=list(range(latest, 0, -1)),
    )
