"""Account jobs: close the sockets of credentials that ended by time."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import ApiToken, UserSession
from ptap.core.models import utcnow
from ptap.core.realtime import disconnect_room
from ptap.extensions import db

#: How far back a run looks for credentials that ended: a few runs of the one-minute job, so
#: a late or skipped run still catches up (closing a room twice is harmless).
CLOSE_WINDOW = timedelta(minutes=3)


def close_sockets_of_ended_credentials(now: datetime | None = None) -> dict[str, int]:
    """Close, in every process, the sockets of tokens that expired and of login sessions that
    reached their idle or absolute end within the last few minutes.

    Delivery to those sockets already stopped at the instant (each socket carries its
    credential's deadline, ptap.core.socket_delivery); this job disconnects them, as a
    revocation or a logout does at once. The session rows themselves are ended, and the
    timeout audited, by their next check (ptap.accounts.session_store).
    """
    now = now or utcnow()
    since = now - CLOSE_WINDOW
    cfg = current_app.config
    idle = timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"]))
    max_age = timedelta(hours=int(cfg["SESSION_MAX_HOURS"]))
    token_ids = db.session.scalars(
        sa.select(ApiToken.id).where(
            ApiToken.revoked_at.is_(None), ApiToken.expires_at > since, ApiToken.expires_at <= now
        )
    ).all()
    session_ids = db.session.scalars(
        sa.select(UserSession.id).where(
            UserSession.ended_at.is_(None),
            sa.or_(
                sa.and_(
                    UserSession.last_seen_at > since - idle,
                    UserSession.last_seen_at <= now - idle,
                ),
                sa.and_(
                    UserSession.created_at > since - max_age,
                    UserSession.created_at <= now - max_age,
                ),
            ),
        )
    ).all()
    for token_id in token_ids:
        disconnect_room(f"token:{token_id}")
    for session_id in session_ids:
        disconnect_room(f"session:{session_id}")
    return {"tokens": len(token_ids), "sessions": len(session_ids)}
