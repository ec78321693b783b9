"""The plan page, its creation, publication and lifecycle steps (each a POST, one service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import request_context
from ptap.care_plans import queries, services
from ptap.care_plans.forms import ApprovalForm, CloseForm, PublishForm
from ptap.care_plans.loaders import load_plan
from ptap.care_plans.models import ApprovalKind, CarePlan
from ptap.care_plans.views import bp
from ptap.care_plans.views.common import (
    acting_user,
    attach,
    patient_of,
    plan_url,
    reload_plan,
    render_plan,
)
from ptap.care_plans.views.present import PlanForms
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.policy import can, requires
from ptap.extensions import db


@bp.get("/patients/<int:patient_id>/care-plan")
@requires("patients.list")
def show_plan(patient_id: int):
    # load_plan answers 404 when there is no plan; this page offers to create it instead.
    patient = load_patient(patient_id, what="care_plan")
    plan = queries.find_plan_for_patient(patient.id)
    if plan is not None and not can(current_user, "care_plan.read", plan):
        raise PermissionDenied()
    db.session.commit()  # keep the audited read
    if plan is None:
        can_create = can(current_user, "patient.manage", patient) and bool(
            team_queries.active_enrolments(patient.id)
        )
        return render_template(
            "care_plans/no_plan.html",
            patient=patient,
            active_tab="care_plan",
            can_create=can_create,
            form=EmptyForm(),
        )
    return render_plan(plan, patient)


@bp.post("/patients/<int:patient_id>/care-plan")
@requires("patients.list")
def create_plan(patient_id: int):
    patient = load_patient(patient_id, what="care_plan")
    if not can(current_user, "patient.manage", patient):
        raise PermissionDenied()  # the patient's coordinators open the plan
    if EmptyForm().validate_on_submit():
        enrolments = team_queries.active_enrolments(patient.id)

        def create() -> None:
            if not enrolments:
                raise InvalidInput("Aucun suivi en cours : le plan ne peut pas être créé.")
            services.create_plan(acting_user(), enrolments[0], request_context())

        outcome = run_action(
            create,
            catch=(InvalidInput, Conflict),
            success="Plan personnalisé de coordination créé : complétez le brouillon.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(plan_url(patient.id))


@bp.post("/patients/<int:patient_id>/care-plan/versions")
@requires("patients.list")
def publish_version(patient_id: int):
    plan = load_plan(patient_id, "care_plan.publish")
    form = PublishForm()
    if form.validate_on_submit():
        previous = plan.current_version.number if plan.current_version else 0
        outcome = run_action(
            lambda: services.publish_version(
                acting_user(),
                plan,
                form.summary.data or "",
                request_context(),
                complete_actions=True,
            ),
            catch=(InvalidInput, Conflict),
        )
        if not outcome.ok:
            attach(form, outcome.failure)
            plan, patient = reload_plan(patient_id)
            return render_plan(plan, patient, PlanForms(publish=form), outcome.failure.status)
        version = outcome.value
        if version is None:
            flash(
                f"Aucune modification depuis la version {previous} : rien n'a été publié.", "info"
            )
        else:
            flash(f"Version {version.number} publiée.", "success")
        return redirect(plan_url(patient_id))
    return render_plan(plan, patient_of(plan), PlanForms(publish=form), 422)


#: Approval kinds: the policy action that records them, and the confirmation shown.
APPROVALS = {
    ApprovalKind.GP_VALIDATION.value: ("care_plan.validate", "Validation du médecin enregistrée."),
    ApprovalKind.PATIENT_AGREEMENT.value: (
        "care_plan.record_agreement",
        "Accord de la personne enregistré.",
    ),
}


@bp.post("/patients/<int:patient_id>/care-plan/approvals/<kind>")
@requires("patients.list")
def record_approval(patient_id: int, kind: str):
    if kind not in APPROVALS:
        raise NotFound()
    action, done = APPROVALS[kind]
    plan = load_plan(patient_id, action)
    form = ApprovalForm(prefix=kind)
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.record_approval(
                acting_user(),
                plan,
                kind,
                form.method.data or "",
                form.note.data or "",
                request_context(),
            ),
            catch=(InvalidInput, Conflict),
            success=done,
        )
        if not outcome.ok:
            attach(form, outcome.failure)
            plan, patient = reload_plan(patient_id)
            forms = PlanForms(approvals={kind: form})
            return render_plan(plan, patient, forms, outcome.failure.status)
        return redirect(plan_url(patient_id))
    return render_plan(plan, patient_of(plan), PlanForms(approvals={kind: form}), 422)


def _lifecycle_step(patient_id: int, step: Callable[[Any, CarePlan, Any], CarePlan], done: str):
    """Run one lifecycle service (activate, revise); a refusal is shown in the lifecycle card."""
    plan = load_plan(patient_id, "care_plan.publish")
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: step(acting_user(), plan, request_context()),
            catch=(InvalidInput, Conflict),
            success=done,
        )
        if not outcome.ok:
            exc = outcome.failure
            plan, patient = reload_plan(patient_id)
            return render_plan(plan, patient, PlanForms(lifecycle_error=exc.message), exc.status)
    return redirect(plan_url(patient_id))


@bp.post("/patients/<int:patient_id>/care-plan/activate")
@requires("patients.list")
def activate_plan(patient_id: int):
    return _lifecycle_step(patient_id, services.activate_plan, "Le plan est en vigueur.")


@bp.post("/patients/<int:patient_id>/care-plan/revision")
@requires("patients.list")
def start_revision(patient_id: int):
    return _lifecycle_step(
        patient_id,
        services.start_revision,
        "Révision ouverte : la prochaine version devra être validée et acceptée de nouveau.",
    )


@bp.post("/patients/<int:patient_id>/care-plan/close")
@requires("patients.list")
def close_plan(patient_id: int):
    plan = load_plan(patient_id, "care_plan.publish")
    form = CloseForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.close_plan(
                acting_user(), plan, form.close_reason.data or "", request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="Plan clos : ses actions ne figurent plus dans les listes de tâches.",
        )
        if not outcome.ok:
            attach(form, outcome.failure)
            plan, patient = reload_plan(patient_id)
            return render_plan(plan, patient, PlanForms(close=form), outcome.failure.status)
        return redirect(plan_url(patient_id))
    return render_plan(plan, patient_of(plan), PlanForms(close=form), 422)
