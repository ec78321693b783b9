"""Reads of care-pathway events (callers check the patient's visibility first)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from ptap.care_events.models import BREAK_KINDS, CareEvent
from ptap.core.errors import NotFound
from ptap.core.policy import Actor, can
from ptap.extensions import db


def patient_events_query(patient_id: int, *, include_withdrawn: bool = False) -> sa.Select[Any]:
    """Select the patient's events, most recent first (the id makes the order total)."""
    stmt = sa.select(CareEvent).where(CareEvent.patient_id == patient_id)
    if not include_withdrawn:
        stmt = stmt.where(CareEvent.withdrawn_at.is_(None))
    return stmt.order_by(CareEvent.occurred_on.desc(), CareEvent.id.desc())


def list_patient_events(patient_id: int, *, include_withdrawn: bool = False) -> Sequence[CareEvent]:
    """Return the patient's events, most recent first."""
    return db.session.scalars(
        patient_events_query(patient_id, include_withdrawn=include_withdrawn)
    ).all()


def get_event(user: Actor, patient_id: int, event_id: int) -> CareEvent:
    """Return one of the patient's events the user may see; NotFound otherwise."""
    from ptap.care_teams.models import Patient

    event = db.session.get(CareEvent, event_id)
    patient = db.session.get(Patient, patient_id)
    if (
        event is None
        or patient is None
        or event.patient_id != patient_id
        or not can(user, "care_events.list", patient)
    ):
        raise NotFound("Événement introuvable.")
    return event


def recent_breaks(team_ids: Iterable[int], since: date) -> Sequence[CareEvent]:
    """Return the breaks recorded by these teams that occurred on or after `since`."""
    return db.session.scalars(
        sa.select(CareEvent)
        .where(
            CareEvent.team_id.in_(list(team_ids)),
            CareEvent.kind.in_(list(BREAK_KINDS)),
            CareEvent.withdrawn_at.is_(None),
            CareEvent.occurred_on >= since,
        )
        .order_by(CareEvent.occurred_on.desc(), CareEvent.id.desc())
    ).all()
