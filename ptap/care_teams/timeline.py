"""The patient timeline: one chronological view fed by every domain.

Each domain registers a provider, a function `(patient_id) -> list[TimelineEntry]`, with
`register_provider`; care plans, messages, meetings and DMP filings add theirs when they land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_teams.models import (
    CONSENT_KIND_LABELS,
    END_REASON_LABELS,
    BreakGlassAccess,
    CareTeam,
    ConsentKind,
    ConsentRecord,
    EndReason,
    Enrolment,
    Patient,
)
from ptap.extensions import db


@dataclass(frozen=True)
class TimelineEntry:
    """One event of the patient's story."""

    at: datetime
    kind: str
    title: str
    detail: str = ""
    actor: str = ""
    #: The entry is about a day, not an instant (its time is not shown).
    all_day: bool = False


Provider = Callable[[int], list[TimelineEntry]]
PROVIDERS: list[Provider] = []


def register_provider(provider: Provider) -> Provider:
    """Add a timeline provider (idempotent); usable as a decorator."""
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)
    return provider


def patient_timeline(patient_id: int) -> list[TimelineEntry]:
    """Return every provider's entries for the patient, newest first."""
    entries = [entry for provider in PROVIDERS for entry in provider(patient_id)]
    return sorted(entries, key=lambda e: e.at, reverse=True)


def _name(user: User | None) -> str:
    return user.full_name if user else ""


@register_provider
def _creation(patient_id: int) -> list[TimelineEntry]:
    row = db.session.execute(
        sa.select(Patient.created_at, User)
        .outerjoin(User, User.id == Patient.created_by_id)
        .where(Patient.id == patient_id)
    ).first()
    return (
        [TimelineEntry(row[0], "patient", "Création du dossier", actor=_name(row[1]))]
        if row
        else []
    )


@register_provider
def _enrolments(patient_id: int) -> list[TimelineEntry]:
    entries = []
    rows = db.session.execute(
        sa.select(Enrolment, CareTeam.name, User)
        .join(CareTeam, CareTeam.id == Enrolment.team_id)
        .join(User, User.id == Enrolment.enrolled_by_id)
        .where(Enrolment.patient_id == patient_id)
    ).all()
    for enrolment, team, user in rows:
        entries.append(
            TimelineEntry(
                enrolment.enrolled_at,
                "enrolment",
                f"Entrée dans l'équipe {team}",
                actor=_name(user),
            )
        )
        if enrolment.ended_at:
            reason = (
                END_REASON_LABELS.get(EndReason(enrolment.end_reason), "")
                if (enrolment.end_reason)
                else ""
            )
            entries.append(
                TimelineEntry(
                    enrolment.ended_at, "enrolment", f"Sortie de l'équipe {team}", detail=reason
                )
            )
    return entries


@register_provider
def _consents(patient_id: int) -> list[TimelineEntry]:
    rows = db.session.execute(
        sa.select(ConsentRecord, User)
        .join(User, User.id == ConsentRecord.recorded_by_id)
        .where(ConsentRecord.patient_id == patient_id)
    ).all()
    return [
        TimelineEntry(
            record.recorded_at,
            "consent",
            f"{CONSENT_KIND_LABELS[ConsentKind(record.kind)]} : "
            f"{'exprimé' if record.given else 'retiré'}",
            actor=_name(user),
        )
        for record, user in rows
    ]


@register_provider
def _break_glass(patient_id: int) -> list[TimelineEntry]:
    rows = db.session.execute(
        sa.select(BreakGlassAccess, User)
        .join(User, User.id == BreakGlassAccess.user_id)
        .where(BreakGlassAccess.patient_id == patient_id)
    ).all()
    return [
        TimelineEntry(
            grant.created_at,
            "break_glass",
            "Accès en urgence (bris de glace)",
            detail=grant.reason,
            actor=_name(user),
        )
        for grant, user in rows
    ]
