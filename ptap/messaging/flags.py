"""Patient flags messaging provides to its sibling domains (ptap.core.patient_flags)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from ptap.core.patient_flags import URGENT_UNACKNOWLEDGED, register_patient_flag
from ptap.extensions import db
from ptap.messaging.models import Acknowledgement, Conversation, Message, Priority


def urgent_unacknowledged(patient_ids: Collection[int]) -> set[int]:
    """Return the patients whose conversation holds an urgent message nobody acknowledged
    (the dashboard's definition: not retracted, no acknowledgement at all). One query."""
    acknowledged = sa.exists().where(Acknowledgement.message_id == Message.id)
    stmt = (
        sa.select(Conversation.patient_id)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            Conversation.patient_id.in_(list(patient_ids)),
            Message.priority == Priority.URGENT,
            Message.retracted_at.is_(None),
            ~acknowledged,
        )
        .distinct()
    )
    return {pid for pid in db.session.scalars(stmt) if pid is not None}


register_patient_flag(URGENT_UNACKNOWLEDGED, urgent_unacknowledged)
