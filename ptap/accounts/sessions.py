"""Flask-Login wiring: server-side sessions (checked on every request), bearer tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, flash, g, redirect, request, session, url_for

from ptap.accounts import services, session_store
from ptap.accounts.models import User, UserSession
from ptap.audit.context import request_context
from ptap.core import clock
from ptap.core.errors import AuthenticationFailed
from ptap.extensions import db, login_manager

#: Id of the server-side session (UserSession); its sockets join the room session:{id}.
SESSION_ID_KEY = "sid"


#: Prefix of the Flask-Login id of a patient-side account ("p:<id>:<version>").
PATIENT_SIDE_PREFIX = "p:"
#: Set by ptap.patient_space (a higher layer): loads a patient-side account from its id.
PATIENT_SIDE_LOADER: list[Callable[[str], Any]] = []
#: Idle minutes after which a patient-side cookie session ends.
PATIENT_SIDE_IDLE_MINUTES = 30
_PATIENT_SEEN_KEY = "p_seen"
#: When the patient-side session began (epoch seconds): it ends SESSION_MAX_HOURS later,
#: however active (as professional sessions do).
_PATIENT_START_KEY = "p_start"


def is_patient_side_session() -> bool:
    """Tell whether the cookie session is a patient-side account's."""
    return str(session.get("_user_id", "")).startswith(PATIENT_SIDE_PREFIX)


@login_manager.user_loader
def load_user(session_id: str) -> Any:
    """Load the session's user unless the session predates their last "log out everywhere"."""
    if session_id.startswith(PATIENT_SIDE_PREFIX):
        return PATIENT_SIDE_LOADER[0](session_id) if PATIENT_SIDE_LOADER else None
    user_id, _, version = session_id.partition(":")
    if not user_id.isdecimal() or not version.isdecimal():
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


#: UserSession.auth_method of a Pro Santé Connect login.
AUTH_PSC = "psc"


def start_session(user: User, auth_method: str = "password") -> UserSession:
    """Begin a fresh session for `user` (old session data dropped against fixation): a new
    server-side row whose id is the only session secret the cookie carries. Flushes.
    `auth_method` says how the user authenticated ("password" + TOTP, or "psc")."""
    from flask_login import login_user

    row = session_store.open_user_session(
        user,
        user_agent=request.headers.get("User-Agent", ""),
        ip_address=request.remote_addr or "",
        auth_method=auth_method,
    )
    session.clear()
    session.permanent = True
    login_user(user)
    session[SESSION_ID_KEY] = row.id
    return row


def end_session(reason: str = "logout") -> None:
    """End this browser session on the server (a copy of the cookie dies too), log it out
    and close its sockets after the commit. The caller commits."""
    from flask_login import logout_user

    row = current_session_row()
    if row is not None:
        session_store.end_user_session(row, reason)
    logout_user()
    session.clear()


def session_user_id() -> int | None:
    """Return the user id the cookie session names (None when there is none)."""
    user_id = str(session.get("_user_id", "")).partition(":")[0]
    return int(user_id) if user_id.isdecimal() else None


def authenticated_with_psc() -> bool:
    """Tell whether this request's browser session was opened with Pro Santé Connect (an API
    token never is: it was minted after a password + TOTP re-authentication)."""
    row = current_session_row()
    return row is not None and row.auth_method == AUTH_PSC and g.get("api_token") is None


def psc_waived() -> bool:
    """Development only (DMP_CONSULT_REQUIRE_PSC = false, refused in production): a password
    session counts as a Pro Santé Connect one for the DMP consultation."""
    from flask import current_app

    return not current_app.config.get("DMP_CONSULT_REQUIRE_PSC", True)


def current_session_row() -> UserSession | None:
    """Return the live server-side row of this request's cookie session (checked before)."""
    row = g.get("user_session")
    return row if isinstance(row, UserSession) else None


def check_cookie_session() -> session_store.SessionCheck:
    """Check the cookie's server-side session (pages, API, socket connect and events); an
    idle or too old one is ended and its end audited. Commits what it wrote."""
    check = session_store.check_user_session(session.get(SESSION_ID_KEY), session_user_id())
    if check.reason in ("idle", "max_age"):
        user = db.session.get(User, session_user_id() or 0)
        if user is not None:
            services.record_logout(
                user,
                request_context(user=user),
                reason="idle timeout" if check.reason == "idle" else "max age",
            )
        db.session.commit()
    elif check.touched:
        db.session.commit()
    return check


def enforce_session_timeouts() -> None:
    """Drop the cookie session unless its server-side row is live (not ended, not idle, not
    too old); audit timeouts."""
    if request.endpoint == "static" or "_user_id" not in session:
        return
    if is_patient_side_session():
        _check_patient_side_idle()
        return
    check = check_cookie_session()
    if check.row is None:
        session.clear()
        g.session_expired = check.reason in ("idle", "max_age")
        return
    g.user_session = check.row


def _check_patient_side_idle() -> None:
    """End a patient-side cookie session idle for too long or older than SESSION_MAX_HOURS
    (its account and version are checked by the loader on every request; a server-side row
    is kept for professionals)."""
    now = int(clock.now().timestamp())
    seen = session.get(_PATIENT_SEEN_KEY)
    started = session.get(_PATIENT_START_KEY)
    max_age = int(current_app.config["SESSION_MAX_HOURS"]) * 3600
    if not isinstance(seen, int) or now - seen > PATIENT_SIDE_IDLE_MINUTES * 60:
        session.clear()
        g.session_expired = isinstance(seen, int)
        return
    if not isinstance(started, int) or now - started > max_age:
        session.clear()
        g.session_expired = True
        return
    session[_PATIENT_SEEN_KEY] = now


def start_patient_side_session(account: Any) -> None:
    """Begin a fresh patient-side cookie session (old data dropped against fixation)."""
    from flask_login import login_user

    session.clear()
    session.permanent = True
    login_user(account)
    session[_PATIENT_SEEN_KEY] = session[_PATIENT_START_KEY] = int(clock.now().timestamp())


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

    if request.endpoint in _ALLOWED_BEFORE_PASSWORD_CHANGE:
        return None
    # Bearer requests too: a token must not keep working while the password is to be changed.
    if "_user_id" not in session and not request.path.startswith("/api/"):
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        if request.path.startswith("/api/"):
            from ptap.core.api import problem

            return problem(
                403,
                "Changement de mot de passe requis",
                "Ce compte doit changer son mot de passe avant d'utiliser l'API : connectez-vous "
                "à PTAP dans un navigateur pour le faire.",
            )
        return redirect(url_for("accounts.change_password"))
    return None
