"""The patient's conversation on the timeline: how many messages each day, never their text."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time

import sqlalchemy as sa

from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.core.clock import PARIS, paris_day
from ptap.extensions import db
from ptap.messaging.models import Conversation, Message


@register_provider
def message_counts(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per day with messages in the patient's conversation: the count only
    (the timeline is read by the whole circle; the messages stay in the conversation)."""
    instants = db.session.scalars(
        sa.select(Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.patient_id == patient_id, Message.retracted_at.is_(None))
    )
    days = Counter(paris_day(at) for at in instants)
    return [
        TimelineEntry(
            # Noon in Paris: the day shows right whatever the display timezone offset.
            datetime.combine(day, time(12), tzinfo=PARIS),
            "messages",
            f"{count} message{'s' if count > 1 else ''} dans la conversation du patient",
            all_day=True,
        )
        for day, count in sorted(days.items())
    ]
