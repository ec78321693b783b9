"""In-app notifications: stored, and pushed live to the user's sockets after commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from ptap.accounts.models import User
from ptap.core.mail import queue_mail
from ptap.core.models import Base, utcnow
from ptap.core.realtime import emit_after_commit
from ptap.extensions import db


class Notification(Base):
    """A message for one user (break-the-glass alert, reminder, mention...)."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: Machine-readable kind, e.g. break_glass, task_due.
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: Short French text; never more health data than needed to act.
    title: Mapped[str] = mapped_column(sa.String(300))
    #: Local path to open (e.g. /break-glass/reviews).
    link: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


def notify(user_id: int, kind: str, title: str, link: str = "") -> Notification:
    """Store a notification and push it to the user's sockets once the transaction commits."""
    note = Notification(user_id=user_id, kind=kind, title=title, link=link)
    db.session.add(note)
    db.session.flush()
    emit_after_commit(
        "notification_created",
        {"id": note.id, "kind": kind, "title": title, "link": link},
        room=f"user:{user_id}",
    )
    if current_app.config.get("MAIL_TRANSPORT", "none") != "none":
        # The e-mail says only that something is waiting: the content stays in PTAP.
        email = db.session.scalar(sa.select(User.email).where(User.id == user_id, User.active))
        url = current_app.config["PUBLIC_URL"].rstrip("/") + "/notifications"
        queue_mail(
            email or "",
            "PTAP : une nouvelle notification vous attend",
            f"Bonjour,\n\nUne nouvelle notification vous attend dans PTAP : {url}\n"
            "Par confidentialité, son contenu n'est pas repris dans ce message.\n",
        )
    return note


def list_notifications(user_id: int, limit: int = 50) -> list[Notification]:
    """Return the user's latest notifications, unread first."""
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.read_at.is_not(None), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user_id: int) -> None:
    """Mark every notification of the user as read."""
    db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
