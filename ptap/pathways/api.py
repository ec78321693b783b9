"""JSON API of pathway templates (/pathway-templates) and patients' pathways.

Templates are a team's or a territory's: members of the owning team(s) read them, their
coordinators write them; a template the user may not read is unknown (404). Patients' pathways
are read through the patient's record (audited) and started or stopped by the circle.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import request
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.core import clock
from ptap.core.api import Page, api_route, paginate_by_id
from ptap.extensions import db
from ptap.pathways import queries, services
from ptap.pathways.content import parse_content
from ptap.pathways.fhir import export_plan_definition
from ptap.pathways.loaders import require_plan_editor
from ptap.pathways.models import PathwayTemplate
from ptap.pathways.schemas import (
    FhirImport,
    ImportPreview,
    PathwayOut,
    PathwayStart,
    PathwayStop,
    TemplateIn,
    TemplateOut,
    TemplateUpdate,
)

TEMPLATES = ("Modèles de parcours",)
PATHWAYS = ("Parcours des patients",)


@api_route(
    "/pathway-templates",
    summary="La bibliothèque de modèles de parcours de mes équipes et de leurs territoires "
    "(q : un mot du thème ou du titre)",
    access="pathway_templates.list",
    response=TemplateOut,
    paginated=True,
    tags=TEMPLATES,
    query=(("q", "Un mot du thème ou du titre"),),
)
def list_pathway_templates():
    stmt = queries.visible_templates(current_user.id)
    words = request.args.get("q", "").strip().lower()[:100]
    if words:
        like = f"%{words}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(PathwayTemplate.theme).like(like),
                sa.func.lower(PathwayTemplate.title).like(like),
            )
        )
    page = paginate_by_id(stmt, PathwayTemplate.id)
    return Page([TemplateOut.of(t) for t in page.items], page.next_cursor, page.limit)


@api_route(
    "/pathway-templates",
    "POST",
    summary="Créer un modèle de parcours (brouillon) d'une équipe ou d'un territoire "
    "(coordinateurs)",
    access="pathway_templates.list",
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    tags=TEMPLATES,
)
def create_pathway_template(body: TemplateIn):
    team, territory = services.resolve_owner(body.team_id, body.territory_id)
    content = parse_content(body.content)
    template = services.create_template(
        current_user, content, team=team, territory=territory, ctx=request_context()
    )
    db.session.commit()
    return TemplateOut.of(template)


@api_route(
    "/pathway-templates/<int:template_id>",
    summary="Un modèle de parcours et son brouillon",
    access="pathway_templates.list",
    response=TemplateOut,
    tags=TEMPLATES,
)
def get_pathway_template(template_id: int):
    return TemplateOut.of(queries.get_readable_template(current_user, template_id))


@api_route(
    "/pathway-templates/<int:template_id>",
    "PUT",
    summary="Remplacer le brouillon d'un modèle (les versions publiées ne changent jamais)",
    access="pathway_templates.list",
    body=TemplateUpdate,
    response=TemplateOut,
    tags=TEMPLATES,
)
def update_pathway_template(template_id: int, body: TemplateUpdate):
    template = queries.get_readable_template(current_user, template_id)
    services.save_template_draft(current_user, template, parse_content(body.content))
    db.session.commit()
    return TemplateOut.of(template)


@api_route(
    "/pathway-templates/<int:template_id>/publish",
    "POST",
    summary="Publier le brouillon comme nouvelle version, non modifiable (rien si inchangé)",
    access="pathway_templates.list",
    response=TemplateOut,
    tags=TEMPLATES,
)
def publish_pathway_template(template_id: int):
    template = queries.get_readable_template(current_user, template_id)
    services.publish_template(current_user, template, request_context())
    db.session.commit()
    return TemplateOut.of(template)


@api_route(
    "/pathway-templates/<int:template_id>/retire",
    "POST",
    summary="Retirer un modèle : aucun nouveau parcours ne part de lui",
    access="pathway_templates.list",
    response=TemplateOut,
    tags=TEMPLATES,
)
def retire_pathway_template(template_id: int):
    template = queries.get_readable_template(current_user, template_id)
    services.retire_template(current_user, template, request_context())
    db.session.commit()
    return TemplateOut.of(template)


@api_route(
    "/pathway-templates/<int:template_id>/fhir",
    summary="Le modèle en FHIR R4 PlanDefinition (ActivityDefinition contenues) : la version "
    "publiée, ou le brouillon s'il n'y en a pas",
    access="pathway_templates.list",
    tags=TEMPLATES,
)
def export_pathway_template_fhir(template_id: int):
    template = queries.get_readable_template(current_user, template_id)
    current = template.current_version
    content = parse_content(current.content if current else template.draft)
    return export_plan_definition(
        content, status=template.status, version=current.number if current else None
    )


@api_route(
    "/pathway-templates/fhir-import",
    "POST",
    summary="Importer une PlanDefinition FHIR R4 comme modèle brouillon (dry_run : aperçu) ; "
    "refusée entière, avec la raison, si PTAP ne sait pas la représenter",
    access="pathway_templates.list",
    body=FhirImport,
    response=ImportPreview,
    status=201,
    tags=TEMPLATES,
)
def import_pathway_template_fhir(body: FhirImport):
    team, territory = services.resolve_owner(body.team_id, body.territory_id)
    if body.dry_run:
        content = services.import_plan_definition(body.resource)
        return ImportPreview(template=None, content=content.model_dump(mode="json"))
    template = services.import_template(
        current_user, body.resource, team=team, territory=territory, ctx=request_context()
    )
    db.session.commit()
    return ImportPreview(template=TemplateOut.of(template), content=template.draft)


@api_route(
    "/patients/<int:patient_id>/pathways",
    summary="Les parcours d'un patient et leurs étapes (faite, à venir, en retard, arrêtée) "
    "(accès tracé)",
    access="patients.list",
    response=PathwayOut,
    paginated=True,
    tags=PATHWAYS,
)
def list_patient_pathways(patient_id: int):
    patient = load_patient(patient_id, what="pathways")
    db.session.commit()
    rows = queries.list_patient_pathways(patient.id, clock.paris_today())
    return Page([PathwayOut.of(r) for r in rows], None, len(rows))


@api_route(
    "/patients/<int:patient_id>/pathways",
    "POST",
    summary="Démarrer un parcours : le brouillon du PPCS est prérempli (intervenants par "
    "profession, échéances depuis la date de début)",
    access="patients.list",
    body=PathwayStart,
    response=PathwayOut,
    status=201,
    tags=PATHWAYS,
)
def start_patient_pathway(patient_id: int, body: PathwayStart):
    patient = load_patient(patient_id, what="pathways")
    require_plan_editor(patient, "pathway.start")
    template = queries.get_readable_template(current_user, body.template_id)
    pathway = services.start_pathway(
        current_user, patient, template, body.started_on, request_context()
    )
    db.session.commit()
    return _pathway_out(patient.id, pathway.id)


@api_route(
    "/patients/<int:patient_id>/pathways/<int:pathway_id>/stop",
    "POST",
    summary="Arrêter un parcours ; ses actions en cours sont conservées ou annulées",
    access="patients.list",
    body=PathwayStop,
    response=PathwayOut,
    tags=PATHWAYS,
)
def stop_patient_pathway(patient_id: int, pathway_id: int, body: PathwayStop):
    patient = load_patient(patient_id, what="pathways")
    require_plan_editor(patient, "pathway.stop")
    pathway = queries.get_patient_pathway(patient.id, pathway_id)
    services.stop_pathway(current_user, pathway, body.open_actions, body.reason, request_context())
    db.session.commit()
    return _pathway_out(patient.id, pathway.id)


def _pathway_out(patient_id: int, pathway_id: int) -> PathwayOut:
    rows = queries.list_patient_pathways(patient_id, clock.paris_today())
    return PathwayOut.of(next(r for r in rows if r.id == pathway_id))
