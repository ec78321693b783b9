"""Flask-Login wiring: session loader with version check, bearer tokens, idle timeout."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, flash, g, redirect, request, session, url_for

from ptap.accounts import services
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.core import clock
from ptap.core.errors import AuthenticationFailed
from ptap.extensions import db, login_manager

IDLE_KEY = "last_seen"
#: Random id of one login session; its sockets join the room session:{id}.
SESSION_ID_KEY = "sid"
AUTH_AT_KEY = "auth_at"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load the session's user unless the session predates their last "log out everywhere"."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


@login_manager.request_loader
def load_user_from_token(req: Any) -> User | None:
    """Authenticate JSON API calls carrying `Authorization: Bearer ptap_...`."""
    header = req.headers.get("Authorization", "")
    if not req.path.startswith("/api/") or not header.lower().startswith("bearer "):
        return None
    try:
        user, token = services.authenticate_token(header[7:].strip(), request_context(user=None))
    except AuthenticationFailed:
        db.session.commit()  # keep the audit row of the refused token
        g.token_refused = True
        return None
    g.api_token = token
    return user


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    """Answer 401 problem+json on the API, or send browsers to the login page."""
    if request.path.startswith("/api/"):
        from ptap.core.api import problem

        detail = (
            "Jeton d'accès invalide, expiré ou révoqué."
            if g.get("token_refused")
            else "Authentifiez-vous (session ou jeton d'accès)."
        )
        response = problem(401, "Authentification requise", detail)
        response.headers["WWW-Authenticate"] = 'Bearer realm="ptap"'
        return response
    if g.get("session_expired"):
        flash("Votre session a expiré après une période d'inactivité. Reconnectez-vous.", "info")
    else:
        flash("Connectez-vous pour accéder à cette page.", "info")
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def start_session(user: User) -> None:
    """Begin a fresh session for `user` (old session data dropped against fixation)."""
    from flask_login import login_user

    session.clear()
    session.permanent = True
    login_user(user)
    now = int(clock.now().timestamp())
    session[IDLE_KEY] = now
    session[AUTH_AT_KEY] = now
    session[SESSION_ID_KEY] = secrets.token_urlsafe(16)


def end_session() -> None:
    """Log out this browser session and close its sockets."""
    from flask_login import logout_user

    from ptap.core.realtime import disconnect_room

    sid = session.get(SESSION_ID_KEY)
    logout_user()
    session.clear()
    if sid:
        disconnect_room(f"session:{sid}")


def enforce_session_timeouts() -> None:
    """End sessions idle for too long or older than the maximum; audit the expiry."""
    if request.endpoint == "static" or "_user_id" not in session:
        return
    from flask import current_app

    now = int(clock.now().timestamp())
    idle_limit = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    max_age = int(current_app.config["SESSION_MAX_HOURS"]) * 3600
    idle = now - int(session.get(IDLE_KEY, 0)) > idle_limit
    too_old = now - int(session.get(AUTH_AT_KEY, 0)) > max_age
    if idle or too_old:
        user = load_user(str(session.get("_user_id", "")))
        session.clear()
        g.session_expired = True
        if user is not None:
            services.record_logout(
                user, request_context(user=user), reason="idle timeout" if idle else "max age"
            )
            db.session.commit()
        return
    session[IDLE_KEY] = now


def init_sessions(app: Flask) -> None:
    """Configure Flask-Login; must run before the core access guard is installed."""
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(enforce_session_timeouts)
    app.before_request(enforce_password_change)


_ALLOWED_BEFORE_PASSWORD_CHANGE = {"accounts.change_password", "accounts.logout", "static"}


def enforce_password_change() -> Any:
    """Keep a user whose password was reset by an admin on the change-password page."""
    from flask_login import current_user

    if request.endpoint in _ALLOWED_BEFORE_PASSWORD_CHANGE or "_user_id" not in session:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        if request.path.startswith("/api/"):
            from ptap.core.api import problem

            return problem(403, "Accès refusé", "Changez d'abord votre mot de passe.")
        return redirect(url_for("accounts.change_password"))
    return None
