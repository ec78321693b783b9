"""One-time activation links: the user, never the admin, sets the password of an account that
an admin created or reset; the link is single-use, expiring, and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import ActivationLink, User
from ptap.accounts.passwords import check_password_policy, hash_password
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.core.errors import InvalidInput
from ptap.core.mail import send_mail_after_commit
from ptap.core.models import utcnow
from ptap.extensions import db

INVALID_LINK = (
    "Ce lien d'activation est invalide, expiré ou déjà utilisé. "
    "Demandez-en un nouveau à l'administrateur de la plateforme."
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def activation_url(token: str) -> str:
    """Return the absolute URL of an activation link (PUBLIC_URL based)."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + f"/activate/{token}"


def issue_activation_link(user: User, ctx: AuditContext) -> str:
    """Create a new link for `user` (older unused links stop working); return its token once.

    The link is e-mailed to the user after the commit when mail is configured.
    """
    now = utcnow()
    db.session.execute(
        sa.update(ActivationLink)
        .where(ActivationLink.user_id == user.id, ActivationLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    hours = int(current_app.config["ACTIVATION_LINK_HOURS"])
    db.session.add(
        ActivationLink(
            user_id=user.id,
            token_hash=_hash(token),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    db.session.flush()
    record_event(ctx, "account.activation_link", object_type="user", object_id=user.id)
    send_mail_after_commit(
        user.email,
        "PTAP : activez votre compte",
        f"Bonjour {user.full_name},\n\n"
        "Un compte PTAP vous attend. Pour choisir votre mot de passe puis configurer votre "
        f"second facteur (application d'authentification), ouvrez ce lien :\n\n"
        f"{activation_url(token)}\n\n"
        f"Ce lien ne sert qu'une fois et expire dans {hours} heures. Si vous n'attendiez pas ce "
        "message, ignorez-le et prévenez l'administrateur de la plateforme.\n",
    )
    return token


def find_activation_user(token: str) -> User | None:
    """Return the user of a live (unused, unexpired) link, or None."""
    link = db.session.scalar(
        sa.select(ActivationLink).where(
            ActivationLink.token_hash == _hash(token),
            ActivationLink.used_at.is_(None),
            ActivationLink.expires_at > utcnow(),
        )
    )
    return db.session.get(User, link.user_id) if link is not None else None


def activate_account(token: str, password: str, ctx: AuditContext) -> User:
    """Consume the link (atomically: one use only) and set the user's password."""
    check_password_policy(password, field="password")
    now = utcnow()
    user_id = db.session.execute(
        sa.update(ActivationLink)
        .where(
            ActivationLink.token_hash == _hash(token),
            ActivationLink.used_at.is_(None),
            ActivationLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(ActivationLink.user_id)
        .execution_options(synchronize_session=False)
    ).scalar()
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        record_event(ctx, "account.activate_link", outcome=Outcome.FAILURE, reason="invalid link")
        raise InvalidInput(INVALID_LINK, field="token")
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None
    record_event(ctx, "account.activate_link", object_type="user", object_id=user.id)
    return user


def show_link_to_admin() -> bool:
    """Tell whether the admin may see the link: only when no mail is configured outside
    production (development and tests). In production the link only goes by e-mail."""
    cfg = current_app.config
    return cfg.get("MAIL_TRANSPORT", "none") == "none" and cfg.get("ENV") != "production"
