"""In-app notifications: stored, and pushed live to the user's sockets after commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


#: Rows per insert statement (SQLite allows 32,766 parameters per statement).
_CHUNK = 1000


@dataclass(frozen=True)
class NotificationDraft:
    """One notification to store: for whom, its kind, its French title and the local link."""

    user_id: int
    kind: str
    title: str
    link: str = ""


def notify_all(drafts: Sequence[NotificationDraft]) -> list[int]:
    """Store notifications in one multi-row insert and push each to its user's sockets once the
    transaction commits; return their ids, in order. No flush, no query per recipient."""
    if not drafts:
        return []
    now = utcnow()
    columns = (Notification.user_id, Notification.kind, Notification.title, Notification.link)
    #: Ids by notification content: drafts alike may take each other's id (same payload).
    ids_by_content: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for start in range(0, len(drafts), _CHUNK):
        rows = [
            {"user_id": d.user_id, "kind": d.kind, "title": d.title, "link": d.link}
            for d in drafts[start : start + _CHUNK]
        ]
        # One multi-VALUES statement per chunk (an executemany with RETURNING would run one
        # INSERT per row on SQLite).
        stmt = (
            sa.insert(Notification)
            .values([{**row, "created_at": now} for row in rows])
            .returning(Notification.id, *columns)
        )
        for note_id, *content in db.session.execute(stmt):
            ids_by_content[tuple(content)].append(note_id)
    ids = [ids_by_content[(d.user_id, d.kind, d.title, d.link)].pop() for d in drafts]
    for note_id, d in zip(ids, drafts, strict=True):
        emit_after_commit(
            "notification_created",
            {"id": note_id, "kind": d.kind, "title": d.title, "link": d.link},
            room=f"user:{d.user_id}",
        )
    if current_app.config.get("MAIL_TRANSPORT", "none") != "none":
        # The e-mail says only that something is waiting: the content stays in PTAP.
        emails = dict(
            db.session.execute(
                sa.select(User.id, User.email).where(
                    User.id.in_({d.user_id for d in drafts}), User.active
                )
            ).all()
        )
        url = current_app.config["PUBLIC_URL"].rstrip("/") + "/notifications"
        for d in drafts:
            queue_mail(
                emails.get(d.user_id) or "",
                "PTAP : une nouvelle notification vous attend",
                f"Bonjour,\n\nUne nouvelle notification vous attend dans PTAP : {url}\n"
                "Par confidentialité, son contenu n'est pas repris dans ce message.\n",
            )
    return ids


def notify(user_id: int, kind: str, title: str, link: str = "") -> int:
    """Store one notification and push it to the user's sockets once the transaction commits;
    return its id (several at once: `notify_all`)."""
    return notify_all([NotificationDraft(user_id, kind, title, link)])[0]


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
