"""Team pages: my teams and a team's composition (organisational, not clinical)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_teams import access, organisation, queries
from ptap.care_teams.forms_circle import ButtonForm
from ptap.care_teams.forms_organisation import MemberForm
from ptap.care_teams.models import (
    STRUCTURE_KIND_LABELS,
    CareTeam,
    MembershipProposal,
    TeamMembership,
)
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import (
    TEAM_ROLE_LABELS,
    acting_user,
    chosen_professional,
    label,
)
from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.forms import attach_error
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

    id: int
    name: str
    profession: str
    role: str
    starts_on: date
    ends_on: date | None
    #: Empty for a current member; "Ancien membre" or "À venir" otherwise.
    note: str
    #: Label of the button ending (or cancelling) the membership; empty: no button.
    end_label: str = ""


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


def _today() -> date:
    return clock.paris_today()


def _member_rows(team: CareTeam, manage: bool) -> list[MemberRow]:
    today = _today()
    rows = []
    for m, user in queries.list_team_memberships(team.id):
        past = m.ends_on is not None and m.ends_on < today
        upcoming = m.starts_on > today
        end_label = "" if past or not manage else ("Annuler" if upcoming else "Mettre fin")
        rows.append(
            MemberRow(
                id=m.id,
                name=f"{user.last_name} {user.first_name}",
                profession=user.profession_label,
                role=TEAM_ROLE_LABELS.get(m.role, m.role),
                starts_on=m.starts_on,
                ends_on=m.ends_on,
                note="À venir" if upcoming else ("Ancien membre" if past else ""),
                end_label=end_label,
            )
        )
    # Current coordinators first, then current members, then the others (stable sort).
    rows.sort(key=lambda row: (row.note != "", row.role != TEAM_ROLE_LABELS["coordinator"]))
    return rows


@dataclass(frozen=True)
class ProposalRow:
    """An administrator's pending proposal to add someone, awaiting a second person."""

    id: int
    name: str
    profession: str
    role: str
    starts_on: date
    ends_on: date | None
    proposed_by: str
    #: The current user may approve or refuse it (not the proposer, not the person proposed).
    decide: bool


def _proposal_rows(team: CareTeam) -> list[ProposalRow]:
    return [
        ProposalRow(
            id=p.id,
            name=f"{user.last_name} {user.first_name}",
            profession=user.profession_label,
            role=TEAM_ROLE_LABELS.get(p.role, p.role),
            starts_on=p.starts_on,
            ends_on=p.ends_on,
            proposed_by=by.full_name,
            decide=can(current_user, "team.decide_member", p),
        )
        for p, user, by in organisation.list_pending_proposals(team.id)
    ]


def _render_team(team: CareTeam, form: MemberForm | None = None, status: int = 200) -> Any:
    manage = can(current_user, "teams.manage", team)
    if manage:
        form = form or MemberForm(formdata=None, starts_on=_today())
    counts = queries.count_active_enrolments_by_team([team.id])
    page = render_template(
        "care_teams/team.html",
        team=_team_row(team, counts),
        members=_member_rows(team, manage),
        can_list_patients=can(current_user, "patients.list"),
        can_declare_cover=access.is_team_coordinator(current_user.id, team.id)
        and can(current_user, "cover.declare"),
        # Its coordinators see why the list may be shorter than the count (members do not).
        sharing=queries.count_sharing_pending(team.id)
        if access.is_team_coordinator(current_user.id, team.id)
        else None,
        member_form=form if manage else None,
        end_form=ButtonForm() if manage else None,
        # Administrators propose; the team's coordinators add directly.
        direct_add=can(current_user, "team.add_member", team),
        proposals=_proposal_rows(team) if manage else [],
        decide_form=ButtonForm() if manage else None,
    )
    return page, status


@bp.get("/teams/<int:team_id>")
@requires("teams.list")
def show_team(team_id: int):
    team = db.get_or_404(CareTeam, team_id)
    require(current_user, "team.view", team)
    return _render_team(team)


@bp.post("/teams/<int:team_id>/members")
@requires("teams.list")
def add_team_member(team_id: int):
    team = db.get_or_404(CareTeam, team_id)
    require(current_user, "teams.manage", team)
    form = MemberForm()
    if form.validate_on_submit():
        member = chosen_professional(form)
        if member is None:
            return _render_team(team, form, 422)
        outcome = run_action(
            lambda: organisation.add_or_propose_member(
                acting_user(), team, member, form.role.data, form.starts_on.data,
                form.ends_on.data, request_context(),
            ),
            catch=(InvalidInput, Conflict),
        )  # fmt: skip
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            if isinstance(outcome.value, MembershipProposal):
                flash(
                    f"Ajout de {member.full_name} proposé : un coordinateur de l'équipe ou un "
                    "autre administrateur doit l'approuver avant qu'il ne prenne effet.",
                    "info",
                )
            else:
                flash(f"{member.full_name} fait partie de l'équipe.", "success")
            return redirect(url_for(".show_team", team_id=team.id))
    return _render_team(team, form, 422)


def _decide(team_id: int, proposal_id: int, approve: bool):
    proposal = db.get_or_404(MembershipProposal, proposal_id)
    if proposal.team_id != team_id:
        abort(404)
    require(current_user, "team.decide_member", proposal)
    if ButtonForm().validate_on_submit():
        decide = organisation.approve_member if approve else organisation.reject_member
        done = "Ajout approuvé : la personne fait partie de l'équipe."
        outcome = run_action(
            lambda: decide(acting_user(), proposal, request_context()),
            catch=(InvalidInput, Conflict),
            success=done if approve else "Proposition refusée.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for(".show_team", team_id=team_id))


@bp.post("/teams/<int:team_id>/proposals/<int:proposal_id>/approve")
@requires("teams.list")
def approve_team_member(team_id: int, proposal_id: int):
    return _decide(team_id, proposal_id, approve=True)


@bp.post("/teams/<int:team_id>/proposals/<int:proposal_id>/reject")
@requires("teams.list")
def reject_team_member(team_id: int, proposal_id: int):
    return _decide(team_id, proposal_id, approve=False)


@bp.post("/teams/<int:team_id>/members/<int:membership_id>/end")
@requires("teams.list")
def end_team_membership(team_id: int, membership_id: int):
    membership = db.get_or_404(TeamMembership, membership_id)
    if membership.team_id != team_id:
        abort(404)
    if ButtonForm().validate_on_submit():
        yesterday = _today() - timedelta(days=1)  # the last day was yesterday: ends now
        outcome = run_action(
            lambda: organisation.end_membership(
                acting_user(), membership, yesterday, request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="Appartenance terminée : l'accès aux patients de l'équipe est retiré.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    if not can(current_user, "team.view", membership.team):  # one ended their own membership
        return redirect(url_for(".list_teams"))
    return redirect(url_for(".show_team", team_id=team_id))
