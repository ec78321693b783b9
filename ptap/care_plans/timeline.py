"""Care-plan entries of the patient timeline: each publication."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.extensions import db


@register_provider
def care_plan_publications(patient_id: int) -> list[TimelineEntry]:
    """Return one entry per published version of the patient's plans."""
    rows = db.session.execute(
        sa.select(CarePlanVersion, User)
        .join(CarePlan, CarePlan.id == CarePlanVersion.plan_id)
        .join(User, User.id == CarePlanVersion.created_by_id)
        .where(CarePlan.patient_id == patient_id)
    ).all()
    return [
        TimelineEntry(
            version.created_at,
            "care_plan",
            f"Plan personnalisé de coordination : version {version.number} publiée",
            detail=version.change_summary,
            actor=user.full_name,
        )
        for version, user in rows
    ]
