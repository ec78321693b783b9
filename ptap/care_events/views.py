"""The patient's pathway-events page: record an event, see them, withdraw a mistaken one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import request_context
from ptap.care_events import queries, services
from ptap.care_events.forms import CareEventForm
from ptap.care_events.models import CARE_EVENT_KIND_LABELS, CareEvent, CareEventKind
from ptap.care_events.permissions import withdrawal_check
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db

bp = Blueprint("care_events", __name__)
#: Events per page, most recent first ("Événements plus anciens" leads to the next ones).
PAGE_SIZE = 50


@dataclass(frozen=True)
class EventRow:
    """One event as the page lists it."""

    id: int
    label: str
    is_break: bool
    occurred_on: object
    note: str
    team: str
    recorded_by: str
    recorded_at: object
    can_withdraw: bool


def _recording_teams(patient: Patient) -> list[CareTeam]:
    """The user's teams following the patient (where an event may be counted)."""
    following = set(access.active_enrolment_team_ids(patient.id))
    return [t for t in team_queries.my_teams(current_user.id) if t.id in following]


def _rows(events: Sequence[CareEvent]) -> list[EventRow]:
    """Build the rows of a page of events in a fixed number of queries (names, teams, the
    user's team roles), whatever the number of events."""
    may_withdraw = withdrawal_check(current_user)
    names = team_queries.user_names(list({e.recorded_by_id for e in events}))
    rows = db.session.execute(
        sa.select(CareTeam.id, CareTeam.name).where(CareTeam.id.in_({e.team_id for e in events}))
    )
    teams = {team_id: name for team_id, name in rows}
    return [
        EventRow(
            id=e.id,
            label=CARE_EVENT_KIND_LABELS[CareEventKind(e.kind)],
            is_break=e.is_break,
            occurred_on=e.occurred_on,
            note=e.note,
            team=teams.get(e.team_id, ""),
            recorded_by=names.get(e.recorded_by_id, ""),
            recorded_at=e.recorded_at,
            can_withdraw=may_withdraw(e),
        )
        for e in events
    ]


def _render(patient: Patient, form: CareEventForm | None = None, status: int = 200):
    teams = _recording_teams(patient)
    record = can(current_user, "care_events.record", patient)
    if record and form is None:
        form = CareEventForm(teams=teams)
    page = db.paginate(
        queries.patient_events_query(patient.id), per_page=PAGE_SIZE, error_out=False
    )
    return render_template(
        "care_events/patient_events.html",
        patient=patient,
        active_tab="events",
        form=form if record else None,
        several_teams=len(teams) > 1,
        rows=_rows(list(page.items)),
        page=page,
        withdraw_form=EmptyForm(),
    ), status


@bp.get("/patients/<int:patient_id>/events")
@requires("care_events.list")
def patient_events(patient_id: int):
    patient = load_patient(patient_id, what="events")
    db.session.commit()  # keep the audited read
    return _render(patient)


@bp.post("/patients/<int:patient_id>/events")
@requires("care_events.list")
def record_event(patient_id: int):
    patient = load_patient(patient_id, "care_events.record")
    form = CareEventForm(teams=_recording_teams(patient))
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.record_care_event(
                current_user, patient, form.event(), request_context()
            ),
            catch=(InvalidInput,),
            success="Événement enregistré dans le parcours.",
        )
        if outcome.ok:
            return redirect(url_for("care_events.patient_events", patient_id=patient.id))
        attach_error(form, outcome.failure)
    db.session.rollback()
    patient = load_patient(patient_id, what="events")
    db.session.commit()
    return _render(patient, form, status=422)


@bp.post("/patients/<int:patient_id>/events/<int:event_id>/withdraw")
@requires("care_events.list")
def withdraw_event(patient_id: int, event_id: int):
    load_patient(patient_id, "care_events.list")
    event: CareEvent = queries.get_event(current_user, patient_id, event_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: services.withdraw_care_event(current_user, event, request_context()),
            catch=(Conflict,),
            success="Événement retiré du parcours.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("care_events.patient_events", patient_id=patient_id))
