"""Assessment grids for `ptap demo`: the two demo grids (published), and patients of the
first demo team assessed at different dates, so the history shows a score evolving (one
frailty score crosses the alert threshold: its coordinators get the alert)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_teams.models import Enrolment, Patient, TeamMembership, TeamRole
from ptap.core import clock
from ptap.core.policy import can
from ptap.extensions import db
from ptap.grids import services
from ptap.grids.demo_grids import DEMO_GRIDS
from ptap.grids.models import AssessmentGrid

_FRAILTY = "reperage-fragilite"
_HOME = "situation-domicile"
_BASE = {
    "vit-seul": True,
    "perte-poids": False,
    "fatigue": False,
    "marche": False,
    "memoire": False,
    "sorties": "regulieres",
}
#: (patient index, grid key, days ago, answers): scores 1 → 4 → 7 (alert) for the first
#: patient, 8 (alert) → 3 at home for the second, one screening for the third.
_ASSESSMENTS: tuple[tuple[int, str, int, dict[str, Any]], ...] = (
    (0, _FRAILTY, 150, _BASE),
    (0, _FRAILTY, 80, {**_BASE, "fatigue": True, "marche": True}),
    (
        0,
        _FRAILTY,
        12,
        {**_BASE, "fatigue": True, "marche": True, "perte-poids": True, "sorties": "rares"},
    ),
    (
        1,
        _HOME,
        95,
        {
            "logement-obstacles": True,
            "logement-chauffage": False,
            "entourage": "rare",
            "aidant-epuise": True,
            "heures-aide": 4,
            "observations": "Aidante épuisée ; accueil de jour à organiser.",
        },
    ),
    (
        1,
        _HOME,
        20,
        {
            "logement-obstacles": True,
            "logement-chauffage": False,
            "entourage": "hebdo",
            "aidant-epuise": False,
            "heures-aide": 10,
        },
    ),
    (2, _FRAILTY, 40, {**_BASE, "memoire": True, "sorties": "rares"}),
)


def load_grids_demo(team_ids: Sequence[int]) -> int:
    """Create and publish the demo grids, then the first team's assessments, unless the grids
    exist (flushes, no commit); return how many assessments were signed."""
    if not team_ids or db.session.scalar(sa.select(AssessmentGrid.id).limit(1)):
        return 0
    team_id = team_ids[0]
    coordinator = _member(team_id, TeamRole.COORDINATOR)
    if coordinator is None:
        return 0
    ctx = AuditContext(actor_label="demo")
    grids = {}
    for key, definition in DEMO_GRIDS:
        grid = services.create_grid(coordinator, key, definition, ctx)
        services.publish_grid(coordinator, grid, ctx)
        grids[key] = grid
    members = _members(team_id)
    patients = _patients(team_id, 3)
    authors = {
        p.id: next((u for u in members if can(u, "assessments.fill", p)), None) for p in patients
    }
    now = clock.now()
    signed = 0
    for index, key, days, answers in _ASSESSMENTS:
        if index >= len(patients):
            continue
        patient = patients[index]
        author = authors[patient.id]
        if author is None:
            continue
        with clock.frozen(now - timedelta(days=days, hours=index)):
            if key == _HOME:
                answers = {**answers, "visite-date": clock.paris_today().isoformat()}
            assessment = services.start_assessment(author, patient, grids[key], ctx)
            services.save_assessment(author, assessment, patient, answers, 0, ctx)
            services.sign_assessment(author, assessment, patient, ctx)
        signed += 1
    db.session.flush()
    return signed


def _member(team_id: int, role: str) -> User | None:
    """The first active member of the team with this team role."""
    return db.session.scalar(
        sa.select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.role == role,
            TeamMembership.ends_on.is_(None),
            User.active.is_(True),
        )
        .order_by(TeamMembership.id)
        .limit(1)
    )


def _members(team_id: int) -> list[User]:
    """The team's active members, professionals before coordinators."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(TeamMembership, TeamMembership.user_id == User.id)
            .where(
                TeamMembership.team_id == team_id,
                TeamMembership.ends_on.is_(None),
                User.active.is_(True),
            )
            .order_by(TeamMembership.role.desc(), TeamMembership.id)
        )
    )


def _patients(team_id: int, count: int) -> list[Patient]:
    """The first patients the team follows now."""
    return list(
        db.session.scalars(
            sa.select(Patient)
            .join(Enrolment, Enrolment.patient_id == Patient.id)
            .where(
                Enrolment.team_id == team_id,
                Enrolment.ended_at.is_(None),
                Patient.merged_into_id.is_(None),
            )
            .order_by(Patient.id)
            .limit(count)
        )
    )
