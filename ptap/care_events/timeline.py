"""Care-pathway events on the patient timeline."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_events.models import CARE_EVENT_KIND_LABELS, CareEvent, CareEventKind, is_break
from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.core.clock import PARIS
from ptap.extensions import db


@register_provider
def care_events(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per pathway event still standing, on the day it occurred."""
    rows = db.session.execute(
        sa.select(CareEvent, User)
        .join(User, User.id == CareEvent.recorded_by_id)
        .where(CareEvent.patient_id == patient_id, CareEvent.withdrawn_at.is_(None))
    ).all()
    entries = []
    for event, user in rows:
        label = CARE_EVENT_KIND_LABELS[CareEventKind(event.kind)]
        # Noon in Paris: the day shows right whatever the display timezone offset.
        at = datetime.combine(event.occurred_on, time(12), tzinfo=PARIS)
        entries.append(
            TimelineEntry(
                at,
                "care_event_break" if is_break(event.kind) else "care_event",
                f"Rupture de parcours : {label}" if is_break(event.kind) else label,
                detail=event.note,
                actor=user.full_name,
            )
        )
    return entries
