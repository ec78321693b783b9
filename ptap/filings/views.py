"""Pages of DMP filings: a patient's section, a team's panel, and the coordinators' buttons.

The patient's record page loads the section with htmx from ``/patients/<id>/dmp``, which is
also a full page without JavaScript. Buttons post a form (CSRF), call one service, commit and
go back where they were pressed with a French message; a refused cancel form is shown again
with its error.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.policy import can, require, requires
from ptap.core.web import register_nav
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.extensions import db
from ptap.filings import present, queries, services
from ptap.filings.forms import CancelFilingForm, DmpChangeForm, FilingActionForm, row_prefix
from ptap.filings.loaders import load_submission

bp = Blueprint("filings", __name__)

register_nav("Envois au DMP", "filings.my_panels", "dmp_submission.team_panel", "coordination")

MANAGE = "dmp_submission.manage"


def _user() -> Any:
    return current_user._get_current_object()


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the team page's link (the care-teams view knows nothing of filings) -------------------


@bp.app_context_processor
def team_page_link() -> dict[str, Any]:
    """Template context of the team page: its panel link and count, for its coordinators."""
    if not has_request_context() or request.endpoint != "care_teams.show_team":
        return {}
    team_id = (request.view_args or {}).get("team_id")
    team = db.session.get(CareTeam, team_id) if team_id else None
    if team is None or not can(current_user, "dmp_submission.team_panel", team):
        return {}
    count = queries.count_attention_by_team([team.id], current_user.id).get(team.id, 0)
    return {"dmp_panel": {"url": url_for("filings.team_panel", team_id=team.id), "count": count}}


# --- pages ---------------------------------------------------------------------------------


def _render_patient(patient_id: int, back: str, failed: present.FailedForms | None = None):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()  # keep the audited read
    rows = queries.list_patient_submissions(patient.id)
    filed = (
        queries.list_filed_documents(patient.id) if can(_user(), "dmp_filed.view", patient) else []
    )
    section = present.patient_section(_user(), patient, rows, back=back, failed=failed, filed=filed)
    status = 422 if failed else 200
    if _is_htmx() and failed is None:
        return render_template("filings/_patient_section.html", section=section), status
    return render_template(
        "filings/patient.html", patient=patient, section=section, active_tab="record"
    ), status


@bp.get("/patients/<int:patient_id>/dmp")
@requires("patients.list")
def patient_filings(patient_id: int):
    return _render_patient(patient_id, back="record" if _is_htmx() else "filings")


def _render_team(team: CareTeam, failed: present.FailedForms | None = None):
    require(current_user, "dmp_submission.team_panel", team)
    rows = queries.list_team_attention(team.id, current_user.id)
    note_patients_shown(r.submission.patient_id for r in rows)
    panel = present.team_panel(team, rows, failed)
    return render_template("filings/team.html", panel=panel), 422 if failed else 200


@bp.get("/teams/<int:team_id>/dmp")
@shows_patients("dmp team panel")
@requires("dmp_submission.team_panel")
def team_panel(team_id: int):
    return _render_team(db.get_or_404(CareTeam, team_id))


@bp.get("/dmp")
@requires("dmp_submission.team_panel")
def my_panels():
    teams = team_queries.coordinated_teams(current_user.id)
    if len(teams) == 1:
        return redirect(url_for("filings.team_panel", team_id=teams[0].id))
    counts = queries.count_attention_by_team([t.id for t in teams], current_user.id)
    return render_template(
        "filings/teams.html",
        teams=[
            (t.name, url_for("filings.team_panel", team_id=t.id), counts.get(t.id, 0))
            for t in teams
        ],
    )


# --- buttons -------------------------------------------------------------------------------


def _back_url(row: DmpSubmission, back: str) -> str:
    if back == "team" and row.team_id is not None:
        return url_for("filings.team_panel", team_id=row.team_id)
    if back == "record":
        # No #dmp anchor: the message shows at the top of the record page.
        return url_for("care_teams.show_patient", patient_id=row.patient_id)
    return url_for("filings.patient_filings", patient_id=row.patient_id)


def _refused(row: DmpSubmission, back: str, failed: present.FailedForms):
    """Show the page again with the refused form and its errors (422)."""
    db.session.rollback()
    if back == "team" and row.team_id is not None:
        return _render_team(db.get_or_404(CareTeam, row.team_id), failed)
    return _render_patient(row.patient_id, back="filings", failed=failed)


def _done(row: DmpSubmission, back: str, message: str, category: str = "success"):
    flash(message, category)
    return redirect(_back_url(row, back))


@bp.post("/dmp/submissions/<int:submission_id>/retry")
@requires("dmp_submission.view")
def retry_submission(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    form = FilingActionForm(prefix=row_prefix(row.id))
    if not form.validate_on_submit():
        return _done(row, form.back_target(), "Le formulaire a expiré : réessayez.", "error")
    outcome = run_action(
        lambda: services.retry_filing(_user(), row, request_context()), catch=(Conflict,)
    )
    if not outcome.ok:
        return _done(row, form.back_target(), outcome.failure.message, "error")
    return _done(row, form.back_target(), f"« {row.title} » sera renvoyé au DMP sous peu.")


@bp.post("/dmp/submissions/<int:submission_id>/release")
@requires("dmp_submission.view")
def release_submission(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    form = FilingActionForm(prefix=row_prefix(row.id))
    if not form.validate_on_submit():
        return _done(row, form.back_target(), "Le formulaire a expiré : réessayez.", "error")
    outcome = run_action(
        lambda: services.release_filing(_user(), row, request_context()), catch=(Conflict,)
    )
    if not outcome.ok:
        return _done(row, form.back_target(), outcome.failure.message, "error")
    if row.status == SubmissionStatus.BLOCKED:
        return _done(
            row, form.back_target(), f"L'envoi reste bloqué : {row.status_reason}", "warning"
        )
    return _done(
        row, form.back_target(), f"« {row.title} » est débloqué : il part au DMP sous peu."
    )


@bp.post("/dmp/submissions/<int:submission_id>/cancel")
@requires("dmp_submission.view")
def cancel_submission(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    form = CancelFilingForm(prefix=row_prefix(row.id))
    back = form.back_target()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.cancel_filing(_user(), row, form.reason.data or "", request_context()),
            catch=(Conflict, InvalidInput),
        )
        if outcome.ok:
            return _done(row, back, f"L'envoi de « {row.title} » est annulé.")
        if isinstance(outcome.failure, Conflict):
            return _done(row, back, outcome.failure.message, "error")
        form.reason.errors = [*form.reason.errors, outcome.failure.message]
    return _refused(row, back, present.FailedForms(row.id, cancel=form))


@bp.post("/dmp/submissions/<int:submission_id>/changes")
@requires("dmp_submission.view")
def request_change(submission_id: int):
    row = load_submission(submission_id, MANAGE)
    form = DmpChangeForm(prefix=row_prefix(row.id))
    back = form.back_target()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.request_dmp_change(
                _user(),
                row,
                form.operation.data or "",
                tuple(form.confidentiality.data or ()),
                request_context(),
            ),
            catch=(Conflict, InvalidInput),
        )
        if outcome.ok:
            return _done(row, back, "La demande de modification part au DMP sous peu.")
        exc = outcome.failure
        if isinstance(exc, Conflict):
            return _done(row, back, exc.message, "error")
        target = getattr(form, exc.field or "", None) or form.operation
        target.errors = [*target.errors, exc.message]
    return _refused(row, back, present.FailedForms(row.id, change=form))


# DMP consultation pages and filed copies (routes on the filings blueprint).
from ptap.filings import consult_views as _consult_views  # noqa: E402, F401
from ptap.filings import filed_views as _filed_views  # noqa: E402, F401
