"""Who may read, edit and apply pathway templates (policy rules).

Decision (issue 15): a team's template is read by that team's members and managed (edited,
published, retired) by its coordinators; a territory's template is read by the members of any
active team of that territory and managed by the coordinators of those teams. Starting or
stopping a pathway for a patient is editing their plan (`care_plan.edit`, the circle), with a
published template the patient's teams may use.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, Enrolment, TeamMembership, TeamRole
from ptap.core.policy import Actor, is_clinician, rule
from ptap.extensions import db
from ptap.pathways.models import PathwayTemplate


def _team_ids(user_id: int, *, role: str | None = None) -> sa.Select[Any]:
    return access.active_team_ids(user_id, role=role)


def owner_teams(template: PathwayTemplate) -> sa.Select[Any]:
    """Select the ids of the active teams that own (or share) the template."""
    if template.team_id is not None:
        return sa.select(CareTeam.id).where(CareTeam.id == template.team_id)
    return sa.select(CareTeam.id).where(
        CareTeam.territory_id == template.territory_id, CareTeam.active.is_(True)
    )


def _in_owner_teams(user: Actor, template: PathwayTemplate | None, role: str | None) -> bool:
    if template is None or not is_clinician(user):
        return False
    mine = _team_ids(user.id, role=role).where(TeamMembership.team_id.in_(owner_teams(template)))
    return bool(db.session.scalar(mine.limit(1)))


@rule("pathway_templates.list")
def _list(user: Actor, _obj: Any) -> bool:
    return is_clinician(user)


@rule("pathway_templates.read")
def _read(user: Actor, template: PathwayTemplate | None) -> bool:
    return _in_owner_teams(user, template, None)


@rule("pathway_templates.manage")
def _manage(user: Actor, template: PathwayTemplate | None) -> bool:
    """Create, edit, publish and retire: the coordinators of the owning team(s)."""
    return _in_owner_teams(user, template, TeamRole.COORDINATOR)


def usable_for_patient(template: PathwayTemplate, patient_id: int) -> bool:
    """Tell whether one of the patient's current teams owns or shares the template."""
    teams = sa.select(Enrolment.team_id).where(
        Enrolment.patient_id == patient_id,
        Enrolment.ended_at.is_(None),
        Enrolment.team_id.in_(owner_teams(template)),
    )
    return bool(db.session.scalar(teams.limit(1)))
