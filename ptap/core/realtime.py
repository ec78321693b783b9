"""Socket.IO emits queued on the session and sent only after the transaction commits."""

from __future__ import annotations

from typing import Any

from ptap.core.aftercommit import on_commit
from ptap.extensions import socketio


def emit_after_commit(
    event_name: str, data: dict[str, Any], room: str | list[str], namespace: str = "/"
) -> None:
    """Queue a Socket.IO emit on the current session; it is sent if, and only if, it commits.

    ``room`` may be a list: one emit reaches every room of it (a socket in several, once).
    """
    on_commit(lambda: socketio.emit(event_name, data, to=room, namespace=namespace))


def disconnect_room(room: str, namespaces: tuple[str, ...] | None = None) -> None:
    """Close this process's sockets in `room` (after a logout: socket sessions are copies).

    Call it after the commit. Rooms: `session:{sid}` for one login session, `user:{id}` for
    every session of a user. Every namespace by default (`/`, `/messaging`...): each one's
    connect handler joins these rooms.
    """
    server = socketio.server
    if server is None:
        return
    for namespace in namespaces or tuple(server.manager.get_namespaces()):
        sids = [sid for sid, _ in server.manager.get_participants(namespace, room)]
        for sid in sids:
            server.disconnect(sid, namespace=namespace)
