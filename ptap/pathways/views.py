"""Pathway pages: the template library and editor (coordinators), and a patient's pathways
(timeline, preview of the prefill, start and stop)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_plans import queries as plan_queries
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient, Territory
from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from ptap.core.policy import can, requires
from ptap.core.web import register_nav
from ptap.extensions import db
from ptap.grids import queries as grid_queries
from ptap.pathways import editing, queries, services
from ptap.pathways.content import OFFSET_FROM_LABELS, parse_content
from ptap.pathways.loaders import require_plan_editor
from ptap.pathways.models import TEMPLATE_STATUS_LABELS, PathwayTemplate

bp = Blueprint("pathways", __name__)
register_nav("Parcours types", "pathways.list_templates", "pathway_templates.list")
WRITE_ERRORS = (InvalidInput, Conflict, PermissionDenied, NotFound)


def _user() -> Any:
    return current_user._get_current_object()


# --- library and editor -----------------------------------------------------------------------


def _owners() -> list[tuple[str, str]]:
    """The owners this coordinator may create templates for: "team:<id>" or "territory:<id>"."""
    teams = [t for t in team_queries.my_teams(current_user.id) if can_manage_team(t)]
    territories = {t.territory_id: t.territory.name for t in teams}
    return [(f"team:{t.id}", f"Équipe : {t.name}") for t in teams] + [
        (f"territory:{tid}", f"Territoire : {name} (partagé par ses équipes)")
        for tid, name in territories.items()
    ]


def can_manage_team(team: CareTeam) -> bool:
    """Whether the user coordinates this team (templates of the team or its territory)."""
    return access.is_team_coordinator(current_user.id, team.id)


@bp.get("/pathway-templates")
@requires("pathway_templates.list")
def list_templates():
    search = request.args.get("q", "")[:100]
    templates = queries.list_templates(current_user.id, search=search)
    rows = [
        {
            "template": t,
            "status": TEMPLATE_STATUS_LABELS[t.status],
            "owner": "Territoire" if t.territory_id else "Équipe",
            "steps": len(t.draft.get("steps", [])),
        }
        for t in templates
    ]
    return render_template("pathways/templates.html", rows=rows, search=search, owners=_owners())


@bp.post("/pathway-templates")
@requires("pathway_templates.list")
def create_template():
    kind, _, raw = request.form.get("owner", "").partition(":")
    title = request.form.get("title", "").strip()
    team = db.session.get(CareTeam, int(raw)) if kind == "team" and raw.isdecimal() else None
    territory = (
        db.session.get(Territory, int(raw)) if kind == "territory" and raw.isdecimal() else None
    )
    outcome = run_action(
        lambda: services.create_template(
            _user(),
            parse_content({"title": title}),
            team=team,
            territory=territory,
            ctx=request_context(),
        ),
        catch=WRITE_ERRORS,
        success="Modèle créé : ajoutez ses étapes.",
    )
    if outcome.ok:
        return redirect(url_for("pathways.edit_template", template_id=outcome.value.id))
    flash(str(outcome.error), "error")
    return redirect(url_for("pathways.list_templates"))


def _render_editor(
    template: PathwayTemplate, data: dict[str, Any], errors: dict[str, str], status: int = 200
):
    versions = queries.list_template_versions(template.id)
    return (
        render_template(
            "pathways/template_edit.html",
            template=template,
            data=data,
            steps=editing.step_fields(data),
            errors=errors,
            status_label=TEMPLATE_STATUS_LABELS[template.status],
            versions=versions,
            offset_choices=[(k.value, v) for k, v in OFFSET_FROM_LABELS.items()],
            may_manage=can(current_user, "pathway_templates.manage", template),
            grids=grid_queries.list_grids(),
        ),
        status,
    )


@bp.get("/pathway-templates/<int:template_id>")
@requires("pathway_templates.list")
def edit_template(template_id: int):
    template = queries.get_readable_template(current_user, template_id)
    return _render_editor(template, template.draft, {})


def _save(template: PathwayTemplate, data: dict[str, Any], op: str) -> PathwayTemplate:
    services.save_template_draft(_user(), template, parse_content(data))
    if op == "publish":
        services.publish_template(_user(), template, request_context())
    return template


@bp.post("/pathway-templates/<int:template_id>")
@requires("pathway_templates.list")
def save_template(template_id: int):
    template = queries.get_readable_template(current_user, template_id)
    op = request.form.get("op", "save")
    data = editing.content_from_form(request.form, template.draft)
    if op == "retire":
        outcome = run_action(
            lambda: services.retire_template(_user(), template, request_context()),
            catch=WRITE_ERRORS,
            success="Modèle retiré : aucun nouveau parcours ne partira de lui.",
        )
    elif op in ("save", "publish"):
        done = "Modèle publié." if op == "publish" else "Brouillon enregistré."
        outcome = run_action(lambda: _save(template, data, op), catch=WRITE_ERRORS, success=done)
    else:
        data = editing.apply_op(data, op)
        return _render_editor(template, data, {})
    if outcome.ok:
        return redirect(url_for("pathways.edit_template", template_id=template.id))
    error = outcome.error
    assert error is not None  # noqa: S101 - not ok means an error
    field = editing.form_field(getattr(error, "field", "") or "")
    return _render_editor(template, data, {field: str(error)}, 422)


# --- a patient's pathways ---------------------------------------------------------------------


def _patient_page(
    patient: Patient,
    *,
    preview: services.Prefill | None = None,
    chosen: int | None = None,
    start: date | None = None,
    error: str = "",
    status: int = 200,
):
    plan = plan_queries.find_plan_for_patient(patient.id)
    today = clock.paris_today()
    pathways = queries.list_patient_pathways(patient.id, today)
    running = {p.template_id for p in pathways if not p.stopped}
    may_edit = plan is not None and can(current_user, "care_plan.edit", plan)
    templates = (
        [t for t in queries.usable_templates(current_user.id, patient.id) if t.id not in running]
        if may_edit
        else []
    )
    names = team_queries.user_names(
        sorted({i for a in (preview.actions if preview else []) for i in a.candidates})
    )
    return (
        render_template(
            "pathways/patient_pathways.html",
            patient=patient,
            active_tab="pathways",
            pathways=pathways,
            plan=plan,
            may_edit=may_edit,
            may_fill=can(current_user, "assessments.fill", patient),
            templates=templates,
            preview=preview,
            names=names,
            chosen=chosen,
            start=start or today,
            error=error,
        ),
        status,
    )


@bp.get("/patients/<int:patient_id>/pathways")
@requires("patients.list")
def patient_pathways(patient_id: int):
    patient = load_patient(patient_id, what="pathways")
    db.session.commit()  # keep the audited read
    return _patient_page(patient)


def _chosen(patient: Patient) -> tuple[PathwayTemplate | None, date | None, str]:
    raw_id, raw_start = request.form.get("template_id", ""), request.form.get("started_on", "")
    try:
        start = date.fromisoformat(raw_start)
    except ValueError:
        return None, None, "Date de début : indiquez une date (jj/mm/aaaa)."
    try:
        services.check_start(start)
    except InvalidInput as error:
        return None, start, str(error)
    try:
        template = queries.get_readable_template(current_user, int(raw_id))
    except (ValueError, NotFound):
        return None, start, "Modèle de parcours : choisissez un modèle."
    if template.current_version is None or not services.usable_for_patient(template, patient.id):
        return None, start, "Modèle de parcours : ce modèle n'est pas utilisable ici."
    return template, start, ""


@bp.post("/patients/<int:patient_id>/pathways")
@requires("patients.list")
def start_pathway(patient_id: int):
    patient = load_patient(patient_id, what="pathways")
    template, start, error = _chosen(patient)
    if template is None or start is None:
        return _patient_page(patient, start=start, error=error, status=422)
    version = template.current_version
    assert version is not None  # noqa: S101 - checked by _chosen
    require_plan_editor(patient, "pathway.start")
    if request.form.get("op") != "start":
        prefill = services.build_prefill(patient, parse_content(version.content), start)
        db.session.commit()  # keep the audited read
        return _patient_page(patient, preview=prefill, chosen=template.id, start=start)
    outcome = run_action(
        lambda: services.start_pathway(_user(), patient, template, start, request_context()),
        catch=(DomainError,),
        success="Parcours démarré : le brouillon du plan est prérempli. Complétez les actions "
        "« À définir » puis publiez le plan.",
    )
    if outcome.ok:
        return redirect(url_for("pathways.patient_pathways", patient_id=patient.id))
    return _patient_page(
        patient, chosen=template.id, start=start, error=str(outcome.error), status=422
    )


@bp.post("/patients/<int:patient_id>/pathways/<int:pathway_id>/stop")
@requires("patients.list")
def stop_pathway(patient_id: int, pathway_id: int):
    patient = load_patient(patient_id, what="pathways")
    require_plan_editor(patient, "pathway.stop")
    pathway = queries.get_patient_pathway(patient.id, pathway_id)
    outcome = run_action(
        lambda: services.stop_pathway(
            _user(),
            pathway,
            request.form.get("open_actions", ""),
            request.form.get("reason", ""),
            request_context(),
        ),
        catch=(DomainError,),
        success="Parcours arrêté.",
    )
    if outcome.ok:
        return redirect(url_for("pathways.patient_pathways", patient_id=patient.id))
    return _patient_page(patient, error=str(outcome.error), status=422)
