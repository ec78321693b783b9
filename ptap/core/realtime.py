"""Socket.IO emits queued on the session and sent only after the transaction commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ptap.extensions import socketio

_QUEUE_KEY = "ptap_pending_emits"


@dataclass(frozen=True)
class PendingEmit:
    """One emit waiting for its transaction to commit."""

    event: str
    data: dict[str, Any]
    room: str
    namespace: str


def emit_after_commit(
    event_name: str, data: dict[str, Any], room: str, namespace: str = "/"
) -> None:
    """Queue a Socket.IO emit on the current session; it is sent if, and only if, it commits."""
    from ptap.extensions import db

    db.session.info.setdefault(_QUEUE_KEY, []).append(
        PendingEmit(event_name, data, room, namespace)
    )


def _send_pending(session: Session) -> None:
    for item in session.info.pop(_QUEUE_KEY, []):
        socketio.emit(item.event, item.data, to=item.room, namespace=item.namespace)


def _drop_pending(session: Session) -> None:
    session.info.pop(_QUEUE_KEY, None)


def install_session_hooks() -> None:
    """Send queued emits after commit and drop them on rollback (Zulip send_event_on_commit)."""
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_soft_rollback", lambda s, _t: _drop_pending(s))


def disconnect_room(room: str, namespaces: tuple[str, ...] = ("/",)) -> None:
    """Close this process's sockets in `room` (after a logout: socket sessions are copies).

    Call it after the commit. Rooms: `session:{sid}` for one login session, `user:{id}` for
    every session of a user.
    """
    server = socketio.server
    if server is None:
        return
    for namespace in namespaces:
        sids = [sid for sid, _ in server.manager.get_participants(namespace, room)]
        for sid in sids:
            server.disconnect(sid, namespace=namespace)
