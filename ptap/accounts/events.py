"""Socket.IO connection authentication: the session cookie or a bearer token in `auth`.

A socket remembers the credential it was opened with: the server-side session (its id is in
the handshake's cookie, room `session:{id}`) or the API token (its id is kept in the
connection's WSGI environ, room `token:{id}`). `socket_credential_live()` re-checks that
credential on every event: an ended, idle or too old session, or a revoked or expired token,
stops the socket at its next event; ending or revoking also disconnects its room at once.
"""

from __future__ import annotations

from typing import Any

from flask import request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from ptap.accounts import services
from ptap.accounts.models import TokenScope, User
from ptap.accounts.sessions import SESSION_ID_KEY, check_cookie_session
from ptap.audit.context import request_context
from ptap.core.errors import AuthenticationFailed, TooManyAttempts
from ptap.extensions import db, socketio

#: Key of the connection's WSGI environ (kept by python-socketio for the connection's life)
#: holding, per namespace, the id of the API token the socket was opened with.
TOKEN_ENVIRON_KEY = "ptap.socket_tokens"  # noqa: S105 - an environ key name


def _token_ids() -> dict[str, int]:
    ids: dict[str, int] = request.environ.setdefault(TOKEN_ENVIRON_KEY, {})
    return ids


def authenticate_socket(auth: Any) -> User:
    """Return the connecting user from the session cookie or `{"token": "..."}`; else refuse."""
    if "_user_id" in session:
        if check_cookie_session().row is None:
            raise ConnectionRefusedError("session expirée ou terminée : reconnectez-vous")
        if current_user.is_authenticated:
            if current_user.must_change_password:
                raise ConnectionRefusedError("changez d'abord votre mot de passe")
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
    if user.must_change_password:
        raise ConnectionRefusedError("changez d'abord votre mot de passe")
    _token_ids()[request.namespace] = api_token.id  # type: ignore[attr-defined]
    db.session.commit()
    return user


def join_credential_rooms() -> None:
    """Join the room of the credential the socket was opened with (at connect), so that
    ending the session or revoking the token disconnects it at once."""
    token_id = _token_ids().get(request.namespace)  # type: ignore[attr-defined]
    if token_id is not None:
        join_room(f"token:{token_id}")
    elif session.get(SESSION_ID_KEY):
        join_room(f"session:{session[SESSION_ID_KEY]}")


def socket_credential_live() -> bool:
    """Re-check, on a socket event, the session or token the socket was opened with."""
    token_id = _token_ids().get(request.namespace)  # type: ignore[attr-defined]
    if token_id is not None:
        return services.token_is_live(token_id)
    return "_user_id" in session and check_cookie_session().row is not None


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Sent by every client at connection: authenticate, then join the user's own room."""
    user = authenticate_socket(auth)
    join_room(f"user:{user.id}")
    join_credential_rooms()
