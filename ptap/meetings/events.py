"""Socket.IO handlers of the /meetings namespace: a participant's live meeting screen.

The page connects with its session cookie (or a token with the `socket` scope): clinicians
only. It then sends `join_meeting {meeting_id}`; the server checks again that the user may
see the meeting (a member of its team or a participant), puts the socket in the meeting's
room and in the rooms of the agenda items whose patient the user may see
(ptap.meetings.live), with the deadline of the user's access, and acks with the `stamp` of
the state the user sees: a page that reconnects compares it with its own and refetches the
state over HTTP when they differ. Every event re-checks the user and the credential.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError
from pydantic import BaseModel, ConfigDict, ValidationError

from ptap.accounts.events import authenticate_socket, join_credential_rooms, socket_credential_live
from ptap.accounts.models import User
from ptap.core.bounds import DbId
from ptap.core.errors import InvalidInput
from ptap.core.policy import is_clinician
from ptap.extensions import db, socketio
from ptap.meetings.live import (
    NAMESPACE,
    admission,
    follow_meeting,
    forget_socket,
    remember_user,
    socket_user_id,
    unfollow_meeting,
)
from ptap.meetings.live_queries import load_live
from ptap.meetings.models import Meeting

NO_ACCESS = "Concertation introuvable ou réservée à son équipe et à ses participants."


class JoinMeetingIn(BaseModel):
    """`join_meeting` / `leave_meeting`: follow (or stop following) one meeting live."""

    model_config = ConfigDict(extra="forbid")

    meeting_id: DbId


def parse_payload(model: type[BaseModel], data: Any) -> Any:
    """Validate a socket payload; InvalidInput names the first offending field."""
    try:
        return model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "payload"
        raise InvalidInput(err["msg"], field=field) from exc


def _current_user() -> User | None:
    user_id = socket_user_id(request.sid)  # type: ignore[attr-defined]
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.is_active and is_clinician(user) else None


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth: Any = None) -> None:
    """Sent by a live meeting page opening /meetings: authenticate; clinicians only."""
    user = authenticate_socket(auth)
    if not is_clinician(user):
        raise ConnectionRefusedError("les concertations sont réservées aux professionnels")
    remember_user(request.sid, user.id)  # type: ignore[attr-defined]
    join_credential_rooms()


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason: Any = None) -> None:
    """Sent when a /meetings socket goes away: forget it (the server leaves its rooms)."""
    forget_socket(request.sid)  # type: ignore[attr-defined]


@socketio.on("join_meeting", namespace=NAMESPACE)
def on_join_meeting(data: Any = None) -> dict[str, Any]:
    """Sent by the live page (at connect and after each reconnect): joins the meeting's room
    and the rooms of the items the user may see; the ack carries the state's `stamp`.
    Nothing is broadcast."""
    sid: str = request.sid  # type: ignore[attr-defined]
    user = _current_user()
    if user is None or not socket_credential_live():
        socketio.server.disconnect(sid, namespace=NAMESPACE)
        return {"ok": False, "error": "Authentification requise."}
    try:
        payload = parse_payload(JoinMeetingIn, data)
    except InvalidInput as exc:
        return {"ok": False, "error": exc.message, "field": exc.field}
    meeting = db.session.get(Meeting, payload.meeting_id)
    allowed = admission(user, meeting) if meeting is not None else None
    if meeting is None or allowed is None:
        unfollow_meeting(sid, payload.meeting_id)
        return {"ok": False, "error": NO_ACCESS, "field": "meeting_id"}
    follow_meeting(sid, meeting.id, allowed.item_ids, allowed.deadline)
    ack = {
        "ok": True,
        "meeting_id": meeting.id,
        "stamp": load_live(user, meeting).stamp,
        "status": meeting.status,
    }
    db.session.rollback()  # reads only: end the transaction
    return ack


@socketio.on("leave_meeting", namespace=NAMESPACE)
def on_leave_meeting(data: Any = None) -> dict[str, Any]:
    """Sent by a page that stops following a meeting."""
    try:
        payload = parse_payload(JoinMeetingIn, data)
    except InvalidInput as exc:
        return {"ok": False, "error": exc.message, "field": exc.field}
    unfollow_meeting(request.sid, payload.meeting_id)  # type: ignore[attr-defined]
    return {"ok": True}
