"""Team pages: my teams and a team's composition (organisational, not clinical)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import render_template
from flask_login import current_user

from ptap.care_teams import queries
from ptap.care_teams.models import STRUCTURE_KIND_LABELS, CareTeam
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import TEAM_ROLE_LABELS, label
from ptap.core.policy import can, require, requires
from ptap.extensions import db


@dataclass(frozen=True)
class TeamRow:
    """A team with its structure, territory and number of followed patients."""

    id: int
    name: str
    structure: str
    structure_kind: str
    territory: str
    patients: int
    active: bool


@dataclass(frozen=True)
class MemberRow:
    """A membership of the team page."""

    name: str
    profession: str
    role: str
    starts_on: date
    ends_on: date | None
    #: Empty for a current member; "Ancien membre" or "À venir" otherwise.
    note: str


def _team_row(team: CareTeam, counts: dict[int, int]) -> TeamRow:
    return TeamRow(
        id=team.id,
        name=team.name,
        structure=team.structure.name,
        structure_kind=label(STRUCTURE_KIND_LABELS, team.structure.kind),
        territory=f"{team.territory.name} ({team.territory.department_code})",
        patients=counts.get(team.id, 0),
        active=team.active,
    )


# --- teams -------------------------------------------------------------------------------


@bp.get("/teams")
@requires("teams.list")
def list_teams():
    admin = can(current_user, "teams.manage")  # admins see every team, others their own
    teams = queries.all_teams() if admin else queries.my_teams(current_user.id)
    counts = queries.count_active_enrolments_by_team([t.id for t in teams])
    return render_template(
        "care_teams/team_list.html", teams=[_team_row(t, counts) for t in teams], admin=admin
    )


@bp.get("/teams/<int:team_id>")
@requires("teams.list")
def show_team(team_id: int):
    team = db.get_or_404(CareTeam, team_id)
    require(current_user, "team.view", team)
    today = date.today()  # noqa: DTZ011 - membership dates are calendar days
    members = [
        MemberRow(
            name=f"{user.last_name} {user.first_name}",
            profession=user.profession_label,
            role=TEAM_ROLE_LABELS.get(m.role, m.role),
            starts_on=m.starts_on,
            ends_on=m.ends_on,
            note="À venir"
            if m.starts_on > today
            else ("Ancien membre" if m.ends_on and m.ends_on < today else ""),
        )
        for m, user in queries.list_team_memberships(team.id)
    ]
    # Current coordinators first, then current members, then the others (stable sort).
    members.sort(key=lambda row: (row.note != "", row.role != TEAM_ROLE_LABELS["coordinator"]))
    counts = queries.count_active_enrolments_by_team([team.id])
    return render_template(
        "care_teams/team.html",
        team=_team_row(team, counts),
        members=members,
        can_list_patients=can(current_user, "patients.list"),
    )
