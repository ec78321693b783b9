"""Demo: outside services (SSIAD, aide à domicile, CCAS, pharmacy) in some demo circles.

Added through the real service, by a coordinator of the patient's team, so the audit trail is
the real one. Idempotent: nothing is added once a demo FINESS number is in a circle.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_teams import circle_structures
from ptap.care_teams.circle_structures import StructureData
from ptap.care_teams.demo import AUDIT_LABEL, finess
from ptap.care_teams.models import (
    CircleStructure,
    CircleStructureKind,
    Enrolment,
    Patient,
    TeamMembership,
    TeamRole,
)
from ptap.core import clock
from ptap.core.errors import DomainError
from ptap.extensions import db

#: How many demo patients get outside services (the first ones, by record id, per team).
PATIENTS_PER_TEAM = 6

SSIAD = StructureData(
    kind=CircleStructureKind.SSIAD,
    finess=finess("69099910"),
    name="SSIAD Croix-Rousse (démo)",
    contact_person="Mme Garnier, infirmière coordinatrice",
    phone="04 65 71 20 10",
    email="ssiad.croixrousse@demo.ptap.test",
    address="12 rue d'Austerlitz, 69004 Lyon",
    note="Passages matin et soir : toilette, surveillance des pansements.",
)
SAAD = StructureData(
    kind=CircleStructureKind.SAAD,
    finess=finess("69099911"),
    name="Aide à domicile Les Tilleuls (démo)",
    contact_person="M. Roux, responsable de secteur",
    phone="04 65 71 20 11",
    note="Aide aux repas et aux courses, trois fois par semaine.",
)
CCAS = StructureData(
    kind=CircleStructureKind.CCAS,
    finess=finess("69099912"),
    name="CCAS de Lyon 4e (démo)",
    phone="04 65 71 20 12",
    address="Mairie du 4e, 133 boulevard de la Croix-Rousse, 69004 Lyon",
    note="Portage des repas ; dossier APA en cours.",
)
PHARMACY = StructureData(
    kind=CircleStructureKind.PHARMACY,
    name="Pharmacie du Plateau (démo)",
    phone="04 65 71 20 13",
    note="Préparation des piluliers chaque semaine.",
)
DEMO_FINESS = [d.finess for d in (SSIAD, SAAD, CCAS)]


def load_circle_structures_demo(team_ids: list[int]) -> int:
    """Add outside services to a few circles of each demo team, unless already there.

    Returns how many were added; commits."""
    done = db.session.scalar(
        sa.select(CircleStructure.id).where(CircleStructure.finess.in_(DEMO_FINESS)).limit(1)
    )
    if done is not None or not team_ids:
        return 0
    today = clock.paris_today()
    added = 0
    for team_id in team_ids:
        coordinator = _coordinator(team_id)
        if coordinator is None:
            continue
        audit = AuditContext(actor_id=coordinator.id, actor_label=AUDIT_LABEL)
        for n, patient in enumerate(_followed(team_id)):
            wanted = [SSIAD] + ([SAAD] if n % 2 == 0 else []) + ([CCAS] if n % 3 == 0 else [])
            if n % 4 == 1:
                wanted.append(PHARMACY)
            for i, data in enumerate(wanted):
                since = today - timedelta(days=20 + 15 * n + 7 * i)
                try:
                    # Recorded the day it started: the access log and the list agree.
                    with clock.frozen(datetime.combine(since, time(9), UTC)):
                        circle_structures.add_circle_structure(
                            coordinator, patient, _on(data, since), audit
                        )
                except DomainError:
                    continue  # this coordinator does not coordinate this patient's care
                added += 1
    db.session.commit()
    return added


def _on(data: StructureData, since: date) -> StructureData:
    return replace(data, started_on=since)


def _coordinator(team_id: int) -> User | None:
    today = clock.paris_today()
    return db.session.scalar(
        sa.select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.role == TeamRole.COORDINATOR,
            TeamMembership.starts_on <= today,
            sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            User.active.is_(True),
        )
        .order_by(User.id)
        .limit(1)
    )


def _followed(team_id: int) -> list[Patient]:
    """The first patients followed now by the team who agreed to sharing."""
    return list(
        db.session.scalars(
            sa.select(Patient)
            .join(Enrolment, Enrolment.patient_id == Patient.id)
            .where(
                Enrolment.team_id == team_id,
                Enrolment.ended_at.is_(None),
                Patient.sharing_consent.is_(True),
                Patient.merged_into_id.is_(None),
            )
            .order_by(Patient.id)
            .limit(PATIENTS_PER_TEAM)
        )
    )
