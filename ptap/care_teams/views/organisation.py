"""Organisation page (administrators): territories, structures and teams, with their forms.

The three forms post to the same page; each carries a prefix, so only the submitted one
reads the request and shows errors, and the other two stay empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice

from ptap.audit.context import request_context
from ptap.audit.services import AuditContext
from ptap.care_teams import organisation as org
from ptap.care_teams import queries
from ptap.care_teams.forms_organisation import StructureForm, TeamForm, TerritoryForm
from ptap.care_teams.models import STRUCTURE_KIND_LABELS, Structure, Territory
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import acting_user, label
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import requires
from ptap.core.web import register_nav
from ptap.extensions import db

# "teams.manage" without a team is true for administrators only: coordinators manage
# their team's members from the team page.
register_nav("Organisation", "care_teams.organisation", "teams.manage", "territoire")


@dataclass(frozen=True)
class TerritoryRow:
    name: str
    region_code: str
    department_code: str


@dataclass(frozen=True)
class StructureRow:
    name: str
    kind: str
    finess: str
    territory: str


@dataclass(frozen=True)
class OrgTeamRow:
    id: int
    name: str
    structure: str
    territory: str
    active: bool


def _territory_name(territory: Territory) -> str:
    return f"{territory.name} ({territory.department_code})"


def _create_territory(form: Any, ctx: AuditContext) -> str:
    territory = org.create_territory(
        acting_user(), form.name.data, form.region_code.data, form.department_code.data, ctx
    )
    return f"Territoire « {territory.name} » créé."


def _create_structure(form: Any, ctx: AuditContext) -> str:
    territory = db.session.get(Territory, form.territory_id.data)
    if territory is None:
        raise InvalidInput("Choisissez le territoire.", field="territory_id")
    structure = org.create_structure(
        acting_user(), form.name.data, form.kind.data, form.finess.data, territory, ctx
    )
    return f"Structure « {structure.name} » créée."


def _create_team(form: Any, ctx: AuditContext) -> str:
    structure = db.session.get(Structure, form.structure_id.data)
    if structure is None:
        raise InvalidInput("Choisissez la structure.", field="structure_id")
    team = org.create_team(acting_user(), form.name.data, structure, ctx)
    return f"Équipe « {team.name} » créée."


#: prefix -> (form class, adapter calling the one service; returns the success message).
FORMS: dict[str, tuple[type[FlaskForm], Callable[[Any, AuditContext], str]]] = {
    "territory": (TerritoryForm, _create_territory),
    "structure": (StructureForm, _create_structure),
    "team": (TeamForm, _create_team),
}


def _forms(
    submitted: tuple[str, FlaskForm] | None,
    territories: list[Territory],
    structures: list[Structure],
) -> dict[str, Any]:
    """Build the three forms: empty ones, but the submitted one with its values and errors."""
    forms: dict[str, Any] = {
        prefix: cls(prefix=prefix, formdata=None) for prefix, (cls, _) in FORMS.items()
    }
    if submitted is not None:
        forms[submitted[0]] = submitted[1]
    forms["structure"].territory_id.choices = [SelectChoice(0, "— Choisir —")] + [
        SelectChoice(t.id, _territory_name(t)) for t in territories
    ]
    forms["team"].structure_id.choices = [SelectChoice(0, "— Choisir —")] + [
        SelectChoice(s.id, f"{s.name} · {_territory_name(s.territory)}") for s in structures
    ]
    return forms


def _render(submitted: tuple[str, FlaskForm] | None = None, status: int = 200) -> Any:
    territories, structures = org.list_territories(), org.list_structures()
    page = render_template(
        "care_teams/organisation.html",
        forms=_forms(submitted, territories, structures),
        territories=[TerritoryRow(t.name, t.region_code, t.department_code) for t in territories],
        structures=[
            StructureRow(
                s.name, label(STRUCTURE_KIND_LABELS, s.kind), s.finess or "", s.territory.name
            )
            for s in structures
        ],
        teams=[
            OrgTeamRow(t.id, t.name, t.structure.name, _territory_name(t.territory), t.active)
            for t in queries.all_teams()
        ],
    )
    return page, status


@bp.route("/admin/organisation", methods=["GET", "POST"])
@requires("teams.manage")
def organisation():
    if request.method == "GET":
        return _render()
    key = request.form.get("form", "")
    if key not in FORMS:
        abort(400)
    form_class, create = FORMS[key]
    form = form_class(prefix=key)
    if form.validate_on_submit():
        outcome = run_action(
            lambda: create(form, request_context()), catch=(InvalidInput, Conflict)
        )
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            flash(outcome.value, "success")
            return redirect(url_for(".organisation"))
    return _render((key, form), 422)
