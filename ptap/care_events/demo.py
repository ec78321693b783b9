"""Care-pathway events for `ptap demo`: breaks over the demo patients' follow-up.

About a third of the followed patients had a break (an unplanned hospitalisation, often
followed by a return home, an emergency visit, a caregiver's exhaustion, an entry into an
institution); patients whose follow-up ended with a death have that event. Rows are inserted
directly (recorded by a coordinator of the team), dated within the follow-up, relative to the
clock; drawn from a seeded generator (deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.care_events.models import CareEvent, CareEventKind
from ptap.care_teams.models import EndReason, Enrolment, TeamMembership, TeamRole
from ptap.core import clock
from ptap.extensions import db

NOTES = {
    CareEventKind.UNPLANNED_HOSPITALISATION: (
        "Chute dans l'escalier, hospitalisation en gériatrie.",
        "Décompensation cardiaque, admission par les urgences.",
        "Infection pulmonaire, hospitalisation de quelques jours.",
    ),
    CareEventKind.EMERGENCY_VISIT: (
        "Passage aux urgences la nuit, retour à domicile le lendemain.",
        "Malaise au domicile, SAMU appelé par la voisine.",
    ),
    CareEventKind.RETURN_HOME: ("Retour à domicile avec passage infirmier renforcé.",),
    CareEventKind.INSTITUTION_ENTRY: ("Entrée en EHPAD après hospitalisation.",),
    CareEventKind.CAREGIVER_LOSS: (
        "La fille aidante est hospitalisée : plus personne le soir.",
        "Épuisement de l'époux aidant signalé par l'infirmière libérale.",
    ),
    CareEventKind.DEATH: ("",),
}
SHARE_WITH_BREAKS = 0.6


@dataclass
class CareEventsDemoSummary:
    """What the care-events demo created."""

    events: int = 0
    breaks: int = 0


def load_care_events_demo(
    rng: random.Random, team_ids: Sequence[int]
) -> CareEventsDemoSummary | None:
    """Create the demo patients' pathway events unless there are some (flushes, no commit)."""
    exists = db.session.scalar(
        sa.select(CareEvent.id).where(CareEvent.team_id.in_(team_ids)).limit(1)
    )
    if exists is not None or not team_ids:
        return None
    now = clock.now()
    staff = _coordinators(team_ids)
    summary = CareEventsDemoSummary()
    enrolments = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.team_id.in_(team_ids)).order_by(Enrolment.id)
    ).all()
    for enrolment in enrolments:
        end = enrolment.ended_at or now
        author = rng.choice(staff[enrolment.team_id])
        if enrolment.end_reason == EndReason.DECEASED and enrolment.ended_at:
            _add(rng, enrolment, CareEventKind.DEATH, enrolment.ended_at, author, summary)
        if rng.random() >= SHARE_WITH_BREAKS:
            continue
        for _ in range(rng.choices((1, 2, 3), (6, 3, 1))[0]):
            span = max(1, (end - enrolment.enrolled_at).days)
            at = enrolment.enrolled_at + timedelta(days=rng.randint(0, span))
            kind = rng.choices(
                (
                    CareEventKind.UNPLANNED_HOSPITALISATION,
                    CareEventKind.EMERGENCY_VISIT,
                    CareEventKind.CAREGIVER_LOSS,
                    CareEventKind.INSTITUTION_ENTRY,
                ),
                (45, 35, 12, 8),
            )[0]
            _add(rng, enrolment, kind, at, author, summary)
            if kind == CareEventKind.UNPLANNED_HOSPITALISATION:
                back = at + timedelta(days=rng.randint(3, 20))
                if back < end:
                    _add(rng, enrolment, CareEventKind.RETURN_HOME, back, author, summary)
    db.session.flush()
    return summary


def _add(
    rng: random.Random,
    enrolment: Enrolment,
    kind: CareEventKind,
    at: datetime,
    author: int,
    summary: CareEventsDemoSummary,
) -> None:
    """Add one event, recorded one to three days after it happened (never in the future)."""
    now = clock.now()
    at = min(at, now - timedelta(hours=2))
    recorded_at = min(at + timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 8)), now)
    event = CareEvent(
        patient_id=enrolment.patient_id,
        team_id=enrolment.team_id,
        kind=kind,
        occurred_on=clock.paris_day(at),
        recorded_at=recorded_at,
        recorded_by_id=author,
        note=rng.choice(NOTES[kind]),
    )
    db.session.add(event)
    summary.events += 1
    summary.breaks += event.is_break


def _coordinators(team_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = db.session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.user_id)
        .where(
            TeamMembership.team_id.in_(team_ids),
            TeamMembership.role == TeamRole.COORDINATOR,
            TeamMembership.ends_on.is_(None),
        )
        .order_by(TeamMembership.id)
    )
    result: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    for team_id, user_id in rows:
        result[team_id].append(user_id)
    return result
