"""Socket.IO handlers of the /dashboards namespace: a coordinator's page follows its team.

The page connects with its session cookie (or a token with the `socket` scope), then sends
`join_team`; the server checks again that the user coordinates the team and puts the socket in
`team:{id}`, where `dashboard_changed` events arrive after each relevant commit
(ptap.dashboards.live). Every event re-checks the user and the credential; a socket whose
access ended is refused and left out of the room.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, join_room, leave_room

from ptap.accounts.events import authenticate_socket, join_credential_rooms, socket_credential_live
from ptap.accounts.models import User
from ptap.care_teams.models import CareTeam
from ptap.core.errors import InvalidInput
from ptap.core.policy import can, is_clinician
from ptap.dashboards.live import NAMESPACE, forget_socket, set_deadline, team_room
from ptap.dashboards.permissions import coordination_end
from ptap.dashboards.schemas import JoinTeamIn, parse_payload
from ptap.extensions import db, socketio

#: The user of each /dashboards socket of this process (the Flask session is a copy).
_socket_users: dict[str, int] = {}
NO_ACCESS = "Tableau de bord introuvable ou réservé aux coordinateurs de l'équipe."


def _current_user() -> User | None:
    user_id = _socket_users.get(request.sid)  # type: ignore[attr-defined]
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.is_active and is_clinician(user) else None


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth: Any = None) -> None:
    """Sent by a dashboard page opening /dashboards: authenticate; coordinators only."""
    user = authenticate_socket(auth)
    if not can(user, "dashboard.view"):
        raise ConnectionRefusedError("le tableau de bord est réservé aux coordinateurs")
    _socket_users[request.sid] = user.id  # type: ignore[attr-defined]
    join_room(f"user:{user.id}")
    join_credential_rooms()


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason: Any = None) -> None:
    """Sent when a /dashboards socket goes away: forget its user."""
    _socket_users.pop(request.sid, None)  # type: ignore[attr-defined]
    forget_socket(request.sid)  # type: ignore[attr-defined]


@socketio.on("join_team", namespace=NAMESPACE)
def on_join_team(data: Any = None) -> dict[str, Any]:
    """Sent by the dashboard page of a team: joins `team:{id}` if the user still coordinates
    it; the ack says so. Nothing is broadcast."""
    user = _current_user()
    if user is None or not socket_credential_live():
        socketio.server.disconnect(request.sid, namespace=NAMESPACE)  # type: ignore[attr-defined]
        return {"ok": False, "error": "Authentification requise."}
    try:
        payload = parse_payload(JoinTeamIn, data)
    except InvalidInput as exc:
        return {"ok": False, "error": exc.message, "field": exc.field}
    team = db.session.get(CareTeam, payload.team_id)
    room = team_room(payload.team_id)
    if team is None or not can(user, "dashboard.view", team):
        leave_room(room)
        set_deadline(request.sid, payload.team_id, None)  # type: ignore[attr-defined]
        return {"ok": False, "error": NO_ACCESS, "field": "team_id"}
    # Deliveries stop when the coordination ends by date, even before the job closes the room.
    sid: str = request.sid  # type: ignore[attr-defined]
    set_deadline(sid, team.id, coordination_end(user.id, team.id))
    join_room(room)
    return {"ok": True, "team_id": team.id}


@socketio.on("leave_team", namespace=NAMESPACE)
def on_leave_team(data: Any = None) -> dict[str, Any]:
    """Sent by a page that stops following a team."""
    try:
        payload = parse_payload(JoinTeamIn, data)
    except InvalidInput as exc:
        return {"ok": False, "error": exc.message, "field": exc.field}
    leave_room(team_room(payload.team_id))
    set_deadline(request.sid, payload.team_id, None)  # type: ignore[attr-defined]
    return {"ok": True}
