"""Pathway templates for `ptap demo`: three shared by the demo territory, followed by patients.

The templates belong to the territory (every demo team sees them). A coordinator of the first
team starts each on one of the team's patients with a plan, at different stages: started two
months ago (first steps done, one late), three weeks ago, and three days ago. Through the
services, as a coordinator would; a handful of rows, so the demo's time barely moves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_plans.models import CarePlan, PlanStatus
from ptap.care_teams.models import CareTeam, Patient, TeamMembership, TeamRole
from ptap.core import clock
from ptap.core.errors import DomainError
from ptap.extensions import db
from ptap.pathways import services
from ptap.pathways.content import parse_content
from ptap.pathways.models import PathwayTemplate, PatientPathway


def _action(what: str, profession: str, kind: str = "care") -> dict[str, Any]:
    return {"what": what, "profession": profession, "action_type": kind}


HEART_FAILURE: dict[str, Any] = {
    "title": "Insuffisance cardiaque : retour à domicile après hospitalisation",
    "theme": "Insuffisance cardiaque",
    "audience": "Personne rentrant à domicile après une hospitalisation pour décompensation "
    "d'une insuffisance cardiaque.",
    "sources": "HAS, Guide du parcours de soins Insuffisance cardiaque (2014, actualisé 2024) ; "
    "programme PRADO Insuffisance cardiaque.",
    "steps": [
        {
            "title": "Premiers jours à domicile",
            "offset_days": 7,
            "problems": [
                {
                    "dimension": "medical",
                    "description": "Risque de réhospitalisation précoce",
                    "priority": "high",
                },
            ],
            "objectives": [
                {
                    "title": "Sécuriser le retour à domicile",
                    "actions": [
                        _action("Consultation du médecin traitant", "physician"),
                        _action("Passage infirmier : pesée, œdèmes, observance", "nurse"),
                        _action("Conciliation médicamenteuse de sortie", "pharmacist"),
                    ],
                }
            ],
        },
        {
            "title": "Éducation et réadaptation",
            "offset_days": 21,
            "offset_from": "previous",
            "objectives": [
                {
                    "title": "Connaître les signes d'alerte et adapter son mode de vie",
                    "actions": [
                        _action(
                            "Séances d'éducation thérapeutique (signes d'alerte, sel)",
                            "nurse",
                            "education",
                        ),
                        _action("Conseils diététiques : régime peu salé", "dietitian", "education"),
                        _action("Réentraînement à l'effort", "physiotherapist"),
                    ],
                }
            ],
        },
        {
            "title": "Consultation de cardiologie",
            "offset_days": 60,
            "objectives": [
                {
                    "title": "Optimiser le traitement",
                    "actions": [_action("Consultation du cardiologue et titration", "physician")],
                }
            ],
        },
    ],
}

FRAIL_ELDERLY: dict[str, Any] = {
    "title": "Personne âgée fragile à domicile",
    "theme": "Fragilité du sujet âgé",
    "audience": "Personne de 75 ans et plus repérée fragile (chutes, perte d'autonomie, "
    "isolement) qui souhaite rester à domicile.",
    "sources": "HAS, Comment repérer la fragilité en soins ambulatoires (2013) ; "
    "démarche ICOPE (OMS).",
    "steps": [
        {
            "title": "Évaluation globale",
            "offset_days": 15,
            # The demo frailty grid (ptap.grids.demo), loaded before the pathways.
            "grid_key": "reperage-fragilite",
            "problems": [
                {"dimension": "medical", "description": "Chutes répétées"},
                {"dimension": "social", "description": "Isolement, aidant épuisé"},
            ],
            "objectives": [
                {
                    "title": "Évaluer les besoins",
                    "actions": [
                        _action("Évaluation gériatrique standardisée", "physician", "assessment"),
                        _action(
                            "Visite à domicile : autonomie et logement",
                            "occupational_therapist",
                            "assessment",
                        ),
                        _action(
                            "Évaluation sociale et droits (APA)", "social_worker", "social_support"
                        ),
                    ],
                }
            ],
        },
        {
            "title": "Mise en place des aides",
            "offset_days": 30,
            "offset_from": "previous",
            "objectives": [
                {
                    "title": "Rester à domicile en sécurité",
                    "actions": [
                        _action(
                            "Aménagement du logement et aides techniques",
                            "occupational_therapist",
                            "equipment",
                        ),
                        _action(
                            "Kinésithérapie : équilibre et prévention des chutes", "physiotherapist"
                        ),
                        _action(
                            "Relais vers l'aide à domicile et l'accueil de jour",
                            "care_coordinator",
                            "coordination",
                        ),
                    ],
                }
            ],
        },
        {
            "title": "Réévaluation à trois mois",
            "offset_days": 90,
            "objectives": [
                {
                    "title": "Ajuster le plan",
                    "actions": [
                        _action(
                            "Réévaluation et synthèse pluriprofessionnelle",
                            "care_coordinator",
                            "coordination",
                        ),
                    ],
                }
            ],
        },
    ],
}

PALLIATIVE: dict[str, Any] = {
    "title": "Soins palliatifs à domicile",
    "theme": "Soins palliatifs",
    "audience": "Personne atteinte d'une maladie grave évolutive souhaitant être accompagnée "
    "à domicile, et ses proches.",
    "sources": "HAS, L'essentiel de la démarche palliative (2016) ; loi Claeys-Leonetti (2016).",
    "steps": [
        {
            "title": "Organisation des soins",
            "offset_days": 3,
            "problems": [
                {
                    "dimension": "medical",
                    "description": "Douleur et symptômes à soulager",
                    "priority": "high",
                },
                {
                    "dimension": "psychological",
                    "description": "Anxiété de la personne et des proches",
                },
            ],
            "objectives": [
                {
                    "title": "Soulager et anticiper",
                    "actions": [
                        _action("Prescriptions anticipées personnalisées", "physician"),
                        _action("Passages infirmiers quotidiens", "nurse"),
                        _action(
                            "Soutien psychologique de la personne et des proches",
                            "psychologist",
                            "social_support",
                        ),
                    ],
                }
            ],
        },
        {
            "title": "Directives anticipées et répit",
            "offset_days": 14,
            "offset_from": "previous",
            "objectives": [
                {
                    "title": "Respecter les volontés et soutenir l'aidant",
                    "actions": [
                        _action(
                            "Recueil des directives anticipées et de la personne de confiance",
                            "physician",
                            "coordination",
                        ),
                        _action(
                            "Solutions de répit pour l'aidant", "social_worker", "social_support"
                        ),
                    ],
                }
            ],
        },
    ],
}

TEMPLATES = (HEART_FAILURE, FRAIL_ELDERLY, PALLIATIVE)
#: Days since each demo pathway started: different stages on the timeline.
STARTED_DAYS_AGO = (60, 21, 3)


def _coordinator(team_id: int) -> User | None:
    return db.session.scalar(
        sa.select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id == team_id, TeamMembership.role == TeamRole.COORDINATOR)
        .order_by(User.id)
        .limit(1)
    )


def _templates(coordinator: User, team: CareTeam) -> list[PathwayTemplate]:
    existing = {
        t.title: t
        for t in db.session.scalars(
            sa.select(PathwayTemplate).where(PathwayTemplate.territory_id == team.territory_id)
        )
    }
    result = []
    for data in TEMPLATES:
        template = existing.get(data["title"])
        if template is None:
            template = services.create_template(
                coordinator, parse_content(data), territory=team.territory
            )
            services.publish_template(coordinator, template)
        result.append(template)
    return result


def _mark_first_step_done(coordinator: User, plan: CarePlan, keys: list[str]) -> None:
    content = load_content(plan.draft)
    for _, action in content.actions():
        if action.key in keys:
            action.status = ActionStatus.DONE
    ctx = AuditContext(actor_id=coordinator.id, actor_label="demo")
    plan_services.save_draft(coordinator, plan, content, plan.draft_revision, ctx)


def load_pathways_demo(team_ids: list[int]) -> int:
    """Create the three territory templates and start them on patients; return how many
    pathways were started (0 when the demo already has them)."""
    if not team_ids:
        return 0
    team = db.session.get(CareTeam, team_ids[0])
    coordinator = _coordinator(team_ids[0])
    if team is None or coordinator is None:
        return 0
    templates = _templates(coordinator, team)
    followed = sa.select(PatientPathway.id).where(
        PatientPathway.template_id.in_([t.id for t in templates])
    )
    if db.session.scalar(followed.limit(1)) is not None:
        return 0  # a second `ptap demo` adds nothing
    plans = db.session.scalars(
        sa.select(CarePlan)
        .join(Patient, Patient.id == CarePlan.patient_id)
        .where(CarePlan.status != PlanStatus.CLOSED)
        .order_by(CarePlan.id)
        .limit(40)
    ).all()
    ctx = AuditContext(actor_id=coordinator.id, actor_label="demo")
    today = clock.paris_today()
    started = 0
    pending = list(zip(templates, STARTED_DAYS_AGO, strict=True))
    for plan in plans:
        if not pending:
            break
        template, days = pending[0]
        patient = db.session.get(Patient, plan.patient_id)
        assert patient is not None  # noqa: S101 - plan rows have their patient
        try:
            with db.session.begin_nested():
                pathway = services.start_pathway(
                    coordinator, patient, template, today - timedelta(days=days), ctx
                )
                if days >= 30:
                    _mark_first_step_done(coordinator, plan, pathway.steps[0]["action_keys"])
        except DomainError:
            continue  # not this coordinator's patient, or already following it
        pending.pop(0)
        started += 1
    db.session.flush()
    return started
