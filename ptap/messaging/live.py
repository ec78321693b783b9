"""Live sockets of the /messaging namespace: who a socket is, and cutting off lost access.

A socket's identity is recorded by the server at connect time, keyed by its sid (Flask's
session is a copy and a token socket has none); the socket also joins the `user:{id}` room
(emits to all of a user's sockets, logout) and, while it follows no thread, `inbox:{id}`
(`conversation_updated`). Every handler reloads that user and re-checks the conversation.
When someone may have left a circle or a team, the care-teams services send `circle_changed` /
`team_membership_changed` after their commit (ptap.core.signals); we re-check every socket in
the affected threads and remove those who lost access, at once.

Access that ends by date (break-the-glass or invitation expiry, a membership's last day) has no
request to fire a signal. So every socket following a thread carries a deadline, computed at
`join` (`queries.access_deadlines`), and the local delivery of this process's Socket.IO manager
skips the sockets whose deadline has passed (`expired_sids`, a room filter of
`ptap.core.socket_delivery`): the check runs where the socket lives, also for emits that
arrive through the Redis queue from another process, and costs one dict lookup per socket
with a deadline (no query). The one-minute cut-off job then removes those sockets from the
room, or renews the deadline of those who kept access. The credential the socket was opened
with (token, login session) has its own deadline and signals, for every room and namespace
(`ptap.core.socket_delivery`, `ptap.accounts.events`).

Several processes: this process only sees its own sockets. With a message queue configured,
every socket in the thread (in every process) is told to `join` again (`rejoin_required`),
which re-checks it, and the room is closed everywhere (both travel through Redis).

Re-checks are bulk and off the request: only threads with sockets in this process cost
queries (a few per thread, whatever the number of sockets), and they run in a background task
after the commit (MESSAGING_RECHECK_IN_BACKGROUND; the tests run them inline).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ptap.care_teams.models import Enrolment
from ptap.core.signals import circle_changed, team_membership_changed
from ptap.core.socket_delivery import expired_in_rooms, register_room_filter
from ptap.extensions import db, socketio
from ptap.messaging.models import Conversation
from ptap.messaging.queries import access_deadlines, reader_ids
from ptap.messaging.services import NAMESPACE, inbox_room, thread_room, user_room

log = logging.getLogger(__name__)

#: The user of each /messaging socket of this process, by sid (set at connect, dropped at
#: disconnect). Not read back from the rooms: python-socketio's `get_rooms` scans every room
#: of the namespace (slow at 500 sockets) while other threads change them ("dictionary changed
#: size during iteration" in a connection burst, threading mode).
_socket_users: dict[str, int] = {}

#: By conversation id, the sockets of this process following its thread whose access ends at
#: a known instant (sid -> deadline). Sockets without an end date are not listed, so an emit
#: to a thread costs nothing more when nobody's access is about to end.
_deadlines: dict[int, dict[str, datetime]] = {}


def _thread_id(room: Any) -> int | None:
    if isinstance(room, str) and room.startswith("thread:"):
        return int(room.removeprefix("thread:"))
    return None


def expired_sids(room: Any, now: datetime | None = None) -> list[str]:
    """Return the sockets of this process in the thread room(s) whose access has ended."""
    return expired_in_rooms(room, _thread_id, _deadlines, now)


# Where each socket lives, this process's delivery skips the sockets whose access to the
# thread ended (ptap.core.socket_delivery), for local emits and those arriving through Redis.
register_room_filter(NAMESPACE, expired_sids)


def remember_user(sid: str, user_id: int) -> None:
    """Tie a /messaging socket to its user (at connect): it joins the `user:{id}` room, and
    the user's `inbox:{id}` room while it follows no thread."""
    _socket_users[sid] = user_id
    socketio.server.enter_room(sid, user_room(user_id), namespace=NAMESPACE)
    socketio.server.enter_room(sid, inbox_room(user_id), namespace=NAMESPACE)


def forget_socket(sid: str) -> None:
    """Drop what this process knows of a /messaging socket (at disconnect)."""
    _socket_users.pop(sid, None)
    for conversation_id in list(_deadlines):
        _set_deadline(sid, conversation_id, None)


def _set_deadline(sid: str, conversation_id: int, deadline: datetime | None) -> None:
    if deadline is not None:
        _deadlines.setdefault(conversation_id, {})[sid] = deadline
        return
    ends = _deadlines.get(conversation_id)
    if ends is not None:
        ends.pop(sid, None)
        if not ends:
            _deadlines.pop(conversation_id, None)


def follow_thread(sid: str, conversation_id: int, deadline: datetime | None = None) -> None:
    """Put a socket in a thread (it gets `message_created`) and out of its user's inbox;
    from `deadline` on (the end of its access by date), nothing of the thread reaches it."""
    _set_deadline(sid, conversation_id, deadline)
    server = socketio.server
    server.enter_room(sid, thread_room(conversation_id), namespace=NAMESPACE)
    user_id = socket_user_id(sid)
    if user_id is not None:
        server.leave_room(sid, inbox_room(user_id), namespace=NAMESPACE)


def unfollow_thread(sid: str, conversation_id: int) -> None:
    """Take a socket out of a thread; back in its user's inbox if it follows no other one."""
    server = socketio.server
    server.leave_room(sid, thread_room(conversation_id), namespace=NAMESPACE)
    _set_deadline(sid, conversation_id, None)
    user_id = socket_user_id(sid)
    # list() copies the rooms in one step under the GIL (see _socket_users); rare path.
    rooms = list(server.manager.rooms.get(NAMESPACE, {}).items())
    following = any(str(r).startswith("thread:") and sid in members for r, members in rooms)
    if user_id is not None and not following:
        server.enter_room(sid, inbox_room(user_id), namespace=NAMESPACE)


def socket_user_id(sid: str) -> int | None:
    """Return the id of the user a /messaging socket of this process belongs to."""
    return _socket_users.get(sid)


def remove_from_thread(sid: str, conversation_id: int) -> None:
    """Take a socket out of a thread and tell it that its access ended."""
    unfollow_thread(sid, conversation_id)
    socketio.server.emit(
        "access_revoked", {"conversation_id": conversation_id}, to=sid, namespace=NAMESPACE
    )


def evict_from_conversation(conversation: Conversation) -> list[str]:
    """Remove from the thread every socket (of this process) whose user may no longer read it,
    and renew the access deadline of the others; a few queries whatever the number of sockets."""
    server = socketio.server
    if server is None:
        return []
    room = thread_room(conversation.id)
    sockets = {
        sid: socket_user_id(sid)
        for sid, _ in list(server.manager.get_participants(NAMESPACE, room))
    }
    queue = bool(current_app.config.get("SOCKETIO_MESSAGE_QUEUE"))
    evicted = []
    if sockets:  # no local socket in the thread: no query
        readers = reader_ids(conversation, {uid for uid in sockets.values() if uid is not None})
        deadlines = access_deadlines(conversation, readers)
        for sid, user_id in sockets.items():
            if user_id is None or user_id not in readers:
                remove_from_thread(sid, conversation.id)
                evicted.append(sid)
            else:
                _set_deadline(sid, conversation.id, deadlines[user_id])
    if queue:
        # Other processes' sockets are invisible here: ask every socket still in the thread,
        # in every process, to join again (their `join` re-checks them, and refuses those
        # who lost access), then empty the room everywhere. Both travel in order through the
        # queue; no query, whatever the number of members.
        server.emit(
            "rejoin_required", {"conversation_id": conversation.id}, to=room, namespace=NAMESPACE
        )
        server.close_room(room, namespace=NAMESPACE)
    return evicted


def evict_from_patient_threads(patient_id: int) -> list[str]:
    """Re-check the live sockets of the patient's conversation; return the sids removed."""
    conversation = db.session.scalar(
        sa.select(Conversation).where(Conversation.patient_id == patient_id)
    )
    return evict_from_conversation(conversation) if conversation is not None else []


def evict_from_team_threads(team_id: int) -> list[str]:
    """Re-check the team's conversation and those of the patients the team follows."""
    patients = sa.select(Enrolment.patient_id).where(
        Enrolment.team_id == team_id, Enrolment.ended_at.is_(None)
    )
    conversations = db.session.scalars(
        sa.select(Conversation).where(
            sa.or_(Conversation.team_id == team_id, Conversation.patient_id.in_(patients))
        )
    ).all()
    return [sid for c in conversations for sid in evict_from_conversation(c)]


def _in_fresh_context(app: Any, fn: Any, *args: Any) -> None:
    """Run `fn` in a new app context: the signal arrives from an after_commit hook, where the
    committed session cannot run SQL any more; a new context has its own session."""
    try:
        with app.app_context():
            fn(*args)
    except Exception:  # the commit happened: log, and rely on the per-event re-check
        log.exception("could not re-check the live sockets after a circle change")


def _recheck(fn: Any, *args: Any) -> None:
    """Re-check live sockets after a commit: in a background task by default, so the web
    request that changed the circle does not wait for it (MESSAGING_RECHECK_IN_BACKGROUND)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("MESSAGING_RECHECK_IN_BACKGROUND", True):
        socketio.start_background_task(_in_fresh_context, app, fn, *args)
    else:
        _in_fresh_context(app, fn, *args)


@circle_changed.connect
def _on_circle_changed(_sender: Any, **kwargs: Any) -> None:
    _recheck(evict_from_patient_threads, int(kwargs["patient_id"]))


@team_membership_changed.connect
def _on_team_membership_changed(_sender: Any, **kwargs: Any) -> None:
    _recheck(evict_from_team_threads, int(kwargs["team_id"]))
