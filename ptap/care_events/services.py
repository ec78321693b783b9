"""Care-pathway events: record one on a patient's timeline, withdraw one recorded by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_events.models import CareEvent, CareEventKind, is_break
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.signals import care_event_changed, send_after_commit
from ptap.extensions import db

#: Events are recorded when learnt; older dates are typing mistakes.
MAX_AGE = timedelta(days=5 * 366)


@dataclass(frozen=True)
class CareEventData:
    """What happened, when, and (optionally) for which of the user's teams."""

    kind: str
    occurred_on: date
    note: str = ""
    #: One of the teams following the patient the user belongs to; the first one if None.
    team_id: int | None = None


def _recording_team(user: User, patient: Patient, team_id: int | None) -> int:
    teams = sorted(
        t for t in access.active_enrolment_team_ids(patient.id) if access.is_team_member(user.id, t)
    )
    if team_id is None:
        return teams[0]  # the policy checked there is one
    if team_id not in teams:
        raise InvalidInput(
            "Choisissez une de vos équipes qui suit cette personne.", field="team_id"
        )
    return team_id


def record_care_event(
    user: User, patient: Patient, data: CareEventData, ctx: AuditContext
) -> CareEvent:
    """Record a pathway event (a break or not) for the patient, counted for a team."""
    require(user, "care_events.record", patient)
    if data.kind not in CareEventKind.__members__.values():
        raise InvalidInput("Choisissez le type d'événement.", field="kind")
    today = clock.paris_today()
    if data.occurred_on > today:
        raise InvalidInput("La date de l'événement est dans le futur.", field="occurred_on")
    if data.occurred_on < today - MAX_AGE or data.occurred_on.year < patient.birth_year:
        raise InvalidInput("La date de l'événement est trop ancienne.", field="occurred_on")
    if len(data.note) > 10_000:
        raise InvalidInput("Note trop longue (10 000 caractères).", field="note")
    event = CareEvent(
        patient_id=patient.id,
        team_id=_recording_team(user, patient, data.team_id),
        kind=data.kind,
        occurred_on=data.occurred_on,
        note=data.note.strip(),
        recorded_by_id=user.id,
        recorded_at=utcnow(),
    )
    db.session.add(event)
    db.session.flush()
    record_event(
        ctx,
        "care_event.record",
        object_type="care_event",
        object_id=event.id,
        patient_id=patient.id,
        reason=data.kind,
    )
    _announce(event, withdrawn=False)
    return event


def withdraw_care_event(user: User, event: CareEvent, ctx: AuditContext) -> CareEvent:
    """Withdraw an event recorded by mistake (kept for the audit, left out elsewhere)."""
    if event.withdrawn_at is not None:
        raise Conflict("Cet événement a déjà été retiré.")
    require(user, "care_event.withdraw", event)
    event.withdrawn_at = utcnow()
    event.withdrawn_by_id = user.id
    db.session.flush()
    record_event(
        ctx,
        "care_event.withdraw",
        object_type="care_event",
        object_id=event.id,
        patient_id=event.patient_id,
        reason=event.kind,
    )
    _announce(event, withdrawn=True)
    return event


def _announce(event: CareEvent, *, withdrawn: bool) -> None:
    send_after_commit(
        care_event_changed,
        "care_events",
        event_id=event.id,
        patient_id=event.patient_id,
        team_id=event.team_id,
        kind=event.kind,
        is_break=is_break(event.kind),
        withdrawn=withdrawn,
    )
