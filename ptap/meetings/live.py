"""The live meeting room: who follows a meeting, and what reaches them after each commit.

Rooms of the /meetings namespace (the page connects with its session cookie, or a token with
the `socket` scope, then sends `join_meeting`; `ptap.meetings.events` admits it):

- `meeting:{id}`: every admitted socket of the meeting. It gets `meeting_changed
  {meeting_id, what}` (`what`: "status", "current", "attendance", "agenda"...): never a
  patient's id, name or content, so a guest invited for one patient learns nothing of the
  others from it;
- `meeting:{id}:item:{item_id}`: only the sockets whose user may see that agenda item's
  patient (need-to-know, checked at `join_meeting` with the same SQL as the page's agenda). It
  gets `item_changed {meeting_id, item_id, what}` ("decisions": decisions were recorded).
  A participant not allowed a patient is never in its item's room, so no event names it.

Every event carries ids only: the page then refetches the live state over HTTP
(`meetings.live_state`), where access is checked again; the state comes with a `stamp` (a
digest of what the viewer sees) which `join_meeting` also returns, so a socket that
reconnects after missing events compares stamps and refetches (Socket.IO is at-most-once).

The emits leave when the meetings services' signals (`meeting_changed`, `decisions_recorded`)
arrive, whoever called the service (pages, the API, jobs): those signals are sent only after
the commit (`send_after_commit`, like `emit_after_commit`), so nothing leaves on a rollback.

Access that ends by date (a guest's circle invitation expiring at the meeting's end, a
membership's last day) has no request to fire a signal: each socket joins with a deadline, and
this process's delivery skips it from that instant on (`expired_sids`, a room filter of
ptap.core.socket_delivery), for local emits and those arriving through the message queue alike.
A change of the agenda or of the participants re-admits the sockets of that meeting; a circle
change, those of the open meetings with that patient on their agenda; a membership change,
that member's sockets in the team's open meetings (`readmit`): this process's at once
(`recheck_sockets`) and, with a message queue, the sockets of those meetings' rooms only, in
every process, are asked to join again (`rejoin_required`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import User
from ptap.care_teams.models import CircleInvitation, TeamMembership
from ptap.core import clock
from ptap.core.policy import can
from ptap.core.signals import (
    circle_changed,
    decisions_recorded,
    meeting_changed,
    team_membership_changed,
)
from ptap.core.socket_delivery import expired_in_rooms, register_room_filter
from ptap.extensions import db, socketio
from ptap.meetings.models import (
    Meeting,
    MeetingAgendaItem,
    MeetingGuestPatient,
    MeetingStatus,
    ParticipantRole,
)
from ptap.meetings.queries import find_participant, visible_agenda

log = logging.getLogger(__name__)

NAMESPACE = "/meetings"


def meeting_room(meeting_id: int) -> str:
    """The room of every admitted socket of a meeting."""
    return f"meeting:{meeting_id}"


def item_room(meeting_id: int, item_id: int) -> str:
    """The room of the sockets that may see one agenda item's patient."""
    return f"meeting:{meeting_id}:item:{item_id}"


def _meeting_id(room: Any) -> int | None:
    if isinstance(room, str) and room.startswith("meeting:"):
        head = room.removeprefix("meeting:").split(":", 1)[0]
        return int(head) if head.isdecimal() else None
    return None


#: By meeting id, the sockets of this process following it whose user's access ends at a
#: known instant (sid -> deadline). Open-ended participants are not listed.
_deadlines: dict[int, dict[str, datetime]] = {}
#: What this process knows of each /meetings socket: its user, and the meetings it follows
#: with the item rooms it joined there (the re-check after a circle change needs them).
_socket_users: dict[str, int] = {}
_following: dict[str, dict[int, set[int]]] = {}


def expired_sids(room: Any, now: datetime | None = None) -> list[str]:
    """Return the sockets of this process in the meeting room(s) whose access has ended."""
    return expired_in_rooms(room, _meeting_id, _deadlines, now)


register_room_filter(NAMESPACE, expired_sids)


def remember_user(sid: str, user_id: int) -> None:
    """Tie a /meetings socket to its user (at connect)."""
    _socket_users[sid] = user_id


def socket_user_id(sid: str) -> int | None:
    """Return the id of the user a /meetings socket of this process belongs to."""
    return _socket_users.get(sid)


def set_deadline(sid: str, meeting_id: int, deadline: datetime | None) -> None:
    """From `deadline` on, nothing of the meeting's rooms reaches the socket (None: no end)."""
    if deadline is not None:
        _deadlines.setdefault(meeting_id, {})[sid] = deadline
        return
    ends = _deadlines.get(meeting_id)
    if ends is not None:
        ends.pop(sid, None)
        if not ends:
            _deadlines.pop(meeting_id, None)


def follow_meeting(
    sid: str, meeting_id: int, item_ids: set[int], deadline: datetime | None
) -> None:
    """Put a socket in the meeting's room and in the rooms of the items it may see, and out
    of those it may no longer see (a join again after a change of access)."""
    server = socketio.server
    before = _following.setdefault(sid, {}).get(meeting_id, set())
    for item_id in sorted(before - item_ids):
        server.leave_room(sid, item_room(meeting_id, item_id), namespace=NAMESPACE)
    set_deadline(sid, meeting_id, deadline)
    server.enter_room(sid, meeting_room(meeting_id), namespace=NAMESPACE)
    for item_id in sorted(item_ids):
        server.enter_room(sid, item_room(meeting_id, item_id), namespace=NAMESPACE)
    _following[sid][meeting_id] = set(item_ids)


def unfollow_meeting(sid: str, meeting_id: int) -> None:
    """Take a socket out of every room of a meeting."""
    server = socketio.server
    items = _following.get(sid, {}).pop(meeting_id, set())
    for item_id in sorted(items):
        server.leave_room(sid, item_room(meeting_id, item_id), namespace=NAMESPACE)
    server.leave_room(sid, meeting_room(meeting_id), namespace=NAMESPACE)
    set_deadline(sid, meeting_id, None)


def forget_socket(sid: str) -> None:
    """Drop what this process knows of a /meetings socket (at disconnect)."""
    _socket_users.pop(sid, None)
    _following.pop(sid, None)
    for meeting_id in list(_deadlines):
        set_deadline(sid, meeting_id, None)


def followed(sid: str) -> dict[int, set[int]]:
    """Return the meetings a socket of this process follows, with the item rooms it joined."""
    return {m: set(items) for m, items in _following.get(sid, {}).items()}


# --- who is admitted, and to which item rooms ------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """What a socket of `user` may follow of a meeting: the items it may see, until when."""

    item_ids: set[int]
    deadline: datetime | None


def _membership_end(user_id: int, team_id: int) -> datetime | None:
    """Return when the user's membership of the team ends by date alone (the Paris midnight
    after its last day), None if a current one has no end, now if none is current."""
    today = clock.paris_today()
    ends = list(
        db.session.scalars(
            sa.select(TeamMembership.ends_on).where(
                TeamMembership.user_id == user_id,
                TeamMembership.team_id == team_id,
                TeamMembership.starts_on <= today,
                sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            )
        )
    )
    if not ends:
        return clock.now()
    days = [day for day in ends if day is not None]
    if len(days) < len(ends):
        return None
    return clock.paris_midnight(max(days) + timedelta(days=1))


def _guest_end(participant_id: int) -> datetime:
    """Return when the last live circle invitation made for a guest's patients expires; now
    when none is left (all revoked): a guest's access is never open-ended."""
    end: datetime | None = db.session.scalar(
        sa.select(sa.func.max(CircleInvitation.expires_at))
        .join(MeetingGuestPatient, MeetingGuestPatient.invitation_id == CircleInvitation.id)
        .where(
            MeetingGuestPatient.participant_id == participant_id,
            CircleInvitation.revoked_at.is_(None),
        )
    )
    return end if end is not None else clock.now()


def admission(user: User, meeting: Meeting) -> Admission | None:
    """Return what the user may follow of the meeting live, or None (not a participant nor a
    member of its team, or no clinical role, or an access already ended: a guest without a
    live invitation, a membership that is over): the same rules as the page."""
    if not can(user, "meeting.read", meeting):
        return None
    participant = find_participant(meeting.id, user.id)
    if participant is not None and participant.role == ParticipantRole.GUEST:
        deadline: datetime | None = _guest_end(participant.id)
    else:
        deadline = _membership_end(user.id, meeting.team_id)
    if deadline is not None and deadline <= clock.now():
        return None
    item_ids = {item.id for item in visible_agenda(user, meeting)}
    return Admission(item_ids, deadline)


def recheck_sockets(
    meeting_ids: Collection[int] | None = None, user_id: int | None = None
) -> list[str]:
    """Re-admit this process's sockets following the given meetings (all if None), only
    those of `user_id` if given: leave the item rooms of patients no longer visible; a socket
    no longer admitted leaves the meeting and is told (`access_revoked`). Return the sids
    removed from a meeting."""
    server = socketio.server
    removed: list[str] = []
    for sid, meetings in list(_following.items()):
        if user_id is not None and _socket_users.get(sid) != user_id:
            continue
        user = db.session.get(User, _socket_users.get(sid, 0))
        for followed_id in list(meetings):
            if meeting_ids is not None and followed_id not in meeting_ids:
                continue
            meeting = db.session.get(Meeting, followed_id)
            allowed = (
                admission(user, meeting)
                if user is not None and user.is_active and meeting is not None
                else None
            )
            if allowed is None:
                unfollow_meeting(sid, followed_id)
                server.emit(
                    "access_revoked", {"meeting_id": followed_id}, to=sid, namespace=NAMESPACE
                )
                removed.append(sid)
            else:
                follow_meeting(sid, followed_id, allowed.item_ids, allowed.deadline)
    return removed


#: Meetings whose live rooms still get events: those of closed or cancelled ones do not.
_LIVE_STATUSES = (MeetingStatus.PLANNED, MeetingStatus.IN_PROGRESS)


def meetings_of_patient(patient_id: int) -> list[int]:
    """Return the open meetings with the patient on their agenda (one query)."""
    return list(
        db.session.scalars(
            sa.select(Meeting.id)
            .join(MeetingAgendaItem, MeetingAgendaItem.meeting_id == Meeting.id)
            .where(MeetingAgendaItem.patient_id == patient_id, Meeting.status.in_(_LIVE_STATUSES))
            .distinct()
            .order_by(Meeting.id)
        )
    )


def meetings_of_team(team_id: int) -> list[int]:
    """Return the team's open meetings (one query)."""
    return list(
        db.session.scalars(
            sa.select(Meeting.id)
            .where(Meeting.team_id == team_id, Meeting.status.in_(_LIVE_STATUSES))
            .order_by(Meeting.id)
        )
    )


def readmit(meeting_ids: Collection[int], user_id: int | None = None) -> list[str]:
    """Re-admit the sockets of those meetings only (of one user only if given): this
    process's at once, and, with a message queue, those of other processes through a
    `rejoin_required` sent to those meetings' rooms. Return the local sids removed."""
    if not meeting_ids:
        return []
    removed = recheck_sockets(set(meeting_ids), user_id) if _following else []
    ask_rejoin(meeting_ids)
    return removed


# --- what is announced, after the commit -------------------------------------------------------

#: What `meeting_changed` announces to the whole meeting room (never "decisions": those are
#: about one patient, and go to its item room only).
MEETING_WIDE = frozenset(
    {
        "schedule",
        "update",
        "cancel",
        "agenda",
        "participants",
        "attendance",
        "start",
        "current_item",
        "close",
    }
)
#: Changes that may change who sees which item: the sockets are re-admitted.
READMIT = frozenset({"agenda", "participants"})


def announce_meeting(meeting_id: int, what: str) -> None:
    """Emit `meeting_changed` to the whole meeting room (no patient data). Called once the
    change is committed (the services' signals are sent after the commit)."""
    socketio.emit(
        "meeting_changed",
        {"meeting_id": meeting_id, "what": what},
        to=meeting_room(meeting_id),
        namespace=NAMESPACE,
    )


def announce_item(meeting_id: int, item_id: int, what: str) -> None:
    """Emit `item_changed` to the sockets allowed the item's patient (ids only)."""
    socketio.emit(
        "item_changed",
        {"meeting_id": meeting_id, "item_id": item_id, "what": what},
        to=item_room(meeting_id, item_id),
        namespace=NAMESPACE,
    )


def _in_fresh_context(app: Any, fn: Any, *args: Any) -> None:
    """Run `fn` in a new app context: the signals arrive from an after_commit hook, where the
    committed session cannot run SQL any more; a new context has its own session."""
    try:
        with app.app_context():
            fn(*args)
    except Exception:  # the commit stands: the per-event re-check still holds
        log.exception("could not re-check the live meeting sockets")


def _recheck(fn: Callable[..., Any], *args: Any) -> None:
    """Run a re-admission after a commit, in a background task by default
    (MEETINGS_LIVE_RECHECK_IN_BACKGROUND; the tests run it inline). Nothing to do without
    local sockets nor a message queue (no other process to tell)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not _following and not app.config.get("SOCKETIO_MESSAGE_QUEUE"):
        return
    if app.config.get("MEETINGS_LIVE_RECHECK_IN_BACKGROUND", True):
        socketio.start_background_task(_in_fresh_context, app, fn, *args)
    else:
        _in_fresh_context(app, fn, *args)


def ask_rejoin(meeting_ids: Collection[int]) -> None:
    """With a message queue, ask the sockets of those meetings, in every process, to join
    again (another process may hold sockets whose access changed): `join_meeting` re-checks
    them. Without one, this process's re-check covered every socket."""
    server = socketio.server
    if server is None or not current_app.config.get("SOCKETIO_MESSAGE_QUEUE"):
        return
    for meeting_id in sorted(meeting_ids):
        server.emit(
            "rejoin_required",
            {"meeting_id": meeting_id},
            to=meeting_room(meeting_id),
            namespace=NAMESPACE,
        )


def _readmit_patient(patient_id: int) -> None:
    readmit(meetings_of_patient(patient_id))


def _readmit_member(team_id: int, user_id: int) -> None:
    readmit(meetings_of_team(team_id), user_id)


@meeting_changed.connect
def _on_meeting_changed(_sender: Any, **kwargs: Any) -> None:
    meeting_id, what = int(kwargs["meeting_id"]), str(kwargs["what"])
    if what in READMIT:
        _recheck(readmit, [meeting_id])
    if what in MEETING_WIDE:
        announce_meeting(meeting_id, what)


@decisions_recorded.connect
def _on_decisions_recorded(_sender: Any, **kwargs: Any) -> None:
    announce_item(int(kwargs["meeting_id"]), int(kwargs["item_id"]), "decisions")


@circle_changed.connect
def _on_circle_changed(_sender: Any, **kwargs: Any) -> None:
    """Only the meetings with that patient on their agenda are concerned."""
    _recheck(_readmit_patient, int(kwargs["patient_id"]))


@team_membership_changed.connect
def _on_team_membership_changed(_sender: Any, **kwargs: Any) -> None:
    """Only that member's sockets, in the team's meetings, are concerned."""
    _recheck(_readmit_member, int(kwargs["team_id"]), int(kwargs["user_id"]))
