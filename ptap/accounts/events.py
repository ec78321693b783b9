"""Socket.IO connection authentication: session cookie or a bearer token in `auth`."""

from __future__ import annotations

from typing import Any

from flask import session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from ptap.accounts import services
from ptap.accounts.models import TokenScope, User
from ptap.accounts.sessions import SESSION_ID_KEY
from ptap.audit.context import request_context
from ptap.core.errors import AuthenticationFailed, TooManyAttempts
from ptap.extensions import db, socketio


def authenticate_socket(auth: Any) -> User:
    """Return the connecting user from the session cookie or `{"token": "..."}`; else refuse."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str):
        raise ConnectionRefusedError("authentification requise")
    try:
        user, api_token = services.authenticate_token(token, request_context(user=None))
    except (AuthenticationFailed, TooManyAttempts) as exc:
        db.session.commit()
        raise ConnectionRefusedError("jeton invalide, expiré ou révoqué") from exc
    if TokenScope.SOCKET not in api_token.scope_set:
        raise ConnectionRefusedError("ce jeton n'a pas la portée « socket »")
    db.session.commit()
    return user


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Sent by every client at connection: authenticate, then join the user's own room."""
    user = authenticate_socket(auth)
    join_room(f"user:{user.id}")
    if session.get(SESSION_ID_KEY):
        join_room(f"session:{session[SESSION_ID_KEY]}")
