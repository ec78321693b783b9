"""Editing the draft: inline (htmx or plain POST) actions and objectives, and the whole draft.

Inline changes answer htmx with the objective's fragment (the swap target) and plain
browsers with a redirect to the plan page, so every form works without JavaScript.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ptap.audit.context import request_context
from ptap.care_plans import queries, services
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    Action,
    PlanContent,
    incomplete_message,
    load_content,
)
from ptap.care_plans.forms import ActionForm, ActionStatusForm, DraftForm, ObjectiveForm, Person
from ptap.care_plans.loaders import load_plan
from ptap.care_plans.models import CarePlan
from ptap.care_plans.services import DraftConflict
from ptap.care_plans.views import bp, history, present
from ptap.care_plans.views.common import (
    acting_user,
    attach,
    is_htmx,
    patient_of,
    plan_url,
    reload_plan,
    render_plan,
)
from ptap.care_plans.views.present import PlanForms
from ptap.care_teams.circle_structures import circle_structure_names
from ptap.care_teams.models import Patient
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.formatting import local_datetime
from ptap.core.policy import can, requires
from ptap.extensions import db


def _answer(plan: CarePlan, patient: Patient, key: str, forms: PlanForms, status: int = 200):
    """Answer an inline change: the objective's fragment for htmx, else the page or a redirect."""
    if is_htmx():
        block = present.objective_fragment(plan, patient, key, forms)
        return render_template(
            "care_plans/_objective.html", objective=block, patient_id=patient.id, gone_key=key
        ), status
    if status < 400:
        kind, text = forms.messages.get(key, ("success", ""))
        if text:
            flash(text, kind)
        return redirect(plan_url(patient.id, f"objective-{key}"))
    return render_plan(plan, patient, forms, status)


@bp.post("/patients/<int:patient_id>/care-plan/objectives/<key>/actions")
@requires("patients.list")
def add_action(patient_id: int, key: str):
    plan = load_plan(patient_id, "care_plan.edit")
    patient = patient_of(plan)
    content = load_content(plan.draft)
    form = ActionForm.for_objective(key, present.people_of(patient, content))
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.add_action(acting_user(), plan, key, form.action(), request_context()),
            catch=(InvalidInput,),
        )
        if not outcome.ok:
            attach(form, outcome.failure)
        else:
            action = outcome.value
            message = ("success", f"Action « {action.what} » ajoutée.")
            forms = PlanForms(messages={key: message}, opened={key}, marks={action.key: "Ajoutée"})
            return _answer(plan, patient, key, forms)
    plan, patient = reload_plan(patient_id)
    return _answer(plan, patient, key, PlanForms(add_action={key: form}), 422)


def _conflict_message(exc: DraftConflict, key: str, mine: Action | None) -> tuple[str, str]:
    """Say who changed which action, when, and to what; nothing of the user's was saved."""
    found = exc.theirs.find_action(key)
    theirs = found[1] if found else None
    who = exc.by or "Un autre professionnel"
    when = local_datetime(exc.at)
    what = f"l'action « {theirs.what} »" if theirs else "cette action"
    now = f"statut « {ACTION_STATUS_LABELS[theirs.status]} »" if theirs else "supprimée"
    if theirs and theirs.due_on:
        now += f", échéance {theirs.due_on:%d/%m/%Y}"
    yours = f" (vous aviez choisi « {ACTION_STATUS_LABELS[mine.status]} »)" if mine else ""
    return (
        "conflict",
        f"{who} a modifié {what} le {when} : {now}{yours}. Votre changement n'a pas été "
        "enregistré ; le tableau ci-dessous est à jour : recommencez si besoin.",
    )


@bp.post("/patients/<int:patient_id>/care-plan/actions/<key>")
@requires("patients.list")
def update_action(patient_id: int, key: str):
    plan = load_plan(patient_id, "care_plan.edit")
    found = load_content(plan.draft).find_action(key)
    if found is None:
        raise NotFound("Action introuvable : elle a peut-être été supprimée.")
    okey = found[0].key
    form = ActionStatusForm.for_action(None, key)
    status, mine = 422, None
    if form.validate_on_submit():
        try:
            expected = form.expected_action(key)
            mine = form.changed_action(expected)
            services.update_action(acting_user(), plan, expected, mine, request_context())
        except DraftConflict as exc:
            plan, patient = reload_plan(patient_id)
            forms = PlanForms(
                messages={okey: _conflict_message(exc, key, mine)},
                marks={key: f"Modifiée par {exc.by or 'un autre professionnel'}"},
            )
            return _answer(plan, patient, okey, forms, 409)
        except (InvalidInput, NotFound) as exc:
            attach(form, exc)
            status = exc.status
        else:
            db.session.commit()
            done = ("success", f"Statut mis à jour : « {ACTION_STATUS_LABELS[mine.status]} ».")
            forms = PlanForms(messages={okey: done}, marks={key: "Mise à jour"})
            return _answer(plan, patient_of(plan), okey, forms)
    plan, patient = reload_plan(patient_id)
    return _answer(plan, patient, okey, PlanForms(action_status={key: form}), status)


@bp.post("/patients/<int:patient_id>/care-plan/objectives")
@requires("patients.list")
def add_objective(patient_id: int):
    plan = load_plan(patient_id, "care_plan.edit")
    form = ObjectiveForm()
    if form.validate_on_submit():
        objective = services.add_objective(acting_user(), plan, form.objective(), request_context())
        db.session.commit()
        flash(f"Objectif « {objective.title} » ajouté : ajoutez-lui des actions.", "success")
        return redirect(plan_url(patient_id, f"objective-{objective.key}"))
    plan, patient = reload_plan(patient_id)
    return render_plan(plan, patient, PlanForms(objective=form), 422)


# --- the whole draft --------------------------------------------------------------------------


def _render_edit(
    plan: CarePlan,
    patient: Patient,
    form: DraftForm,
    status: int = 200,
    conflict: DraftConflict | None = None,
    mine: PlanContent | None = None,
    focus_row: str = "",
):
    """Render the draft form; after a conflict, with the other's version and a comparison."""
    theirs = None
    if conflict is not None:
        theirs = {
            "by": conflict.by or "Un autre professionnel",
            "at": conflict.at,
            "parts": history.content_parts(conflict.theirs),
            "diff": queries.compare(conflict.theirs, mine) if mine else [],
            "details": history.change_details(conflict.theirs, mine) if mine else [],
        }
    stored = load_content(plan.draft)
    return render_template(
        "care_plans/edit.html",
        patient=patient,
        active_tab="care_plan",
        form=form,
        errors=form.error_items(),
        conflict=theirs,
        flashes_in_content=True,
        progress=present.plan_progress(plan, patient),
        incomplete=[incomplete_message(o, a) for o, a in stored.incomplete_actions()],
        can_publish=can(acting_user(), "care_plan.publish", plan),
        focus_row=focus_row,
        structure_names=circle_structure_names(patient.id),
    ), status


def _edit_form(plan: CarePlan, patient: Patient) -> DraftForm:
    """Return the draft form as posted (the people the plan may name offered)."""
    return DraftForm(people=present.people_of(patient, load_content(plan.draft)))


def _change_rows(form: DraftForm) -> str:
    """Add or remove a row as the posted form asks (nothing saved); return the new row's
    name ("" after a removal). Unknown rows are a 404."""
    added = request.form.get("add_row", "")
    if added:
        entry = form.add_row(added)
        if entry is None:
            raise NotFound("Liste inconnue dans le formulaire.")
        return str(entry.name)
    if not form.remove_row(request.form.get("remove_row", "")):
        raise NotFound("Ligne inconnue dans le formulaire.")
    return ""


@bp.post("/patients/<int:patient_id>/care-plan/edit/rows")
@requires("patients.list")
def edit_rows(patient_id: int):
    """htmx: the new blank row of a list (its inputs named after the posted rows), or an
    empty answer for a removed row. Nothing is saved: the draft is saved as a whole."""
    plan = load_plan(patient_id, "care_plan.edit")
    patient = patient_of(plan)
    form = _edit_form(plan, patient)
    if not form.csrf_token.validate(form):
        raise InvalidInput("Rechargez la page : le formulaire a expiré.")
    name = _change_rows(form)
    db.session.commit()  # keep the audited read
    if not name:
        return ""
    list_name = request.form["add_row"]
    row = form.row_list(list_name)[-1]  # type: ignore[index]
    return render_template(
        "care_plans/_editor_row.html",
        list_name=list_name,
        row=row,
        rows_url=url_for("care_plans.edit_rows", patient_id=patient_id),
        focus_row=name,
    )


def _publish_after_save(plan: CarePlan, patient: Patient, summary: str, people: list[Person]):
    """Publish the draft just saved; if refused, show the editor again with the reason (the
    draft stays saved: nothing typed is lost)."""
    outcome = run_action(
        lambda: services.publish_version(
            acting_user(), plan, summary, request_context(), complete_actions=True
        ),
        catch=(InvalidInput, Conflict),
    )
    if outcome.ok:
        version = outcome.value
        if version is None:
            flash(
                "Brouillon enregistré ; identique à la version publiée : rien n'a été publié.",
                "info",
            )
        else:
            flash(f"Brouillon enregistré et version {version.number} publiée.", "success")
        return redirect(plan_url(patient.id))
    plan, patient = reload_plan(patient.id)
    form = DraftForm.for_content(load_content(plan.draft), plan.draft_revision, people)
    form.summary.data = summary
    form.form_errors = [
        f"Brouillon enregistré, mais non publié : {outcome.failure.message}",
    ]
    return _render_edit(plan, patient, form, outcome.failure.status)


@bp.route("/patients/<int:patient_id>/care-plan/edit", methods=["GET", "POST"])
@requires("patients.list")
def edit_draft(patient_id: int):
    plan = load_plan(patient_id, "care_plan.edit")
    patient = patient_of(plan)
    current = load_content(plan.draft)
    people = present.people_of(patient, current)
    form = DraftForm(people=people)
    if not form.is_submitted():
        db.session.commit()  # keep the audited read
        form = DraftForm.for_content(current, plan.draft_revision, people)
        return _render_edit(plan, patient, form)
    if request.form.get("add_row") or request.form.get("remove_row"):
        # Without JavaScript: the page again with a row more or less, nothing saved.
        focus = _change_rows(form)
        db.session.commit()  # keep the audited read
        return _render_edit(plan, patient, form, focus_row=focus)
    mine, status = None, 422
    if form.validate_on_submit():
        try:
            mine = form.content(base=current)
            services.save_draft(acting_user(), plan, mine, form.revision(), request_context())
        except DraftConflict as exc:
            db.session.commit()  # nothing was written but the audited read
            # Saving again now replaces their version: the page says so, with the comparison.
            form.base_revision.data = str(exc.revision)
            return _render_edit(plan, patient, form, 409, exc, mine)
        except (InvalidInput, Conflict) as exc:
            attach(form, exc)
            status = exc.status
        else:
            db.session.commit()
            then = request.form.get("next")
            if then == "publish":
                return _publish_after_save(plan, patient, form.summary.data or "", people)
            flash("Brouillon enregistré.", "success")
            gaps = mine.incomplete_actions()
            if gaps:
                flash(
                    f"Attention : {len(gaps)} action{'s' if len(gaps) > 1 else ''} sans "
                    "intervenant ou sans échéance ; complétez-les ou cochez « À définir » "
                    f"avant de publier. {incomplete_message(*gaps[0])}",
                    "warning",
                )
            if then == "edit":  # "Enregistrer et continuer la saisie"
                return redirect(url_for("care_plans.edit_draft", patient_id=patient_id))
            return redirect(plan_url(patient_id))
    plan, patient = reload_plan(patient_id)
    return _render_edit(plan, patient, form, status)
