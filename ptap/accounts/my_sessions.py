"""The "Mes sessions" page's reads and writes: a user's own live login sessions.

A session is named in pages, forms and the audit trail by a handle (a SHA-256 prefix of its
id), never by its id: the id is the secret the cookie carries, it must not travel in URLs,
HTML or logs. Only the user's own live sessions are looked up, so another user's handle is
simply not found (404).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts import permissions
from ptap.accounts.models import User, UserSession
from ptap.accounts.session_store import end_user_session
from ptap.audit.services import AuditContext, record_event
from ptap.core.errors import NotFound
from ptap.core.models import utcnow
from ptap.extensions import db

HANDLE_LENGTH = 16
NOT_FOUND = "Session introuvable ou déjà terminée."


@dataclass(frozen=True)
class SessionRow:
    """One live session as the page shows it."""

    handle: str
    created_at: datetime
    last_seen_at: datetime
    device: str
    ip_address: str
    current: bool


def session_handle(session_id: str) -> str:
    """Return the public handle of a session (the id itself stays secret)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:HANDLE_LENGTH]


def describe_user_agent(user_agent: str) -> str:
    """Summarise a User-Agent header in French: browser and system, or "inconnu"."""
    ua = user_agent.lower()
    browser = next(
        (
            name
            for key, name in (
                ("edg/", "Edge"),
                ("opr/", "Opera"),
                ("firefox/", "Firefox"),
                ("chromium/", "Chromium"),
                ("chrome/", "Chrome"),
                ("safari/", "Safari"),
            )
            if key in ua
        ),
        "",
    )
    system = next(
        (
            name
            for key, name in (
                ("android", "Android"),
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    if browser and system:
        return f"{browser} sur {system}"
    return browser or system or ("Autre logiciel" if ua else "Appareil inconnu")


def _live_rows(user: User) -> list[UserSession]:
    """Return the user's sessions that are neither ended nor past a timeout."""
    cfg = current_app.config
    now = utcnow()
    idle_since = now - timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"]))
    born_after = now - timedelta(hours=int(cfg["SESSION_MAX_HOURS"]))
    return list(
        db.session.scalars(
            sa.select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
                UserSession.last_seen_at >= idle_since,
                UserSession.created_at >= born_after,
            )
            .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
        )
    )


def list_own_sessions(user: User, current: UserSession | None) -> list[SessionRow]:
    """List the user's live sessions, most recently seen first; flag this browser's one."""
    current_id = current.id if current is not None else None
    return [
        SessionRow(
            handle=session_handle(row.id),
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            device=describe_user_agent(row.user_agent),
            ip_address=row.ip_address,
            current=row.id == current_id,
        )
        for row in _live_rows(user)
    ]


def end_own_session(user: User, handle: str, ctx: AuditContext) -> UserSession:
    """End one of the user's own live sessions; its pages, API calls and sockets stop at once.

    Raises NotFound for a handle that names no live session of this user (another user's
    session included), without saying which.
    """
    permissions.require_manage_own_account(user)
    row = next((r for r in _live_rows(user) if session_handle(r.id) == handle), None)
    if row is None:
        raise NotFound(NOT_FOUND)
    end_user_session(row, "ended_by_user")
    record_event(
        ctx,
        "auth.session_end",
        object_type="user_session",
        object_id=handle,
        reason=f"user {user.id} ended session {handle}",
    )
    return row


def end_other_sessions(user: User, current: UserSession | None, ctx: AuditContext) -> int:
    """End every live session of the user but `current`; return how many were ended."""
    permissions.require_manage_own_account(user)
    current_id = current.id if current is not None else None
    ended = [row for row in _live_rows(user) if row.id != current_id]
    for row in ended:
        end_user_session(row, "ended_by_user")
    if ended:
        record_event(
            ctx,
            "auth.session_end_others",
            object_type="user",
            object_id=user.id,
            reason="sessions " + ", ".join(session_handle(r.id) for r in ended),
        )
    return len(ended)
