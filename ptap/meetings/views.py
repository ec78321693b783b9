"""Meeting pages: the team's meetings and history, the planner (with the suggested agenda to
add in one click), the agenda and attendance page, the team's quorum, a patient's meetings.

The live meeting screen is built on these services by the live-meeting pages (meetings.live).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.actions import run_action
from ptap.core.errors import DomainError, InvalidInput, NotFound
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.core.web import register_nav
from ptap.extensions import db
from ptap.meetings import present, queries, services
from ptap.meetings.forms import (
    MEETING_FIELD_ALIASES,
    AttendanceForm,
    GuestForm,
    MeetingForm,
    MembersForm,
    QuorumForm,
)
from ptap.meetings.models import (
    ATTENDANCE_LABELS,
    MEETING_STATUS_LABELS,
    PARTICIPANT_ROLE_LABELS,
    Meeting,
    MeetingParticipant,
)

bp = Blueprint("meetings", __name__)
register_nav("Concertations", "meetings.list_meetings", "meetings.list")


def _load(meeting_id: int) -> Meeting:
    return queries.get_meeting_for(current_user, meeting_id)


def _team(team_id: int, action: str = "meeting.schedule") -> CareTeam:
    team = db.session.get(CareTeam, team_id)
    if team is None or not can(current_user, action, team):
        raise NotFound("Équipe introuvable.")
    return team


def _attach(form: MeetingForm, error: DomainError) -> None:
    if error.field in MEETING_FIELD_ALIASES:
        error.field = MEETING_FIELD_ALIASES[error.field]
    attach_error(form, error)


def _back(meeting_id: int):
    return redirect(url_for("meetings.show_meeting", meeting_id=meeting_id))


@bp.get("/meetings")
@requires("meetings.list")
def list_meetings():
    teams = team_queries.my_teams(current_user.id)
    rows = [
        present.TeamMeetings(
            team=team,
            upcoming=queries.meetings_for_team(team.id, upcoming=True),
            past=queries.meetings_for_team(team.id, upcoming=False, limit=30),
            can_schedule=can(current_user, "meeting.schedule", team),
            can_quorum=can(current_user, "meeting.quorum", team),
        )
        for team in teams
    ]
    team_ids = {t.id for t in teams}
    invited = [m for m in queries.upcoming_for_user(current_user.id) if m.team_id not in team_ids]
    return render_template(
        "meetings/list.html", rows=rows, invited=invited, status_labels=MEETING_STATUS_LABELS
    )


@bp.route("/teams/<int:team_id>/meetings/new", methods=["GET", "POST"])
@requires("meetings.list")
def create_meeting(team_id: int):
    team = _team(team_id)
    form = MeetingForm(present.team_members(team.id))
    if request.method == "GET":
        form.chair_id.data = current_user.id
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.schedule_meeting(
                current_user, team, form.data_value(), request_context()
            ),
            catch=(InvalidInput,),
            success="Concertation programmée. Composez maintenant son ordre du jour.",
        )
        if outcome.ok:
            return _back(outcome.value.id)
        _attach(form, outcome.failure)
    status = 422 if form.errors else 200
    return render_template("meetings/edit.html", form=form, team=team, meeting=None), status


@bp.route("/meetings/<int:meeting_id>/edit", methods=["GET", "POST"])
@requires("meetings.list")
def edit_meeting(meeting_id: int):
    meeting = _load(meeting_id)
    if not can(current_user, "meeting.manage", meeting):
        raise NotFound("Concertation introuvable.")
    team = db.session.get_one(CareTeam, meeting.team_id)
    form = MeetingForm(present.team_members(team.id))
    if request.method == "GET":
        form.fill(meeting)
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.update_meeting(
                current_user, meeting, form.data_value(), request_context()
            ),
            catch=(InvalidInput,),
            success="Concertation modifiée.",
        )
        if outcome.ok:
            return _back(meeting.id)
        _attach(form, outcome.failure)
    status = 422 if form.errors else 200
    return render_template("meetings/edit.html", form=form, team=team, meeting=meeting), status


@bp.get("/meetings/<int:meeting_id>")
@shows_patients("meeting agenda")
@requires("meetings.list")
def show_meeting(meeting_id: int):
    meeting = _load(meeting_id)
    page = present.meeting_page(current_user, meeting)
    note_patients_shown(
        [*(i.patient_id for i in page.agenda), *(s.patient_id for s in page.suggestions)]
    )
    return render_template(
        "meetings/show.html",
        page=page,
        meeting=meeting,
        action_form=EmptyForm(),
        attendance_form=AttendanceForm(),
        members_form=MembersForm(page.invitable),
        guest_form=GuestForm([(i.patient_id, i.patient_name) for i in page.agenda]),
        attendance_labels=ATTENDANCE_LABELS,
        role_labels=PARTICIPANT_ROLE_LABELS,
        status_labels=MEETING_STATUS_LABELS,
    )


def _act(meeting_id: int, action, success: str):  # noqa: ANN001
    meeting = _load(meeting_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(lambda: action(meeting), success=success)
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return _back(meeting.id)


@bp.post("/meetings/<int:meeting_id>/start")
@requires("meetings.list")
def start_meeting(meeting_id: int):
    return _act(
        meeting_id,
        lambda m: services.start_meeting(current_user, m, request_context()),
        "Séance ouverte : les décisions peuvent être enregistrées.",
    )


@bp.post("/meetings/<int:meeting_id>/close")
@requires("meetings.list")
def close_meeting(meeting_id: int):
    return _act(
        meeting_id,
        lambda m: services.close_meeting(current_user, m, request_context()),
        "Séance close : la concertation n'est plus modifiable.",
    )


@bp.post("/meetings/<int:meeting_id>/cancel")
@requires("meetings.list")
def cancel_meeting(meeting_id: int):
    return _act(
        meeting_id,
        lambda m: services.cancel_meeting(current_user, m, request_context()),
        "Concertation annulée.",
    )


def _patient_from_form() -> Patient:
    raw = request.form.get("patient_id", "")
    patient = (
        db.session.get(Patient, int(raw))
        if raw.isascii() and raw.isdecimal() and len(raw) < 10
        else None
    )
    if patient is None:
        raise NotFound("Personne introuvable.")
    note_patients_shown([patient.id])
    return patient


@bp.post("/meetings/<int:meeting_id>/agenda")
@requires("meetings.list")
def add_agenda_item(meeting_id: int):
    reason = request.form.get("reason", "manual")
    return _act(
        meeting_id,
        lambda m: services.add_agenda_item(
            current_user, m, _patient_from_form(), request_context(), reason=reason
        ),
        "Personne inscrite à l'ordre du jour.",
    )


@bp.post("/meetings/<int:meeting_id>/agenda/<int:item_id>/remove")
@requires("meetings.list")
def remove_agenda_item(meeting_id: int, item_id: int):
    return _act(
        meeting_id,
        lambda m: services.remove_agenda_item(
            current_user, m, queries.get_item(m, item_id), request_context()
        ),
        "Personne retirée de l'ordre du jour.",
    )


@bp.post("/meetings/<int:meeting_id>/participants/<int:participant_id>/attendance")
@requires("meetings.list")
def record_attendance(meeting_id: int, participant_id: int):
    meeting = _load(meeting_id)
    form = AttendanceForm()
    participant = db.session.get(MeetingParticipant, participant_id)
    if participant is None or participant.meeting_id != meeting.id:
        raise NotFound("Participant introuvable.")
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.record_attendance(
                current_user, meeting, participant, form.attendance.data, request_context()
            ),
            success="Présence enregistrée.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    else:
        flash("Présence invalide.", "error")
    return _back(meeting.id)


@bp.post("/meetings/<int:meeting_id>/participants")
@requires("meetings.list")
def invite_members(meeting_id: int):
    meeting = _load(meeting_id)
    form = MembersForm(present.team_members(meeting.team_id))
    if form.validate_on_submit() and form.user_ids.data:
        outcome = run_action(
            lambda: services.invite_members(
                current_user, meeting, list(form.user_ids.data or []), request_context()
            ),
            success="Membres invités.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    else:
        flash("Choisissez au moins un membre de l'équipe.", "error")
    return _back(meeting.id)


@bp.post("/meetings/<int:meeting_id>/guests")
@requires("meetings.list")
def invite_guest(meeting_id: int):
    meeting = _load(meeting_id)
    agenda = queries.visible_agenda(current_user, meeting)
    note_patients_shown(i.patient_id for i in agenda)
    form = GuestForm([(i.patient_id, str(i.patient_id)) for i in agenda])
    if not form.validate_on_submit():
        flash("Indiquez l'adresse du professionnel et au moins une personne.", "error")
        return _back(meeting.id)
    email = (form.email.data or "").strip().lower()
    guest = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
    if guest is None:
        flash("Aucun compte PTAP ne porte cette adresse.", "error")
        return _back(meeting.id)
    outcome = run_action(
        lambda: services.invite_guest(
            current_user, meeting, guest, list(form.patient_ids.data or []), request_context()
        ),
        success=f"{guest.full_name} est invité·e pour les personnes choisies, jusqu'à la fin "
        "de la concertation.",
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
    return _back(meeting.id)


@bp.route("/teams/<int:team_id>/meeting-quorum", methods=["GET", "POST"])
@requires("meetings.list")
def team_quorum(team_id: int):
    team = _team(team_id)
    editable = can(current_user, "meeting.quorum", team)
    rule = queries.get_quorum(team.id)
    form = QuorumForm(
        data={"min_present": rule.min_present, "min_professions": rule.min_professions}
    )
    if editable and form.validate_on_submit():
        outcome = run_action(
            lambda: services.set_quorum(
                current_user,
                team,
                form.min_present.data or 0,
                form.min_professions.data or 0,
                request_context(),
            ),
            catch=(InvalidInput,),
            success="Quorum enregistré : il vaut pour les prochaines décisions.",
        )
        if outcome.ok:
            return redirect(url_for("meetings.list_meetings"))
        attach_error(form, outcome.failure)
    status = 422 if form.errors else 200
    return render_template("meetings/quorum.html", form=form, team=team, editable=editable), status


@bp.get("/patients/<int:patient_id>/meetings")
@requires("meetings.list")
def patient_meetings(patient_id: int):
    patient = load_patient(patient_id, what="meetings")
    rows = present.patient_history(patient.id, current_user)
    db.session.commit()  # keep the audited read
    return render_template(
        "meetings/patient_meetings.html",
        patient=patient,
        active_tab="meetings",
        rows=rows,
        status_labels=MEETING_STATUS_LABELS,
    )
