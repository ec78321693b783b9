"""Outside services of the circle (SSIAD, CCAS, aide à domicile...): add, edit, end.

The list and the add form live on the circle page; each running service has an edit page,
which also ends it. The patient's coordinators and the professionals of the circle act.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for

from ptap.audit.context import request_context
from ptap.care_teams import circle_structures
from ptap.care_teams.circle_structures import StructureData
from ptap.care_teams.forms_circle import CircleStructureForm, EndCircleStructureForm
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CIRCLE_STRUCTURE_KIND_LABELS, CircleStructure, Patient
from ptap.care_teams.views import bp
from ptap.care_teams.views.circle import _render_circle, blank_invitation
from ptap.care_teams.views.helpers import acting_user, label
from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import requires
from ptap.extensions import db

MANAGE = "patient.structures.manage"


def _data(form: CircleStructureForm) -> StructureData:
    return StructureData(
        kind=form.kind.data or "",
        finess=form.finess.data or "",
        name=form.name.data or "",
        contact_person=form.contact_person.data or "",
        phone=form.phone.data or "",
        email=form.email.data or "",
        address=form.address.data or "",
        note=form.note.data or "",
        started_on=form.started_on.data,
    )


def _load(patient: Patient, structure_id: int) -> CircleStructure:
    return circle_structures.get_circle_structure(patient, structure_id)


def _render_edit(
    patient: Patient,
    row: CircleStructure,
    form: CircleStructureForm,
    end_form: EndCircleStructureForm,
    status: int = 200,
) -> Any:
    page = render_template(
        "care_teams/circle_structure_edit.html",
        patient=patient,
        active_tab="circle",
        row=row,
        title=circle_structures.display_name(row),
        kind_label=label(CIRCLE_STRUCTURE_KIND_LABELS, row.kind),
        form=form if row.ended_on is None else None,
        end_form=end_form if row.ended_on is None else None,
    )
    return page, status


def _end_form() -> EndCircleStructureForm:
    form = EndCircleStructureForm(formdata=None)
    form.ended_on.data = clock.paris_today()
    return form


@bp.post("/patients/<int:patient_id>/circle/structures")
@requires("patients.list")
def add_circle_structure(patient_id: int):
    patient = load_patient(patient_id, MANAGE)
    form = CircleStructureForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: circle_structures.add_circle_structure(
                acting_user(), patient, _data(form), request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="La structure fait partie du cercle de soins.",
        )
        if outcome.ok:
            return redirect(url_for(".patient_circle", patient_id=patient.id) + "#structures")
        attach_error(form, outcome.failure)
    return _render_circle(patient, blank_invitation(), 422, structure_form=form)


@bp.get("/patients/<int:patient_id>/circle/structures/<int:structure_id>")
@requires("patients.list")
def edit_circle_structure(patient_id: int, structure_id: int):
    patient = load_patient(patient_id, MANAGE)
    row = _load(patient, structure_id)
    db.session.commit()
    form = CircleStructureForm(formdata=None, obj=row)
    form.finess.data = row.finess or ""
    return _render_edit(patient, row, form, _end_form())


@bp.post("/patients/<int:patient_id>/circle/structures/<int:structure_id>")
@requires("patients.list")
def update_circle_structure(patient_id: int, structure_id: int):
    patient = load_patient(patient_id, MANAGE)
    row = _load(patient, structure_id)
    form = CircleStructureForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: circle_structures.update_circle_structure(
                acting_user(), patient, row, _data(form), request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="Les informations de la structure sont enregistrées.",
        )
        if outcome.ok:
            return redirect(url_for(".patient_circle", patient_id=patient.id) + "#structures")
        attach_error(form, outcome.failure)
    return _render_edit(patient, _load(patient, structure_id), form, _end_form(), 422)


@bp.post("/patients/<int:patient_id>/circle/structures/<int:structure_id>/end")
@requires("patients.list")
def end_circle_structure(patient_id: int, structure_id: int):
    patient = load_patient(patient_id, MANAGE)
    row = _load(patient, structure_id)
    end_form = EndCircleStructureForm()
    if end_form.validate_on_submit():
        outcome = run_action(
            lambda: circle_structures.end_circle_structure(
                acting_user(), patient, row, end_form.ended_on.data, request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="Intervention terminée ; elle reste dans l'historique du cercle.",
        )
        if outcome.ok:
            return redirect(url_for(".patient_circle", patient_id=patient.id) + "#structures")
        attach_error(end_form, outcome.failure)
    row = _load(patient, structure_id)
    form = CircleStructureForm(formdata=None, obj=row)
    form.finess.data = row.finess or ""
    return _render_edit(patient, row, form, end_form, 422)
