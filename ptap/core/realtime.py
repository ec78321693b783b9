"""Socket.IO emits queued on the session and sent only after the transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ptap.core.aftercommit import on_commit
from ptap.core.socket_delivery import end_room
from ptap.core.socket_delivery import renew_room as renew_deadline
from ptap.extensions import socketio


def emit_after_commit(
    event_name: str, data: dict[str, Any], room: str | list[str], namespace: str = "/"
) -> None:
    """Queue a Socket.IO emit on the current session; it is sent if, and only if, it commits.

    ``room`` may be a list: one emit reaches every room of it (a socket in several, once).
    """
    on_commit(lambda: socketio.emit(event_name, data, to=room, namespace=namespace))


def disconnect_room(room: str) -> None:
    """Close the sockets in `room`, in every namespace and, through the message queue, in every
    process (after a logout or a revocation: socket sessions are copies). Call it after the
    commit. Rooms: `session:{id}` for one login session, `token:{id}` for one API token,
    `user:{id}` for every socket of a user; each namespace's connect handler joins them.
    Until the disconnect completes, the process holding a socket delivers nothing to it
    (`ptap.core.socket_delivery`)."""
    end_room(socketio.server, room)


def renew_room(room: str, deadline: datetime) -> None:
    """Move the credential deadline of the sockets in `room` (a login session used again)."""
    renew_deadline(socketio.server, room, deadline)
