"""The live meeting screen: the patient discussed, the agenda, attendance and the decisions
form; the chair's and secretary's controls (start, next patient, close) and the refetched
state (`live_state`) the page's script asks for after a live event. Every control is a plain
form: without JavaScript the page works with full reloads."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, DomainError, InvalidInput, NotFound
from ptap.core.policy import requires
from ptap.extensions import db
from ptap.meetings import queries, services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.live_forms import DecisionsForm
from ptap.meetings.live_present import decisions_form, live_page
from ptap.meetings.live_queries import load_live
from ptap.meetings.models import Meeting, MeetingParticipant
from ptap.meetings.queries import hidden_agenda_count
from ptap.meetings.views import bp


def _user() -> Any:
    return current_user._get_current_object()


def _meeting(meeting_id: int) -> Meeting:
    return queries.get_meeting_for(_user(), meeting_id)


def live_url(meeting_id: int, anchor: str = "") -> str:
    """Return the URL of the live screen, optionally at an anchor."""
    url = url_for("meetings.live", meeting_id=meeting_id)
    return f"{url}#{anchor}" if anchor else url


def _render(
    meeting: Meeting,
    *,
    template: str = "meetings/live.html",
    form: DecisionsForm | None = None,
    focus_item_id: int | None = None,
    status: int = 200,
) -> tuple[str, int]:
    user = _user()
    state = load_live(user, meeting, focus_item_id)
    note_patients_shown(e.patient.id for e in state.agenda)
    hidden = hidden_agenda_count(user, meeting, len(state.agenda))
    page = live_page(user, state, queries.check_quorum(meeting), hidden, form, focus_item_id)
    meeting_url = url_for("meetings.show_meeting", meeting_id=meeting.id)
    return render_template(template, page=page, meeting_url=meeting_url), status


@bp.get("/meetings/<int:meeting_id>/live")
@shows_patients("live meeting")
@requires("meetings.list")
def live(meeting_id: int):
    return _render(_meeting(meeting_id))


@bp.get("/meetings/<int:meeting_id>/live/state")
@shows_patients("live meeting state")
@requires("meetings.list")
def live_state(meeting_id: int):
    return _render(_meeting(meeting_id), template="meetings/_live_refresh.html")


def _control(meeting_id: int, action: Any, success: str) -> Any:
    """Run one chair/secretary control from a plain form, then back to the live screen."""
    meeting = _meeting(meeting_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: action(meeting), catch=(InvalidInput, Conflict, NotFound), success=success
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    else:
        flash("Session expirée : recommencez.", "error")
    return redirect(live_url(meeting_id))


@bp.post("/meetings/<int:meeting_id>/live/start")
@requires("meetings.list")
def live_start(meeting_id: int):
    return _control(
        meeting_id,
        lambda m: services.start_meeting(_user(), m, request_context()),
        "Séance ouverte.",
    )


@bp.post("/meetings/<int:meeting_id>/live/current")
@requires("meetings.list")
def live_set_current(meeting_id: int):
    raw = request.form.get("item_id", "")

    def move(meeting: Meeting) -> None:
        if not raw.isdecimal():
            raise InvalidInput("Choisissez la personne à discuter.", field="item_id")
        item = queries.get_item(meeting, int(raw))
        services.set_current_item(_user(), meeting, item, request_context())

    return _control(meeting_id, move, "Personne suivante à l'écran de tous les participants.")


@bp.post("/meetings/<int:meeting_id>/live/close")
@requires("meetings.list")
def live_close(meeting_id: int):
    return _control(
        meeting_id,
        lambda m: services.close_meeting(_user(), m, request_context()),
        "Concertation close : elle est désormais en lecture seule.",
    )


@bp.post("/meetings/<int:meeting_id>/live/participants/<int:participant_id>/attendance")
@requires("meetings.list")
def live_attendance(meeting_id: int, participant_id: int):
    attendance = request.form.get("attendance", "")

    def mark(meeting: Meeting) -> None:
        participant = db.session.get(MeetingParticipant, participant_id)
        if participant is None or participant.meeting_id != meeting.id:
            raise NotFound("Participant introuvable.")
        services.record_attendance(_user(), meeting, participant, attendance, request_context())

    return _control(meeting_id, mark, "Présence enregistrée.")


@bp.post("/meetings/<int:meeting_id>/live/items/<int:item_id>/decisions")
@requires("meetings.list")
def live_record_decisions(meeting_id: int, item_id: int):
    meeting = _meeting(meeting_id)
    item = queries.get_item(meeting, item_id)
    state = load_live(_user(), meeting, focus_item_id=item.id)
    if state.current is None:  # a patient this user may not see: as if absent
        raise NotFound("Ce point ne figure pas à l'ordre du jour de cette concertation.")
    form = decisions_form(state.current)
    if form.validate_on_submit():
        typed = form.decisions()
        outcome = run_action(
            lambda: services.record_decisions(
                _user(),
                item,
                form.summary.data or "",
                [DecisionInput(d.kind, d.payload) for d in typed],
                form.base_version(),
                request_context(),
            ),
            catch=(DomainError,),
        )
        if outcome.ok:
            version = outcome.value
            flash(
                f"Décisions enregistrées : version {version.number} du plan."
                if version is not None
                else "Synthèse enregistrée (le plan ne change pas).",
                "success",
            )
            return redirect(live_url(meeting_id, "patient-courant"))
        form.attach(outcome.failure, typed)
        if outcome.failure.field == "base_version_id":
            # The plan moved meanwhile: what is shown now is its latest version; sending the
            # same decisions again applies them to it, deliberately.
            fresh = load_live(_user(), meeting, focus_item_id=item.id).current
            version = fresh.version if fresh is not None else None
            form.base_version_id.data = str(version.id) if version else ""
    meeting = _meeting(meeting_id)  # after a rollback: loaded again
    focus = item_id if item_id != meeting.current_item_id else None
    return _render(meeting, form=form, focus_item_id=focus, status=422)
