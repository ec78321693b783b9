"""Pathway rules: templates (draft, publish, retire) and pathways applied to patients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import SYSTEM, AuditContext, record_event
from ptap.care_plans import queries as plan_queries
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, Objective, PlanContent, Problem
from ptap.care_plans.models import CarePlan
from ptap.care_teams.models import CareTeam, Patient, Territory
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.extensions import db
from ptap.grids.models import GridStatus
from ptap.grids.queries import find_grid_by_key
from ptap.pathways import queries
from ptap.pathways.content import TemplateContent, parse_content
from ptap.pathways.fhir import import_plan_definition
from ptap.pathways.models import PathwayTemplate, PathwayTemplateVersion, PatientPathway
from ptap.pathways.permissions import usable_for_patient

#: What a pathway's stop does with its open actions.
KEEP_ACTIONS = "keep"
CANCEL_ACTIONS = "cancel"


def check_grids(content: TemplateContent, *, published: bool = False) -> None:
    """Refuse a step whose grid_key names no assessment grid, or (`published`, at publish) no
    published grid, which could never be filled (French, naming the field)."""
    for i, step in enumerate(content.steps):
        if not step.grid_key:
            continue
        grid = find_grid_by_key(step.grid_key)
        if grid is None:
            raise InvalidInput(
                f"Étape {i + 1}, grille d'évaluation (grid_key) : aucune grille ne porte la "
                f"clé « {step.grid_key} ».",
                field=f"steps.{i}.grid_key",
            )
        if published and grid.status != GridStatus.PUBLISHED:
            raise InvalidInput(
                f"Étape {i + 1}, grille d'évaluation (grid_key) : la grille « {grid.title} » "
                "n'est pas publiée et ne pourrait pas être remplie ; publiez-la d'abord.",
                field=f"steps.{i}.grid_key",
            )


def check_steps(content: TemplateContent) -> None:
    """Refuse a step with neither action nor grid: nothing could ever mark it done."""
    for i, step in enumerate(content.steps):
        if not step.actions() and not step.grid_key:
            raise InvalidInput(
                f"Étape {i + 1} : ajoutez au moins une action ou une grille d'évaluation "
                "(sinon rien ne pourrait la marquer faite).",
                field=f"steps.{i}.objectives",
            )


def _audit_template(
    ctx: AuditContext, action: str, template: PathwayTemplate, reason: str = ""
) -> None:
    record_event(ctx, action, object_type="pathway_template", object_id=template.id, reason=reason)


def create_template(
    user: User,
    content: TemplateContent,
    *,
    team: CareTeam | None = None,
    territory: Territory | None = None,
    ctx: AuditContext = SYSTEM,
) -> PathwayTemplate:
    """Create a draft template owned by one team or shared by a territory's teams."""
    if (team is None) == (territory is None):
        raise InvalidInput(
            "Choisissez soit une équipe, soit un territoire propriétaire.", field="owner"
        )
    content = parse_content(content.model_dump(mode="json"))
    template = PathwayTemplate(
        team_id=team.id if team else None,
        territory_id=territory.id if territory else None,
        title=content.title,
        theme=content.theme,
        draft=content.model_dump(mode="json"),
        created_by_id=user.id,
    )
    require(user, "pathway_templates.manage", template)
    check_grids(content)
    db.session.add(template)
    db.session.flush()
    _audit_template(ctx, "pathway_template.create", template)
    return template


def save_template_draft(
    user: User, template: PathwayTemplate, content: TemplateContent
) -> PathwayTemplate:
    """Replace the template's draft (published versions never change)."""
    require(user, "pathway_templates.manage", template)
    content = parse_content(content.model_dump(mode="json"))
    check_grids(content)
    template.draft = content.model_dump(mode="json")
    template.title = content.title
    template.theme = content.theme
    template.draft_updated_at = utcnow()
    db.session.flush()
    return template


def publish_template(
    user: User, template: PathwayTemplate, ctx: AuditContext = SYSTEM
) -> PathwayTemplateVersion | None:
    """Publish the draft as the next immutable version; None when nothing changed.

    Publishing a retired template puts it back in the library.
    """
    require(user, "pathway_templates.manage", template)
    db.session.refresh(template, with_for_update=True)
    content = parse_content(template.draft)
    check_grids(content, published=True)
    if not content.steps:
        raise InvalidInput("Un parcours publié a au moins une étape.", field="steps")
    if not any(step.actions() for step in content.steps):
        raise InvalidInput("Un parcours publié a au moins une action.", field="steps")
    check_steps(content)
    current = template.current_version
    if current is not None and current.content_hash == content.digest():
        if template.retired_at is not None:
            template.retired_at = None
            db.session.flush()
            _audit_template(ctx, "pathway_template.publish", template, f"v{current.number}")
        return None
    version = PathwayTemplateVersion(
        template_id=template.id,
        number=(current.number if current else 0) + 1,
        content=content.model_dump(mode="json"),
        content_hash=content.digest(),
        created_by_id=user.id,
    )
    db.session.add(version)
    db.session.flush()
    template.current_version = version
    template.retired_at = None
    db.session.flush()
    _audit_template(ctx, "pathway_template.publish", template, f"v{version.number}")
    return version


def retire_template(
    user: User, template: PathwayTemplate, ctx: AuditContext = SYSTEM
) -> PathwayTemplate:
    """Retire a published template: no new pathway starts from it."""
    require(user, "pathway_templates.manage", template)
    if template.current_version_id is None:
        raise Conflict("Ce parcours n'a jamais été publié.", field="status")
    if template.retired_at is None:
        template.retired_at = utcnow()
        db.session.flush()
        _audit_template(ctx, "pathway_template.retire", template)
    return template


@dataclass(frozen=True)
class PrefilledAction:
    """One action of the prefill and how its assignee was resolved."""

    step_title: str
    objective: str
    what: str
    profession: str
    due_on: date
    #: The circle member assigned, or None (left to choose: the action is "à définir").
    assignee_id: int | None
    #: Circle members of that profession (several: left to choose among them).
    candidates: tuple[int, ...]


@dataclass(frozen=True)
class Prefill:
    """What starting a pathway adds to the draft, and the steps' due dates."""

    additions: PlanContent
    steps: list[dict[str, object]]
    actions: list[PrefilledAction]

    @property
    def unresolved(self) -> list[PrefilledAction]:
        """The actions whose professional is left to choose."""
        return [a for a in self.actions if a.assignee_id is None]


#: How far from today a pathway may start (due dates stay computable and meaningful).
START_WINDOW = timedelta(days=2 * 366)


def check_start(start: date) -> date:
    """Refuse a start date more than two years from today (French, naming the field)."""
    today = clock.paris_today()
    if not today - START_WINDOW <= start <= today + START_WINDOW:
        raise InvalidInput(
            "Date de début : indiquez une date à moins de deux ans d'aujourd'hui "
            f"(entre le {today - START_WINDOW:%d/%m/%Y} et le {today + START_WINDOW:%d/%m/%Y}).",
            field="started_on",
        )
    return start


def build_prefill(patient: Patient, content: TemplateContent, start: date) -> Prefill:
    """Compute what a template adds to a patient's draft when started on `start`.

    An action goes to the only circle member of its profession; with none or several, it is
    left to choose and marked "à définir" (the plan editor lists those for the coordinators).
    """
    check_start(start)
    by_profession = queries.circle_by_profession(patient)
    problems: list[Problem] = []
    objectives: list[Objective] = []
    steps: list[dict[str, object]] = []
    rows: list[PrefilledAction] = []
    for step, due in zip(content.steps, content.due_dates(start), strict=True):
        problems += [
            Problem(dimension=p.dimension, description=p.description, priority=p.priority)
            for p in step.problems
        ]
        keys: list[str] = []
        for step_objective in step.objectives:
            actions = []
            for item in step_objective.actions:
                candidates = tuple(by_profession.get(item.profession, ()))
                assignee = candidates[0] if len(candidates) == 1 else None
                action = Action(
                    what=item.what,
                    action_type=item.action_type,
                    assignee_user_id=assignee,
                    due_on=due,
                    to_define=assignee is None,
                )
                actions.append(action)
                keys.append(action.key)
                rows.append(
                    PrefilledAction(
                        step.title,
                        step_objective.title,
                        item.what,
                        item.profession_label,
                        due,
                        assignee,
                        candidates,
                    )
                )
            title = f"{step.title} : {step_objective.title}"[:500]
            objectives.append(Objective(title=title, actions=actions))
        steps.append(
            {
                "key": step.key,
                "title": step.title,
                "due_on": due.isoformat(),
                "action_keys": keys,
                "grid_key": step.grid_key,
            }
        )
    return Prefill(PlanContent(problems=problems, objectives=objectives), steps, rows)


def _audit(ctx: AuditContext, action: str, pathway: PatientPathway, reason: str = "") -> None:
    record_event(
        ctx,
        action,
        object_type="patient_pathway",
        object_id=pathway.id,
        patient_id=pathway.patient_id,
        reason=reason,
    )


def start_pathway(
    user: User,
    patient: Patient,
    template: PathwayTemplate,
    started_on: date,
    ctx: AuditContext,
) -> PatientPathway:
    """Start a published template for a patient: prefill their draft PPCS and record it.

    The draft is then edited and published as usual; its next version records the template
    version it came from (care_plans `draft_provenance`).
    """
    plan = plan_queries.find_plan_for_patient(patient.id)
    if plan is None:
        raise NotFound("Créez d'abord le plan personnalisé (PPCS) de cette personne.")
    require(user, "care_plan.edit", plan)
    version = template.current_version
    if version is None or template.retired_at is not None:
        raise Conflict("Ce modèle de parcours n'est pas publié.", field="template_id")
    if not usable_for_patient(template, patient.id):
        raise InvalidInput(
            "Ce modèle n'appartient ni à l'équipe ni au territoire de cette personne.",
            field="template_id",
        )
    content = parse_content(version.content)
    prefill = build_prefill(patient, content, started_on)
    pathway = PatientPathway(
        patient_id=patient.id,
        plan_id=plan.id,
        template_id=template.id,
        template_version_id=version.id,
        started_on=started_on,
        started_by_id=user.id,
        steps=prefill.steps,
    )
    try:
        # A savepoint: the running-pathway unique index refuses a second start (also a race)
        # and the session stays usable for the French error.
        with db.session.begin_nested():
            db.session.add(pathway)
    except sa.exc.IntegrityError:
        raise Conflict(
            "Cette personne suit déjà ce parcours : arrêtez-le avant de le reprendre.",
            field="template_id",
        ) from None
    provenance = plan_services.VersionProvenance(
        kind="pathway",
        ref=f"pathway-template-version:{version.id}",
        label=f"Prérempli depuis le parcours « {content.title} » (version {version.number})"[:200],
    )
    plan_services.prefill_draft(user, plan, prefill.additions, provenance, ctx)
    _audit(ctx, "pathway.start", pathway, reason=f"template {template.id} v{version.number}")
    return pathway


def stop_pathway(
    user: User, pathway: PatientPathway, open_actions: str, reason: str, ctx: AuditContext
) -> PatientPathway:
    """Stop a pathway; its open actions are kept in the plan or cancelled, as chosen."""
    plan = db.session.get(CarePlan, pathway.plan_id)
    require(user, "care_plan.edit", plan)
    assert plan is not None  # noqa: S101 - require refuses None
    if open_actions not in (KEEP_ACTIONS, CANCEL_ACTIONS):
        raise InvalidInput(
            "Dites ce que deviennent les actions en cours : conservées ou annulées.",
            field="open_actions",
        )
    if pathway.stopped_at is not None:
        raise Conflict("Ce parcours est déjà arrêté.", field="status")
    pathway.stopped_at = utcnow()
    pathway.stopped_by_id = user.id
    pathway.stop_reason = reason.strip()
    db.session.flush()
    if open_actions == CANCEL_ACTIONS:
        keys = {k for step in pathway.steps for k in step["action_keys"]}
        plan_services.close_actions(user, plan, keys, "Parcours arrêté", ctx)
    _audit(ctx, "pathway.stop", pathway, reason=f"{open_actions}: {pathway.stop_reason}"[:200])
    return pathway


def resolve_owner(
    team_id: int | None, territory_id: int | None
) -> tuple[CareTeam | None, Territory | None]:
    """Load a template's owner from ids; unknown ids are named in French."""
    team = db.session.get(CareTeam, team_id) if team_id is not None else None
    if team_id is not None and team is None:
        raise InvalidInput("Équipe introuvable.", field="team_id")
    territory = db.session.get(Territory, territory_id) if territory_id is not None else None
    if territory_id is not None and territory is None:
        raise InvalidInput("Territoire introuvable.", field="territory_id")
    return team, territory


def import_template(
    user: User,
    resource: dict[str, object],
    *,
    team: CareTeam | None = None,
    territory: Territory | None = None,
    ctx: AuditContext = SYSTEM,
) -> PathwayTemplate:
    """Create a draft template from a FHIR R4 PlanDefinition (refused whole, never half)."""
    content = import_plan_definition(resource)
    return create_template(user, content, team=team, territory=territory, ctx=ctx)
