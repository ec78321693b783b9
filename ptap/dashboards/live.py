"""Live dashboards: tell a team's open dashboards which patients changed, after the commit.

The alerts come from facts owned by other domains (plans and their actions, urgent messages
and acknowledgements, DMP filings, consents, identity, emergency accesses, enrolments, support
requests, care-pathway events), written
by pages, the API, sockets and scheduler jobs alike. Rather than every producer knowing the
dashboard, a session listener notes which of those rows a transaction flushed (a set lookup
per flushed object, no query) and, once it commits, one small event per team goes to the
room `team:{id}` of the /dashboards namespace:
``dashboard_changed {team_id, patient_ids, requests}`` (`requests`: its waiting requests changed),
and ``workload_changed {team_id}`` when the workload per professional may have changed (an
action of one of its plans created, reassigned, rescheduled or closed; a patient leaving or
joining its caseload). Pages refetch those patients' rows, or the workload table, over HTTP,
where access is checked again; the events themselves carry ids only. Without a message
queue and with no dashboard open in this process, nothing is worked out at all. Working out
the teams (one query) runs in a fresh app context, in a background task by default
(DASHBOARD_LIVE_IN_BACKGROUND; the tests run it inline).

Rooms are closed when access may have ended: a membership ended or shortened
(`team_membership_changed`) or ended by date (the `cut_off_dashboard_sockets` job) makes every
socket of the team's room join again (`rejoin_required`), and `join_team` re-checks it.
A membership ending by date fires no signal, and the job may run late: so each socket joins
with a deadline, the end of its user's coordination of the team (the Paris midnight after
the membership's last day), and the local delivery of this process skips it from that instant
on (`expired_sids`, a room filter of ptap.core.socket_delivery), whatever the job does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ptap.care_events.models import CareEvent
from ptap.care_plans.models import CarePlan, CarePlanTask
from ptap.care_teams.models import BreakGlassAccess, ConsentRecord, Enrolment, Patient
from ptap.core.signals import team_membership_changed
from ptap.core.socket_delivery import expired_in_rooms, register_room_filter
from ptap.dmp_bridge import DmpSubmission
from ptap.extensions import db, socketio
from ptap.intake.models import SupportRequest
from ptap.messaging.models import Acknowledgement, Conversation, Message, Priority

log = logging.getLogger(__name__)

NAMESPACE = "/dashboards"
_KEY = "ptap_dashboard_changes"

#: Models whose rows carry a patient_id that feeds an alert.
_BY_PATIENT: tuple[type[Any], ...] = (
    CarePlan,
    CarePlanTask,
    ConsentRecord,
    BreakGlassAccess,
)


def team_room(team_id: int) -> str:
    """The room of a team's open dashboards."""
    return f"team:{team_id}"


#: By team id, the sockets of this process following its dashboard whose user's coordination
#: ends at a known instant (sid -> deadline). Open-ended coordinators are not listed.
_deadlines: dict[int, dict[str, datetime]] = {}


def _team_id(room: Any) -> int | None:
    if isinstance(room, str) and room.startswith("team:"):
        return int(room.removeprefix("team:"))
    return None


def expired_sids(room: Any, now: datetime | None = None) -> list[str]:
    """Return the sockets of this process in the team room(s) whose access has ended."""
    return expired_in_rooms(room, _team_id, _deadlines, now)


register_room_filter(NAMESPACE, expired_sids)


def set_deadline(sid: str, team_id: int, deadline: datetime | None) -> None:
    """From `deadline` on, nothing of the team's room reaches the socket (None: no end)."""
    if deadline is not None:
        _deadlines.setdefault(team_id, {})[sid] = deadline
        return
    ends = _deadlines.get(team_id)
    if ends is not None:
        ends.pop(sid, None)
        if not ends:
            _deadlines.pop(team_id, None)


def forget_socket(sid: str) -> None:
    """Drop the deadlines of a socket of this process (it disconnected)."""
    for team_id in list(_deadlines):
        set_deadline(sid, team_id, None)


class _Changes:
    """What a transaction touched: patients, (team, patient) pairs, messages."""

    def __init__(self) -> None:
        self.patients: set[int] = set()
        self.pairs: set[tuple[int, int]] = set()
        self.messages: set[int] = set()
        self.conversations: set[int] = set()
        #: Teams whose waiting requests changed.
        self.request_teams: set[int] = set()
        #: Patients whose plan actions changed, and teams whose caseload changed (workload).
        self.task_patients: set[int] = set()
        self.caseload_teams: set[int] = set()

    def __bool__(self) -> bool:
        return bool(
            self.patients or self.pairs or self.messages or self.conversations or self.request_teams
        )


def _note(changes: _Changes, obj: Any) -> None:
    if isinstance(obj, Patient):
        changes.patients.add(obj.id)
    elif isinstance(obj, Enrolment | DmpSubmission):
        if isinstance(obj, Enrolment):
            changes.caseload_teams.add(obj.team_id)
        if obj.team_id is not None:
            changes.pairs.add((obj.team_id, obj.patient_id))
        else:
            changes.patients.add(obj.patient_id)
    elif isinstance(obj, SupportRequest):
        changes.request_teams.add(obj.team_id)
        if obj.patient_id is not None:
            changes.pairs.add((obj.team_id, obj.patient_id))
    elif isinstance(obj, CareEvent):
        # A break matters to every team following the patient, not only the recording one.
        changes.pairs.add((obj.team_id, obj.patient_id))
        changes.patients.add(obj.patient_id)
    elif isinstance(obj, Message):
        if obj.priority == Priority.URGENT:
            changes.conversations.add(obj.conversation_id)
    elif isinstance(obj, Acknowledgement):
        changes.messages.add(obj.message_id)
    elif isinstance(obj, _BY_PATIENT):
        pid = getattr(obj, "patient_id", None)
        if pid is not None:
            changes.patients.add(pid)
            if isinstance(obj, CarePlanTask):
                changes.task_patients.add(pid)


def _after_flush(session: Session, _context: Any) -> None:
    changes = session.info.get(_KEY)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if changes is None:
            if not _tracked(obj):
                continue
            changes = session.info.setdefault(_KEY, _Changes())
        _note(changes, obj)


def _tracked(obj: Any) -> bool:
    models: tuple[type[Any], ...] = (
        Patient,
        Enrolment,
        DmpSubmission,
        Message,
        Acknowledgement,
        SupportRequest,
        CareEvent,
    )
    return isinstance(obj, (*models, *_BY_PATIENT))


def _after_commit(session: Session) -> None:
    changes = session.info.pop(_KEY, None)
    if not changes:
        return
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:  # a session used outside the app (scripts): nobody to tell
        return
    if not _anyone_listening(app):
        return
    if app.config.get("DASHBOARD_LIVE_IN_BACKGROUND", True):
        socketio.start_background_task(_announce_in_context, app, changes)
    else:
        _announce_in_context(app, changes)


def _anyone_listening(app: Any) -> bool:
    """Tell whether a dashboard may be open: always with a message queue (other processes'
    sockets are invisible here), else when a team room of this process has a socket."""
    if app.config.get("SOCKETIO_MESSAGE_QUEUE"):
        return True
    server = socketio.server
    if server is None:
        return False
    # list() copies the rooms in one step under the GIL while other threads change them.
    rooms = list(server.manager.rooms.get(NAMESPACE, {}).items())
    return any(str(room).startswith("team:") and members for room, members in rooms)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_KEY, None)


def _announce_in_context(app: Any, changes: _Changes) -> None:
    """Resolve the teams and emit, in a new app context (the committed session cannot run
    SQL any more in its after_commit hook)."""
    try:
        with app.app_context():
            by_team = teams_of(changes)
            announce(by_team, changes.request_teams)
            announce_workload(workload_teams(by_team, changes))
    except Exception:  # the commit stands: a missed refresh only waits for the next reload
        log.exception("could not announce a dashboard change")


def teams_of(changes: _Changes) -> dict[int, set[int]]:
    """Map each team to the changed patients it follows (one query, none if nothing to map)."""
    by_team: dict[int, set[int]] = {team_id: set() for team_id in changes.request_teams}
    for team_id, patient_id in changes.pairs:
        by_team.setdefault(team_id, set()).add(patient_id)
    patients = sa.select(Patient.id).where(Patient.id.in_(sorted(changes.patients)))
    sources: list[Any] = [patients] if changes.patients else []
    if changes.conversations:
        sources.append(
            sa.select(Conversation.patient_id).where(
                Conversation.id.in_(sorted(changes.conversations))
            )
        )
    if changes.messages:
        sources.append(
            sa.select(Conversation.patient_id)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.id.in_(sorted(changes.messages)))
        )
    if sources:
        wanted = sa.union(*sources).subquery()
        rows = db.session.execute(
            sa.select(Enrolment.team_id, Enrolment.patient_id).where(
                Enrolment.ended_at.is_(None),
                Enrolment.patient_id.in_(sa.select(wanted.c[0])),
            )
        )
        for team_id, patient_id in rows:
            by_team.setdefault(team_id, set()).add(patient_id)
    return by_team


def announce(by_team: dict[int, set[int]], request_teams: set[int] | None = None) -> None:
    """Emit one `dashboard_changed` per team to its room (ids only, no identity); `requests`
    says that the team's waiting requests changed."""
    for team_id, patient_ids in sorted(by_team.items()):
        socketio.emit(
            "dashboard_changed",
            {
                "team_id": team_id,
                "patient_ids": sorted(patient_ids),
                "requests": team_id in (request_teams or set()),
            },
            to=team_room(team_id),
            namespace=NAMESPACE,
        )


def workload_teams(by_team: dict[int, set[int]], changes: _Changes) -> set[int]:
    """Return the teams whose workload table may have changed: their caseload, or an action
    of one of their patients' plans."""
    touched = {t for t, pids in by_team.items() if pids & changes.task_patients}
    return touched | changes.caseload_teams


def announce_workload(team_ids: Iterable[int]) -> None:
    """Emit `workload_changed {team_id}` to each team's room (an id only)."""
    for team_id in sorted(set(team_ids)):
        socketio.emit(
            "workload_changed", {"team_id": team_id}, to=team_room(team_id), namespace=NAMESPACE
        )


def close_team_rooms(team_ids: Iterable[int]) -> None:
    """Ask every socket of the teams' rooms (in every process, through the message queue
    when there is one) to join again, then empty the rooms: `join_team` re-checks access."""
    server = socketio.server
    if server is None:
        return
    for team_id in sorted(set(team_ids)):
        room = team_room(team_id)
        server.emit("rejoin_required", {"team_id": team_id}, to=room, namespace=NAMESPACE)
        server.close_room(room, namespace=NAMESPACE)


@team_membership_changed.connect
def _on_team_membership_changed(_sender: Any, **kwargs: Any) -> None:
    close_team_rooms([int(kwargs["team_id"])])


def install_listeners() -> None:
    """Install the session listeners (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
