"""Socket.IO connection authentication: the session cookie or a bearer token in `auth`.

A socket remembers the credential it was opened with: the server-side session (its id is in
the handshake's cookie, room `session:{id}`) or the API token (its id is kept in the
connection's WSGI environ, room `token:{id}`). `socket_credential_live()` re-checks that
credential on every event: an ended, idle or too old session, or a revoked or expired token,
stops the socket at its next event; ending or revoking also disconnects its room at once, in
every process (`ptap.core.socket_delivery`), and from the credential's end by time (token
expiry, session idle or absolute end) nothing more is delivered to the socket.
"""

from __future__ import annotations

from typing import Any

from flask import request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from ptap.accounts import services
from ptap.accounts.models import ApiToken, TokenScope, User, UserSession
from ptap.accounts.session_store import session_deadline
from ptap.accounts.sessions import SESSION_ID_KEY, check_cookie_session
from ptap.audit.context import request_context
from ptap.core import socket_delivery
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
        if str(session["_user_id"]).startswith("p:"):
            raise ConnectionRefusedError("réservé aux comptes professionnels")
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
    ending the session or revoking the token disconnects it at once, in whatever process;
    from the credential's end by time (token expiry, session idle or absolute end), this
    process delivers nothing more to the socket."""
    sid: str = request.sid  # type: ignore[attr-defined]
    token_id = _token_ids().get(request.namespace)  # type: ignore[attr-defined]
    if token_id is not None:
        join_room(f"token:{token_id}")
        token = db.session.get(ApiToken, token_id)
        if token is not None:
            socket_delivery.watch(sid, token.expires_at)
    elif session.get(SESSION_ID_KEY):
        join_room(f"session:{session[SESSION_ID_KEY]}")
        row = db.session.get(UserSession, session[SESSION_ID_KEY])
        if row is not None:
            socket_delivery.watch(sid, session_deadline(row))


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
