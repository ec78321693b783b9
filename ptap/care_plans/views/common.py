"""Helpers shared by the care-plan views: loading, htmx detection, rendering the plan page."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ptap.care_plans.loaders import load_plan
from ptap.care_plans.models import CarePlan
from ptap.care_plans.views import present
from ptap.care_teams.circle_structures import circle_structure_names
from ptap.care_teams.models import Patient
from ptap.core.errors import DomainError, NotFound
from ptap.extensions import db


def is_htmx() -> bool:
    """Tell whether the request comes from htmx (it then wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def acting_user() -> Any:
    """Return the logged-in user (the object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def patient_of(plan: CarePlan) -> Patient:
    """Return the plan's patient (already loaded by load_plan: no query)."""
    patient = db.session.get(Patient, plan.patient_id)
    if patient is None:  # a plan always has its patient: the database refuses otherwise
        raise NotFound()
    return patient


def plan_url(patient_id: int, anchor: str = "") -> str:
    """Return the URL of the plan page, optionally at an anchor."""
    url = url_for("care_plans.show_plan", patient_id=patient_id)
    return f"{url}#{anchor}" if anchor else url


def attach(form: FlaskForm, error: DomainError) -> None:
    """Show a service error next to the field it names, else above the form (never a flash:
    an htmx fragment would not show it)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None and hasattr(field, "errors") and not isinstance(field, str):
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors = [*form.form_errors, error.message]


def reload_plan(patient_id: int) -> tuple[CarePlan, Patient]:
    """After a refused change: roll back, then load the plan again (an audited read)."""
    db.session.rollback()
    plan = load_plan(patient_id)
    db.session.commit()
    return plan, patient_of(plan)


def render_plan(
    plan: CarePlan, patient: Patient, forms: present.PlanForms | None = None, status: int = 200
) -> tuple[str, int]:
    """Render the plan page; `forms` carries a failed form back with what was typed."""
    page = present.plan_page(acting_user(), plan, patient, forms)
    return render_template(
        "care_plans/plan.html",
        page=page,
        patient=patient,
        active_tab="care_plan",
        # Suggestions for an action's "structure" field: the circle's outside services.
        structure_names=circle_structure_names(patient.id) if page.can_edit else [],
    ), status
