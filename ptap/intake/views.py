"""Request pages: the team's queue with its clocks, registration, the request page and its
actions (triage, answer, evaluation, closure, conversion), and the team's targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import queries as team_queries
from ptap.care_teams.forms import IdentityForm
from ptap.care_teams.models import CareTeam, Patient
from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from ptap.core.forms import attach_error
from ptap.core.policy import can, require, requires
from ptap.core.web import register_nav
from ptap.extensions import db
from ptap.intake import queries, services
from ptap.intake.forms import (
    REQUEST_FIELD_ALIASES,
    AnswerForm,
    CloseForm,
    RequestEditForm,
    RequestForm,
    TargetsForm,
    TriageForm,
    member_choices,
)
from ptap.intake.models import (
    REQUEST_STATUS_LABELS,
    MissionType,
    RequestStatus,
    SupportRequest,
)
from ptap.intake.present import request_row
from ptap.intake.requestclocks import is_late

bp = Blueprint("intake", __name__)
register_nav("Demandes", "intake.list_requests", "requests.list", "patients")

#: Requests per page of the list ("Page suivante" leads to the next ones).
PAGE_SIZE = 50
STATUS_FILTERS: dict[str, str] = {
    "open": "En cours",
    **{str(k): v for k, v in REQUEST_STATUS_LABELS.items()},
    "all": "Toutes",
}


def _attach(form: Any, error: DomainError, aliases: dict[str, str] | None = None) -> None:
    if error.field and aliases and error.field in aliases:
        error.field = aliases[error.field]
    attach_error(form, error)


# --- the queue ---------------------------------------------------------------------------


@bp.get("/requests")
@shows_patients("support requests")
@requires("requests.list")
def list_requests():
    teams = team_queries.my_teams(current_user.id)
    status = request.args.get("status", "open")
    status = status if status in STATUS_FILTERS else "open"
    raw_team = request.args.get("team", "")
    team_ids = {t.id for t in teams}
    team_id = int(raw_team) if raw_team.isdecimal() and int(raw_team) in team_ids else None
    late_only = request.args.get("late") == "1"
    criteria = queries.RequestFilter(team_id=team_id, status=status, late_only=late_only)
    now = clock.now()
    page = db.paginate(
        queries.ordered_requests_query(current_user, criteria, now),
        per_page=PAGE_SIZE,
        error_out=False,
    )
    found = list(page.items)
    note_patients_shown(r.patient_id for r in found)
    clocks = queries.clocks_of(found, now)
    rows = [request_row(r, clocks[r.id], is_late(r, now)) for r in found]
    # The late notice counts the teams shown: the chosen one, or all of the user's teams.
    late_counts = queries.count_late_requests([team_id] if team_id else team_ids, now)
    return render_template(
        "intake/request_list.html",
        rows=rows,
        page=page,
        filters={"team": team_id or "", "status": status, "late": "1" if late_only else ""},
        teams=teams,
        team_id=team_id,
        status=status,
        status_filters=STATUS_FILTERS,
        late_only=late_only,
        late_total=sum(late_counts.values()),
        coordinated=[t for t in teams if can(current_user, "intake.targets", t)],
        can_register=bool(teams),
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@requires("requests.list")
def register_request():
    form = RequestForm(teams=team_queries.my_teams(current_user.id))
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.register_request(
                current_user, form.team(), form.data_value(), request_context()
            ),
            catch=(InvalidInput,),
            success="Demande enregistrée. Les délais courent depuis sa réception.",
        )
        if outcome.ok:
            return redirect(url_for("intake.show_request", request_id=outcome.value.id))
        _attach(form, outcome.failure, REQUEST_FIELD_ALIASES)
    status = 422 if form.errors else 200
    return render_template("intake/request_new.html", form=form), status


# --- one request -------------------------------------------------------------------------


@dataclass
class ActionForms:
    """The action forms of a request page; a failed one comes back with what was typed."""

    triage: TriageForm | None = None
    answer: AnswerForm | None = None
    close: CloseForm | None = None


def _load(request_id: int) -> SupportRequest:
    return queries.get_request(current_user, request_id)


def _members(team_id: int) -> list[Any]:
    today = clock.paris_today()
    return [
        user
        for membership, user in team_queries.list_team_memberships(team_id)
        if membership.starts_on <= today and (membership.ends_on or today) >= today
    ]


def _can_evaluate(user: Any, req: SupportRequest) -> bool:
    still = req.is_open or req.status == RequestStatus.CONVERTED
    coordination = req.mission_type == MissionType.COORDINATION
    return still and coordination and req.evaluated_at is None and can(user, "request.handle", req)


def _render_request(req: SupportRequest, forms: ActionForms | None = None, status: int = 200):
    note_patients_shown([req.patient_id])  # also a refused form shown again: audited after
    forms = forms or ActionForms()
    now = clock.now()
    user = current_user._get_current_object()
    handle = can(user, "request.handle", req) and req.is_open
    answer = can(user, "request.answer", req) and req.is_open
    members = _members(req.team_id)
    triage = None
    if handle:
        triage = forms.triage or TriageForm(
            data={
                "mission_type": req.mission_type or "",
                "urgent": req.urgent,
                "assigned_to_id": str(req.assigned_to_id or ""),
            }
        )
        triage.assigned_to_id.choices = member_choices(members)
    patient = db.session.get(Patient, req.patient_id) if req.patient_id else None
    names = team_queries.user_names(
        [i for i in (req.assigned_to_id, req.created_by_id, req.closed_by_id) if i]
    )
    team = db.session.get_one(CareTeam, req.team_id)
    return render_template(
        "intake/request_show.html",
        req=req,
        row=request_row(req, queries.clocks_of([req], now)[req.id], is_late(req, now), full=True),
        team=team,
        patient=patient if patient is not None and can(user, "patient.read", patient) else None,
        assigned=names.get(req.assigned_to_id or 0, ""),
        created_by=names.get(req.created_by_id, ""),
        closed_by=names.get(req.closed_by_id or 0, ""),
        triage_form=triage,
        answer_form=(forms.answer or AnswerForm()) if answer else None,
        close_form=(forms.close or CloseForm()) if handle else None,
        evaluate_form=EmptyForm() if _can_evaluate(user, req) else None,
        can_convert=handle and req.mission_type is not None,
        can_edit=answer,
    ), status


@bp.get("/requests/<int:request_id>")
@shows_patients("support request")
@requires("requests.list")
def show_request(request_id: int):
    req = _load(request_id)
    note_patients_shown([req.patient_id])
    return _render_request(req)


@bp.route("/requests/<int:request_id>/edit", methods=["GET", "POST"])
@shows_patients("support request correction")
@requires("requests.list")
def edit_request(request_id: int):
    req = _load(request_id)
    note_patients_shown([req.patient_id])
    require(current_user, "request.answer", req)
    if not req.is_open:
        flash("Cette demande est clôturée : elle ne peut plus être corrigée.", "error")
        return redirect(url_for("intake.show_request", request_id=req.id))
    form = RequestEditForm() if request.method == "POST" else RequestEditForm.of(req)
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.update_request(current_user, req, form.corrected, request_context()),
            catch=(InvalidInput, Conflict),
            success="Demande corrigée.",
        )
        if outcome.ok:
            return redirect(url_for("intake.show_request", request_id=request_id))
        _attach(form, outcome.failure, REQUEST_FIELD_ALIASES)
    status = 422 if form.errors else 200
    return render_template("intake/request_edit.html", form=form, request_id=request_id), status


def _rerender(request_id: int, forms: ActionForms):
    db.session.rollback()
    return _render_request(_load(request_id), forms, status=422)


@bp.post("/requests/<int:request_id>/triage")
@requires("requests.list")
def triage_request(request_id: int):
    req = _load(request_id)
    require(current_user, "request.handle", req)
    form = TriageForm()
    form.assigned_to_id.choices = member_choices(_members(req.team_id))
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.triage_request(
                current_user,
                req,
                form.mission_type.data or "",
                request_context(),
                urgent=bool(form.urgent.data),
                assigned_to_id=form.assigned(),
            ),
            catch=(InvalidInput, Conflict),
            success="Demande qualifiée.",
        )
        if outcome.ok:
            return redirect(url_for("intake.show_request", request_id=req.id))
        _attach(form, outcome.failure)
    return _rerender(req.id, ActionForms(triage=form))


@bp.post("/requests/<int:request_id>/answer")
@requires("requests.list")
def answer_request(request_id: int):
    req = _load(request_id)
    require(current_user, "request.answer", req)
    form = AnswerForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.answer_request(
                current_user,
                req,
                form.answer_note.data or "",
                request_context(),
                answered_at=form.answered_at(),
            ),
            catch=(InvalidInput, Conflict),
            success="Réponse enregistrée.",
        )
        if outcome.ok:
            return redirect(url_for("intake.show_request", request_id=req.id))
        _attach(form, outcome.failure, {"answered_at": "answered_on"})
    return _rerender(req.id, ActionForms(answer=form))


@bp.post("/requests/<int:request_id>/evaluation")
@requires("requests.list")
def evaluate_request(request_id: int):
    req = _load(request_id)
    require(current_user, "request.handle", req)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: services.record_evaluation(current_user, req, request_context()),
            catch=(InvalidInput, Conflict),
            success="Évaluation de la situation enregistrée.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("intake.show_request", request_id=req.id))


@bp.post("/requests/<int:request_id>/close")
@requires("requests.list")
def close_request(request_id: int):
    req = _load(request_id)
    require(current_user, "request.handle", req)
    form = CloseForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.close_request(
                current_user,
                req,
                form.outcome.data or "",
                form.outcome_note.data or "",
                request_context(),
            ),
            catch=(InvalidInput, Conflict),
            success="Demande clôturée.",
        )
        if outcome.ok:
            return redirect(url_for("intake.show_request", request_id=req.id))
        _attach(form, outcome.failure, {"mission_type": "outcome"})
    return _rerender(req.id, ActionForms(close=form))


@bp.route("/requests/<int:request_id>/convert", methods=["GET", "POST"])
@shows_patients("support request conversion")
@requires("requests.list")
def convert_request(request_id: int):
    req = _load(request_id)
    if not can(current_user, "request.handle", req) or not req.is_open:
        raise NotFound("Demande introuvable ou déjà clôturée.")
    linked = db.session.get(Patient, req.patient_id) if req.patient_id else None
    note_patients_shown([req.patient_id])
    form: Any = EmptyForm() if linked is not None else IdentityForm()
    existing_id, status = None, 200
    if form.validate_on_submit():

        def convert() -> Any:
            identity = form.identity() if linked is None else None
            return services.convert_to_enrolment(
                current_user, req, request_context(), identity=identity
            )

        outcome = run_action(convert, catch=(InvalidInput, Conflict))
        if outcome.ok:
            enrolment = outcome.value
            flash(
                "La personne est incluse dans la file active de l'équipe ; la demande y est liée.",
                "success",
            )
            return redirect(url_for("care_teams.show_patient", patient_id=enrolment.patient_id))
        attach_error(form, outcome.failure)
        existing_id, status = getattr(outcome.failure, "existing_id", None), outcome.failure.status
    return render_template(
        "intake/request_convert.html",
        req=req,
        row=request_row(req, queries.clocks_of([req], clock.now())[req.id], False, full=True),
        linked=linked,
        form=form,
        existing_id=existing_id,
    ), status


# --- team targets ------------------------------------------------------------------------


@bp.route("/teams/<int:team_id>/intake-targets", methods=["GET", "POST"])
@requires("requests.list")
def team_targets(team_id: int):
    team = db.session.get(CareTeam, team_id)
    if team is None or not can(current_user, "request.register", team):
        raise NotFound("Équipe introuvable.")
    editable = can(current_user, "intake.targets", team)
    form = TargetsForm(data=asdict(queries.get_targets(team.id)))
    if request.method == "POST":
        if not editable:
            raise PermissionDenied()
        form = TargetsForm()
        if form.validate_on_submit():
            outcome = run_action(
                lambda: services.set_intake_targets(
                    current_user, team, form.targets(), request_context()
                ),
                catch=(InvalidInput,),
                success="Délais cibles enregistrés : ils valent pour les demandes reçues "
                "à partir de maintenant.",
            )
            if outcome.ok:
                return redirect(url_for("intake.list_requests", team=team.id))
            attach_error(form, outcome.failure)
    status = 422 if form.errors else 200
    return render_template(
        "intake/team_targets.html", team=team, form=form, editable=editable
    ), status
