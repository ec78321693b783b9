"""The referent of a follow-up, and the "Absence et remplacement" page of coordinators."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from ptap.accounts.forms import EmptyForm
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.care_teams import referents
from ptap.care_teams.forms_referent import CoverForm, ReferentForm
from ptap.care_teams.loaders import NOT_FOUND
from ptap.care_teams.models import Enrolment
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import acting_user
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db


@bp.post("/enrolments/<int:enrolment_id>/referent")
@requires("patients.list")
def change_referent(enrolment_id: int):
    user = acting_user()
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or not can(user, "enrolment.referent", enrolment):
        raise NotFound(NOT_FOUND)
    coordinators = referents.list_team_coordinators(enrolment.team_id)
    form = ReferentForm.for_enrolment(enrolment.id, enrolment.referent_id, coordinators)
    back = redirect(url_for("care_teams.show_patient", patient_id=enrolment.patient_id) + "#suivis")
    if not form.validate_on_submit():
        flash("Choisissez un coordinateur de l'équipe dans la liste.", "error")
        return back
    chosen = form.referent()
    outcome = run_action(
        lambda: referents.set_referent(
            user, enrolment, db.session.get(User, chosen) if chosen else None, request_context()
        ),
        catch=(InvalidInput,),
        success="Référent enregistré.",
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
    return back


def _render_absences(form: CoverForm, status: int = 200):
    user = acting_user()
    return render_template(
        "care_teams/absences.html",
        form=form,
        covers=referents.list_covers(user.id),
        cancel_form=EmptyForm(),
    ), status


def _cover_form() -> CoverForm:
    form = CoverForm()
    form.offer(*referents.list_fellow_coordinators(acting_user().id))
    return form


@bp.get("/absences")
@requires("cover.declare")
def absences():
    return _render_absences(_cover_form())


@bp.post("/absences")
@requires("cover.declare")
def declare_cover():
    form = _cover_form()
    if not form.validate_on_submit():
        return _render_absences(form, 422)
    starts_on, ends_on = form.starts_on.data, form.ends_on.data
    if starts_on is None or ends_on is None:  # InputRequired passed: never
        return _render_absences(form, 422)
    req = referents.CoverRequest(
        stand_in_id=int(form.stand_in_id.data or 0),
        team_id=int(form.team_id.data) if form.team_id.data else None,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    outcome = run_action(
        lambda: referents.declare_cover(acting_user(), req, request_context()),
        catch=(InvalidInput, Conflict),
        success="Absence enregistrée : vos notifications iront aussi à votre remplaçant·e.",
    )
    if not outcome.ok:
        attach_error(form, outcome.failure)
        return _render_absences(form, 422)
    return redirect(url_for("care_teams.absences"))


@bp.post("/absences/<int:cover_id>/cancel")
@requires("cover.declare")
def cancel_cover(cover_id: int):
    user = acting_user()
    cover = db.session.get(referents.CoverPeriod, cover_id)
    if cover is None or not can(user, "cover.cancel", cover):
        raise NotFound("Absence introuvable.")
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: referents.cancel_cover(user, cover, request_context()),
            catch=(Conflict,),
            success="Absence annulée.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("care_teams.absences"))
