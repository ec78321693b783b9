"""Messaging jobs: re-notify unacknowledged urgent messages; purge messages past retention.

Both are idempotent. A re-notification is claimed by inserting its UrgentReminderLog row
(unique on message, user and interval number; INSERT ... ON CONFLICT DO NOTHING, many rows
per statement), so a
second run, a restart or a second scheduler process sends nothing twice. Notifications and
emits leave with the job's commit, through the Redis message queue when several processes run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.audit.services import SYSTEM, record_event
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.sql import insert_many_if_absent
from ptap.extensions import db
from ptap.messaging import queries
from ptap.messaging.models import (
    Acknowledgement,
    Conversation,
    Message,
    Priority,
    UrgentReminderLog,
)
from ptap.messaging.services import conversation_link, purge_messages_before

log = logging.getLogger(__name__)

#: Claim rows per insert statement.
CLAIM_BATCH = 500


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def renotify_urgent_messages(now: datetime | None = None) -> int:
    """Re-notify the members of every unacknowledged urgent message once per interval.

    Interval N = MESSAGING_URGENT_RENOTIFY_MINUTES; at now - sent >= k*N, slot k is sent to
    every member but the author who may still read the conversation (checked now, once per
    conversation). One acknowledgement by anyone stops it. Only messages younger than
    MESSAGING_URGENT_RENOTIFY_MAX_HOURS count. The claims of a run go in one multi-row
    insert and its notifications in one more, whatever the number of recipients.
    """
    now = now or utcnow()
    cfg = current_app.config
    interval = timedelta(minutes=int(cfg["MESSAGING_URGENT_RENOTIFY_MINUTES"]))
    oldest = now - timedelta(hours=int(cfg["MESSAGING_URGENT_RENOTIFY_MAX_HOURS"]))
    acknowledged = sa.exists().where(Acknowledgement.message_id == Message.id)
    pending = db.session.scalars(
        sa.select(Message).where(
            Message.priority == Priority.URGENT,
            Message.retracted_at.is_(None),
            Message.created_at <= now - interval,
            Message.created_at >= oldest,
            ~acknowledged,
        )
    ).all()
    conversations = {
        c.id: c
        for c in db.session.scalars(
            sa.select(Conversation).where(Conversation.id.in_({m.conversation_id for m in pending}))
        )
    }
    members: dict[int, list[int]] = {}
    claims: list[dict[str, Any]] = []
    notes: dict[tuple[int, int, int], NotificationDraft] = {}
    for message in pending:
        conversation = conversations[message.conversation_id]
        if conversation.id not in members:
            members[conversation.id] = queries.member_ids(conversation)
        slot = int((now - _aware(message.created_at)) / interval)
        link = conversation_link(conversation, message.seq)
        for user_id in members[conversation.id]:
            if user_id == message.author_id:
                continue
            claims.append(
                {"message_id": message.id, "user_id": user_id, "slot": slot, "sent_at": now}
            )
            notes[(message.id, user_id, slot)] = NotificationDraft(
                user_id,
                "message_urgent",
                "Rappel : un message urgent attend votre accusé de réception",
                link,
            )
    claimed: set[tuple[Any, ...]] = set()
    for start in range(0, len(claims), CLAIM_BATCH):
        claimed |= insert_many_if_absent(
            UrgentReminderLog,
            claims[start : start + CLAIM_BATCH],
            ("message_id", "user_id", "slot"),
        )
    drafts = [note for key, note in notes.items() if key in claimed]
    notify_all(drafts)
    log.info("urgent messages: %d re-notifications", len(drafts))
    return len(drafts)


def purge_expired_messages(now: datetime | None = None) -> int:
    """Delete messages older than MESSAGING_RETENTION_DAYS (0 keeps them); one audit row."""
    days = int(current_app.config["MESSAGING_RETENTION_DAYS"])
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    count = purge_messages_before(cutoff)
    record_event(
        SYSTEM,
        "message.purge",
        object_type="message",
        reason=f"{count} messages created before {cutoff.isoformat(timespec='seconds')} "
        f"(retention {days} days)",
    )
    log.info("messages purge: %d deleted", count)
    return count


#: How far back a run looks for access that ended: a few runs of the one-minute job, so a
#: late or skipped run still catches up (cutting off twice is harmless).
CUT_OFF_WINDOW = timedelta(minutes=3)


def cut_off_expired_access(now: datetime | None = None) -> dict[str, int]:
    """Take out of live threads the people whose access just ended by date.

    Circle invitations and break-the-glass accesses end at their `expires_at`, team
    memberships at the local midnight after their last day: no request happens then, so no
    signal fires. This job finds what ended within the last few minutes and re-checks the
    live sockets of the threads concerned (through Redis in every web process when several
    run), as a removal from the circle does at once. Delivery itself already stopped at the
    deadline (per-socket deadlines, ptap.messaging.live): this job tidies the rooms, tells the
    clients (`access_revoked`) and renews the deadline of those who kept access.
    """
    from ptap.care_teams.models import BreakGlassAccess, CircleInvitation, TeamMembership
    from ptap.messaging import live

    now = now or utcnow()
    since = now - CUT_OFF_WINDOW
    patient_ids = set(
        db.session.scalars(
            sa.select(CircleInvitation.patient_id).where(
                CircleInvitation.expires_at > since,
                CircleInvitation.expires_at <= now,
                CircleInvitation.revoked_at.is_(None),
            )
        )
    ) | set(
        db.session.scalars(
            sa.select(BreakGlassAccess.patient_id).where(
                BreakGlassAccess.expires_at > since, BreakGlassAccess.expires_at <= now
            )
        )
    )
    local = now.astimezone(clock.PARIS)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    team_ids: set[int] = set()
    if local - midnight < CUT_OFF_WINDOW:
        yesterday = midnight.date() - timedelta(days=1)
        team_ids = set(
            db.session.scalars(
                sa.select(TeamMembership.team_id).where(TeamMembership.ends_on == yesterday)
            )
        )
    for patient_id in sorted(patient_ids):
        live.evict_from_patient_threads(patient_id)
    for team_id in sorted(team_ids):
        live.evict_from_team_threads(team_id)
    return {"patients": len(patient_ids), "teams": len(team_ids)}
