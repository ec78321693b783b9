"""Server-side login sessions: opened at login, checked on every request and socket event,
ended on logout, timeout or account cut-off (whatever copy of the cookie still exists)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import ApiToken, User, UserSession
from ptap.audit.services import AuditContext, record_event
from ptap.core.aftercommit import on_commit
from ptap.core.models import utcnow
from ptap.core.realtime import disconnect_room, renew_room
from ptap.extensions import db

#: last_seen_at is written at most this often, so reads do not all become writes.
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class SessionCheck:
    """The live session row, or None and why the session is not live."""

    row: UserSession | None
    reason: str = ""
    touched: bool = False


def open_user_session(
    user: User, *, user_agent: str = "", ip_address: str = "", auth_method: str = "password"
) -> UserSession:
    """Create the server-side row of a new login session; its id goes in the cookie."""
    now = utcnow()
    row = UserSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        user_agent=user_agent[:200],
        ip_address=ip_address[:64],
        auth_method=auth_method,
    )
    db.session.add(row)
    db.session.flush()
    return row


def check_user_session(session_id: object, user_id: int | None) -> SessionCheck:
    """Return the session if it is live for `user_id`; end it on idle or maximum age.

    Touches last_seen_at at most once a minute (the caller commits when `touched`).
    """
    row = db.session.get(UserSession, session_id) if isinstance(session_id, str) else None
    if row is None or row.user_id != user_id:
        return SessionCheck(None, "unknown")
    if row.ended_at is not None:
        return SessionCheck(None, "ended")
    cfg = current_app.config
    now = utcnow()
    if now - row.last_seen_at > timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"])):
        end_user_session(row, "idle")
        return SessionCheck(None, "idle")
    if now - row.created_at > timedelta(hours=int(cfg["SESSION_MAX_HOURS"])):
        end_user_session(row, "max_age")
        return SessionCheck(None, "max_age")
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        row.last_seen_at = now
        # The session's sockets, in whatever process, move their idle deadline on.
        room, deadline = f"session:{row.id}", session_deadline(row)
        on_commit(lambda: renew_room(room, deadline))
        return SessionCheck(row, touched=True)
    return SessionCheck(row)


def session_deadline(row: UserSession) -> datetime:
    """Return the instant the session ends unless used again: its idle end or, if earlier,
    its absolute end."""
    cfg = current_app.config
    idle_end = row.last_seen_at + timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"]))
    absolute_end = row.created_at + timedelta(hours=int(cfg["SESSION_MAX_HOURS"]))
    return min(idle_end, absolute_end)


def end_user_session(row: UserSession, reason: str) -> None:
    """End one session; its sockets are closed after the commit."""
    if row.ended_at is None:
        row.ended_at = utcnow()
        row.end_reason = reason
        room = f"session:{row.id}"
        on_commit(lambda: disconnect_room(room))


def recently_reauthenticated(row: UserSession | None) -> bool:
    """Tell whether the session re-entered password and TOTP within REAUTH_MINUTES."""
    if row is None or row.reauthenticated_at is None:
        return False
    window = timedelta(minutes=int(current_app.config["REAUTH_MINUTES"]))
    return utcnow() - row.reauthenticated_at <= window


def cut_off_account(user: User, ctx: AuditContext, reason: str) -> None:
    """End every session and revoke every API token of the user; close all their sockets
    after the commit. Used by log out everywhere, password change, resets, deactivation."""
    now: datetime = utcnow()
    user.session_version += 1
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:40])
        .execution_options(synchronize_session=False)
    )
    revoked = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiToken.id)
        .execution_options(synchronize_session=False)
    ).scalars()
    token_ids = list(revoked)
    if token_ids:
        record_event(
            ctx,
            "auth.token_revoke_all",
            object_type="user",
            object_id=user.id,
            reason=f"{reason}: tokens {', '.join(map(str, token_ids))}",
        )
    room = f"user:{user.id}"
    on_commit(lambda: disconnect_room(room))
