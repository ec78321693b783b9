"""Reads of accounts and tokens."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import ApiToken, User
from ptap.core import clock
from ptap.core.errors import NotFound
from ptap.extensions import db


def get_user(user_id: int) -> User:
    """Return the user or raise NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("Compte introuvable.")
    return user


def find_user_by_email(email: str) -> User | None:
    """Return the user with this e-mail (case-insensitive), if any."""
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def list_users_query() -> sa.Select[Any]:
    """Return the select of every account, ordered by name (for pagination)."""
    return sa.select(User).order_by(User.last_name, User.first_name, User.id)


def list_live_tokens(user: User) -> list[ApiToken]:
    """Return the user's tokens still usable now (neither revoked nor expired), newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(
                ApiToken.user_id == user.id,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > clock.now(),
            )
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def list_tokens(user: User) -> list[ApiToken]:
    """Return the user's tokens, newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )
