"""Grid pages (list, editor, FHIR import: coordinators write) and a patient's assessments
(the "Évaluations" tab: start, fill with autosave, sign, history with the score over time)."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import Patient
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.formatting import label
from ptap.core.policy import can, requires
from ptap.core.web import register_nav
from ptap.extensions import db
from ptap.grids import fhir, plan_actions, present, queries, services
from ptap.grids.definition import missing_required, parse_definition
from ptap.grids.forms import (
    ACTIONS_HINT,
    OPTION_HINT,
    GridEditorForm,
    ImportForm,
    ResponseImportForm,
    StartForm,
    answers_from_form,
    revision_from_form,
)
from ptap.grids.models import ASSESSMENT_STATUS_LABELS, GRID_STATUS_LABELS, Assessment
from ptap.grids.permissions import can_edit_assessment

bp = Blueprint("grids", __name__)
WRITE_ERRORS = (InvalidInput, Conflict, PermissionDenied)

register_nav("Grilles d'évaluation", "grids.list_grids", "grids.list", "coordination")


@bp.app_template_filter("grid_status_label")
def grid_status_label(value: str) -> str:
    return label(GRID_STATUS_LABELS, value)


@bp.app_template_filter("assessment_status_label")
def assessment_status_label(value: str) -> str:
    return label(ASSESSMENT_STATUS_LABELS, value)


# --- grids ---------------------------------------------------------------------------------


@bp.get("/grids")
@requires("grids.list")
def list_grids():
    return render_template(
        "grids/list.html",
        grids=queries.list_grids(),
        may_manage=can(current_user, "grids.manage"),
    )


def _render_editor(form: GridEditorForm, grid=None, status: int = 200):
    links = form.error_links()
    return render_template(
        "grids/edit.html",
        form=form,
        grid=grid,
        error_links=links,
        option_hint=OPTION_HINT,
        actions_hint=ACTIONS_HINT,
    ), status


def _save_editor(form: GridEditorForm, save) -> bool:
    """Run `save(definition)` on the editor's input; attach the error (rolled back) if any."""
    try:
        save(form.definition_raw())
    except WRITE_ERRORS as error:
        db.session.rollback()
        form.attach(error)
        return False
    db.session.commit()
    return True


@bp.route("/grids/new", methods=["GET", "POST"])
@requires("grids.manage")
def new_grid():
    if request.method == "GET":
        return _render_editor(GridEditorForm.for_definition(None))
    form = GridEditorForm()
    if not form.validate():
        return _render_editor(form, status=422)
    if request.form.get("op"):
        return _render_editor(form.apply(request.form["op"]))
    created = []

    def save(raw):
        created.append(
            services.create_grid(current_user, form.key.data or "", raw, request_context())
        )

    if _save_editor(form, save):
        flash("Grille créée (brouillon) : relisez-la, puis publiez-la.", "success")
        return redirect(url_for("grids.show_grid", grid_id=created[0].id))
    return _render_editor(form, status=422)


@bp.get("/grids/<int:grid_id>")
@requires("grids.list")
def show_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    version = queries.find_current_version(grid)
    shown = version.definition if version else grid.draft
    definition = parse_definition(shown)
    return render_template(
        "grids/show.html",
        grid=grid,
        version=version,
        definition=definition,
        sections=present.sections(definition, {}),
        versions=queries.list_versions(grid.id),
        draft_differs=version is not None and version.definition != grid.draft,
        may_manage=can(current_user, "grids.manage"),
        action_form=EmptyForm(),
        type_label=present.type_label,
    )


@bp.route("/grids/<int:grid_id>/edit", methods=["GET", "POST"])
@requires("grids.manage")
def edit_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    if request.method == "GET":
        return _render_editor(GridEditorForm.for_definition(grid.draft), grid)
    form = GridEditorForm()
    if not form.validate():
        return _render_editor(form, grid, status=422)
    if request.form.get("op"):
        return _render_editor(form.apply(request.form["op"]), grid)
    if _save_editor(
        form, lambda raw: services.save_grid_draft(current_user, grid, raw, request_context())
    ):
        flash("Brouillon enregistré. Publiez-le pour qu'il serve aux évaluations.", "success")
        return redirect(url_for("grids.show_grid", grid_id=grid_id))
    return _render_editor(form, queries.get_grid(grid_id), status=422)


@bp.post("/grids/<int:grid_id>/publish")
@requires("grids.manage")
def publish_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    if EmptyForm().validate_on_submit():
        try:
            version = services.publish_grid(current_user, grid, request_context())
        except WRITE_ERRORS as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            if version is None:
                flash("Rien à publier : le brouillon est identique à la version en vigueur.")
            else:
                flash(f"Version {version.number} publiée.", "success")
    return redirect(url_for("grids.show_grid", grid_id=grid_id))


@bp.post("/grids/<int:grid_id>/retire")
@requires("grids.manage")
def retire_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    if EmptyForm().validate_on_submit():
        services.retire_grid(current_user, grid, request_context())
        db.session.commit()
        flash("Grille retirée : plus de nouvelle évaluation avec elle.", "success")
    return redirect(url_for("grids.show_grid", grid_id=grid_id))


@bp.route("/grids/import", methods=["GET", "POST"])
@requires("grids.manage")
def import_grid():
    form = ImportForm()
    preview = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                raw = form.parsed()
                plan = fhir.parse_questionnaire(raw, form.key.data or "")
                if request.form.get("confirm") == "1":
                    grid = services.import_grid(
                        current_user, raw, form.key.data or "", request_context()
                    )
                    db.session.commit()
                    flash("Questionnaire importé comme grille (brouillon).", "success")
                    return redirect(url_for("grids.show_grid", grid_id=grid.id))
                preview = present.import_summary(plan, None)
                status = 200
            except WRITE_ERRORS as error:
                db.session.rollback()
                form.attach(error)
    return render_template("grids/import.html", form=form, preview=preview), status


# --- a patient's assessments ----------------------------------------------------------------


def _render_patient(
    patient: Patient,
    form: StartForm | None = None,
    status: int = 200,
    *,
    import_form: ResponseImportForm | None = None,
    preview=None,
):
    may_fill = can(current_user, "assessments.fill", patient)
    if may_fill and form is None:
        form = StartForm(grids=queries.list_grids(published_only=True))
    rows = queries.patient_assessment_rows(patient.id)
    return render_template(
        "grids/patient_assessments.html",
        patient=patient,
        active_tab="assessments",
        form=form if may_fill else None,
        import_form=(import_form or ResponseImportForm()) if may_fill else None,
        preview=preview,
        rows=rows,
        histories=present.histories(rows),
    ), status


@bp.get("/patients/<int:patient_id>/assessments")
@requires("assessments.list")
def patient_assessments(patient_id: int):
    patient = load_patient(patient_id, what="assessments")
    db.session.commit()  # keep the audited read
    return _render_patient(patient)


@bp.post("/patients/<int:patient_id>/assessments")
@requires("assessments.list")
def start_assessment(patient_id: int):
    patient = load_patient(patient_id, "assessments.fill")
    form = StartForm(grids=queries.list_grids(published_only=True))
    if form.validate_on_submit():
        grid_id = form.chosen()
        try:
            if grid_id is None:
                raise InvalidInput("Choisissez une grille.", field="grid_id")
            grid = queries.get_grid(grid_id)
            assessment = services.start_assessment(current_user, patient, grid, request_context())
        except (*WRITE_ERRORS, NotFound) as error:
            db.session.rollback()
            form.grid_id.errors = [getattr(error, "message", "Grille introuvable.")]
        else:
            db.session.commit()
            return redirect(url_for("grids.show_assessment", assessment_id=assessment.id))
    patient = load_patient(patient_id, what="assessments")
    db.session.commit()
    return _render_patient(patient, form, status=422)


@bp.post("/patients/<int:patient_id>/assessments/import")
@requires("assessments.list")
def import_assessment(patient_id: int):
    patient = load_patient(patient_id, "assessments.fill")
    form = ResponseImportForm()
    preview = None
    if form.validate_on_submit():
        try:
            plan = services.plan_assessment_import(current_user, patient, form.parsed())
            if request.form.get("confirm") == "1":
                created = services.import_assessment(current_user, patient, plan, request_context())
                db.session.commit()
                flash("Évaluation importée (brouillon) : relisez-la, puis signez-la.", "success")
                return redirect(url_for("grids.show_assessment", assessment_id=created.id))
            preview = present.assessment_import_summary(plan, None)
        except WRITE_ERRORS as error:
            db.session.rollback()
            form.attach(error)
    patient = load_patient(patient_id, what="assessments")
    db.session.commit()
    status = 200 if preview else 422
    return _render_patient(patient, status=status, import_form=form, preview=preview)


def _render_assessment(
    assessment: Assessment,
    patient: Patient,
    *,
    errors: dict[str, str] | None = None,
    answers: dict | None = None,
    status: int = 200,
):
    version = queries.get_version(assessment.grid_version_id)
    grid = queries.get_grid(assessment.grid_id)
    definition = parse_definition(version.definition)
    shown = answers if answers is not None else assessment.answers
    editable = can_edit_assessment(current_user, assessment, patient)
    if editable:  # the author's own draft: the running score
        score, band = present.live_band(definition, assessment.answers)
    elif assessment.status == "signed":
        score, band = assessment.score, assessment.band_label
    else:  # someone else's draft: partial, not a result
        score, band = None, ""
    alert = queries.find_alert(assessment.id)
    target = (
        plan_actions.plan_target(current_user, patient)
        if assessment.status == "signed" and assessment.band_label
        else None
    )
    return render_template(
        "grids/assessment.html",
        patient=patient,
        active_tab="assessments",
        assessment=assessment,
        grid=grid,
        version=version,
        definition=definition,
        sections=present.sections(definition, shown),
        editable=editable,
        errors=errors or {},
        score=score,
        band=band,
        alert=alert,
        actions=present.proposed_actions(definition, assessment.band_label),
        target=target,
        form=EmptyForm(),
    ), status


def _load(assessment_id: int, action: str = "patient.read") -> tuple[Assessment, Patient]:
    assessment = queries.get_assessment(assessment_id)
    patient = load_patient(assessment.patient_id, action, what="assessments")
    return assessment, patient


@bp.get("/assessments/<int:assessment_id>")
@requires("assessments.list")
def show_assessment(assessment_id: int):
    assessment, patient = _load(assessment_id)
    db.session.commit()
    return _render_assessment(assessment, patient)


def _save(assessment: Assessment, patient: Patient) -> Assessment:
    definition = queries.version_definition(assessment.grid_version_id)
    return services.save_assessment(
        current_user,
        assessment,
        patient,
        answers_from_form(definition, request.form),
        revision_from_form(request.form),
        request_context(),
    )


@bp.post("/assessments/<int:assessment_id>")
@requires("assessments.list")
def save_assessment(assessment_id: int):
    assessment, patient = _load(assessment_id, "assessments.fill")
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("grids.show_assessment", assessment_id=assessment_id))
    signing = request.form.get("action") == "sign"
    try:
        _save(assessment, patient)
        if signing:
            services.sign_assessment(current_user, assessment, patient, request_context())
    except WRITE_ERRORS as error:
        db.session.rollback()
        assessment, patient = _load(assessment_id)
        db.session.commit()
        key = (error.field or "").removeprefix("answers.")
        definition = queries.version_definition(assessment.grid_version_id)
        typed = answers_from_form(definition, request.form)
        errors = {key or "_": error.message}
        if signing and isinstance(error, InvalidInput) and key:
            # Every unanswered required item is marked, not only the first.
            for item in missing_required(definition, typed):
                errors.setdefault(item.key, f"« {item.label} » : réponse obligatoire pour signer.")
        return _render_assessment(
            assessment,
            patient,
            errors=errors,
            answers=typed,
            status=422 if isinstance(error, InvalidInput) else 409,
        )
    db.session.commit()
    flash("Évaluation signée." if signing else "Brouillon enregistré.", "success")
    return redirect(url_for("grids.show_assessment", assessment_id=assessment_id))


@bp.post("/assessments/<int:assessment_id>/autosave")
@requires("assessments.list")
def autosave_assessment(assessment_id: int):
    assessment, patient = _load(assessment_id, "assessments.fill")
    if not EmptyForm().validate_on_submit():
        return jsonify(error="Session expirée : rechargez la page."), 400
    try:
        _save(assessment, patient)
    except WRITE_ERRORS as error:
        db.session.rollback()
        return jsonify(error=error.message, field=error.field), error.status
    db.session.commit()
    definition = queries.version_definition(assessment.grid_version_id)
    score, band = present.live_band(definition, assessment.answers)
    return jsonify(revision=assessment.revision, score=score, band=band)


@bp.post("/assessments/<int:assessment_id>/plan-actions")
@requires("assessments.list")
def add_to_plan(assessment_id: int):
    assessment, patient = _load(assessment_id)
    if EmptyForm().validate_on_submit():
        raw = request.form.get("action", "")
        index = int(raw) if raw.isdecimal() and len(raw) < 4 else -1
        try:
            plan_actions.add_proposed_action(
                current_user,
                assessment,
                patient,
                index,
                request.form.get("objective", ""),
                request_context(),
            )
        except (*WRITE_ERRORS, NotFound) as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash("Action ajoutée au brouillon du plan de coordination.", "success")
    return redirect(url_for("grids.show_assessment", assessment_id=assessment_id))
