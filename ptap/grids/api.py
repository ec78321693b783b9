"""JSON API of assessment grids (/grids) and assessments (/patients/{id}/assessments,
/assessments/{id}).

Grids hold no patient data: clinicians read them, coordinators write them. Assessments are
loaded through their patient's record (audited); an outsider gets the same 404 as for an
unknown patient.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask_login import current_user

from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.api import Page, api_route, paginate_by_id
from ptap.core.errors import InvalidInput
from ptap.extensions import db
from ptap.grids import fhir, present, queries, services
from ptap.grids.models import Assessment, AssessmentGrid
from ptap.grids.schemas import (
    AssessmentCreate,
    AssessmentImport,
    AssessmentImportOut,
    AssessmentOut,
    AssessmentSave,
    GridImport,
    GridImportOut,
    GridIn,
    GridOut,
    GridUpdate,
)

GRIDS = ("Grilles d'évaluation",)
ASSESSMENTS = ("Évaluations",)


def _grid_out(grid: AssessmentGrid) -> GridOut:
    return GridOut.of(grid, queries.find_current_version(grid))


@api_route(
    "/grids",
    summary="Les grilles d'évaluation (brouillons, publiées, retirées)",
    access="grids.list",
    response=GridOut,
    paginated=True,
    tags=GRIDS,
)
def list_grids():
    page = paginate_by_id(db.select(AssessmentGrid), AssessmentGrid.id)
    return Page([_grid_out(g) for g in page.items], page.next_cursor, page.limit)


@api_route(
    "/grids",
    "POST",
    summary="Créer une grille (brouillon) ; les références du score sont vérifiées (coordinateurs)",
    access="grids.manage",
    body=GridIn,
    response=GridOut,
    status=201,
    tags=GRIDS,
)
def create_grid(body: GridIn):
    grid = services.create_grid(current_user, body.key, body.definition, request_context())
    db.session.commit()
    return _grid_out(grid)


@api_route(
    "/grids/import",
    "POST",
    summary="Importer un questionnaire FHIR R4 comme grille (brouillon) ; dry_run montre ce "
    "qui sera créé ; ce que PTAP ne sait pas représenter est refusé avec sa raison",
    access="grids.manage",
    body=GridImport,
    response=GridImportOut,
    status=201,
    tags=GRIDS,
)
def import_grid(body: GridImport):
    plan = fhir.parse_questionnaire(body.resource, body.key)
    created = None
    if not body.dry_run:
        created = services.import_grid(current_user, body.resource, body.key, request_context())
        db.session.commit()
    return present.import_summary(plan, created.id if created else None)


@api_route(
    "/grids/<int:grid_id>",
    summary="Une grille : sa définition de travail et sa version en vigueur",
    access="grids.list",
    response=GridOut,
    tags=GRIDS,
)
def get_grid(grid_id: int):
    return _grid_out(queries.get_grid(grid_id))


@api_route(
    "/grids/<int:grid_id>",
    "PUT",
    summary="Remplacer la définition de travail d'une grille (coordinateurs)",
    access="grids.manage",
    body=GridUpdate,
    response=GridOut,
    tags=GRIDS,
)
def update_grid(grid_id: int, body: GridUpdate):
    grid = queries.get_grid(grid_id)
    services.save_grid_draft(current_user, grid, body.definition, request_context())
    db.session.commit()
    return _grid_out(grid)


@api_route(
    "/grids/<int:grid_id>/publish",
    "POST",
    summary="Publier la définition de travail comme nouvelle version (immuable ; rien si "
    "inchangée)",
    access="grids.manage",
    response=GridOut,
    tags=GRIDS,
)
def publish_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    services.publish_grid(current_user, grid, request_context())
    db.session.commit()
    return _grid_out(grid)


@api_route(
    "/grids/<int:grid_id>/retire",
    "POST",
    summary="Retirer une grille : plus de nouvelle évaluation ; les anciennes gardent leur version",
    access="grids.manage",
    response=GridOut,
    tags=GRIDS,
)
def retire_grid(grid_id: int):
    grid = queries.get_grid(grid_id)
    services.retire_grid(current_user, grid, request_context())
    db.session.commit()
    return _grid_out(grid)


@api_route(
    "/grids/<int:grid_id>/fhir",
    summary="La version en vigueur (ou le brouillon) d'une grille en FHIR R4 Questionnaire",
    access="grids.list",
    tags=GRIDS,
)
def grid_fhir(grid_id: int):
    grid = queries.get_grid(grid_id)
    return _fhir_json(present.grid_questionnaire(grid))


def _fhir_json(resource: dict) -> Response:
    response = jsonify(resource)
    response.mimetype = "application/fhir+json"
    return response


# --- assessments ---------------------------------------------------------------------------


def _load_assessment(assessment_id: int, action: str = "patient.read"):
    assessment = queries.get_assessment(assessment_id)
    patient = load_patient(assessment.patient_id, action, what="assessments")
    return assessment, patient


@api_route(
    "/patients/<int:patient_id>/assessments",
    summary="Les évaluations d'un patient, les plus récentes d'abord (accès tracé)",
    access="assessments.list",
    response=AssessmentOut,
    paginated=True,
    tags=ASSESSMENTS,
)
def list_assessments(patient_id: int):
    patient = load_patient(patient_id, what="assessments")
    db.session.commit()  # keep the audited read
    stmt = db.select(Assessment).where(Assessment.patient_id == patient.id)
    page = paginate_by_id(stmt, Assessment.id, descending=True)
    return Page(
        [AssessmentOut.of(a, current_user.id) for a in page.items], page.next_cursor, page.limit
    )


@api_route(
    "/patients/<int:patient_id>/assessments",
    "POST",
    summary="Commencer une évaluation du patient avec une grille publiée (professionnels des "
    "équipes qui le suivent)",
    access="assessments.list",
    body=AssessmentCreate,
    response=AssessmentOut,
    status=201,
    tags=ASSESSMENTS,
)
def create_assessment(patient_id: int, body: AssessmentCreate):
    patient = load_patient(patient_id, "assessments.fill")
    grid = queries.find_grid_by_key(body.grid_key)
    if grid is None:
        raise InvalidInput("Grille introuvable.", field="grid_key")
    assessment = services.start_assessment(current_user, patient, grid, request_context())
    db.session.commit()
    return AssessmentOut.of(assessment, current_user.id)


@api_route(
    "/patients/<int:patient_id>/assessments/import",
    "POST",
    summary="Importer une évaluation remplie (FHIR R4 QuestionnaireResponse) comme brouillon "
    "du professionnel qui importe, à relire et signer ; dry_run montre ce qui sera créé ; "
    "grille inconnue ou retirée, version non publiée, réponse inconnue ou mal typée, autre "
    "patient : refusés (422)",
    access="assessments.list",
    body=AssessmentImport,
    response=AssessmentImportOut,
    status=201,
    tags=ASSESSMENTS,
)
def import_assessment(patient_id: int, body: AssessmentImport):
    patient = load_patient(patient_id, "assessments.fill")
    plan = services.plan_assessment_import(current_user, patient, body.resource)
    created = None
    if not body.dry_run:
        created = services.import_assessment(current_user, patient, plan, request_context())
        db.session.commit()
    return present.assessment_import_summary(plan, created.id if created else None)


@api_route(
    "/assessments/<int:assessment_id>",
    summary="Une évaluation : réponses, score, seuil (accès tracé)",
    access="assessments.list",
    response=AssessmentOut,
    tags=ASSESSMENTS,
)
def get_assessment(assessment_id: int):
    assessment, _ = _load_assessment(assessment_id)
    db.session.commit()
    return AssessmentOut.of(assessment, current_user.id)


@api_route(
    "/assessments/<int:assessment_id>",
    "PATCH",
    summary="Enregistrer les réponses d'une évaluation en brouillon (son auteur ; conflit si "
    "la révision a changé)",
    access="assessments.list",
    body=AssessmentSave,
    response=AssessmentOut,
    tags=ASSESSMENTS,
)
def save_assessment(assessment_id: int, body: AssessmentSave):
    assessment, patient = _load_assessment(assessment_id, "assessments.fill")
    services.save_assessment(
        current_user, assessment, patient, body.answers, body.revision, request_context()
    )
    db.session.commit()
    return AssessmentOut.of(assessment, current_user.id)


@api_route(
    "/assessments/<int:assessment_id>/sign",
    "POST",
    summary="Signer une évaluation complète (son auteur) : elle ne change plus ; un score "
    "au-delà d'un seuil d'alerte prévient les coordinateurs",
    access="assessments.list",
    response=AssessmentOut,
    tags=ASSESSMENTS,
)
def sign_assessment(assessment_id: int):
    assessment, patient = _load_assessment(assessment_id, "assessments.fill")
    services.sign_assessment(current_user, assessment, patient, request_context())
    db.session.commit()
    return AssessmentOut.of(assessment, current_user.id)


@api_route(
    "/assessments/<int:assessment_id>/fhir",
    summary="Une évaluation en FHIR R4 QuestionnaireResponse (accès tracé)",
    access="assessments.list",
    tags=ASSESSMENTS,
)
def assessment_fhir(assessment_id: int):
    assessment, _ = _load_assessment(assessment_id)
    db.session.commit()
    return _fhir_json(present.assessment_response(assessment))
