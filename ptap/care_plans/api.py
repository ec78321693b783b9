"""JSON API of care plans: the patient's PPCS, its draft, versions, approvals and lifecycle.

Like the care-teams API, every route declares `patients.list` (clinicians only: admins and
ARS analysts get 403) and loads the plan through `load_plan`, which answers 404 to anyone
outside the patient's circle (audited) and 403 to someone who sees the patient but may not
perform the action. The services check the permission again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import jsonify, make_response, request
from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_plans import queries, services
from ptap.care_plans.loaders import load_plan
from ptap.care_plans.models import ApprovalKind, CarePlan
from ptap.care_plans.schemas import (
    ApprovalCreate,
    ApprovalOut,
    DraftOut,
    DraftUpdate,
    PlanClose,
    PlanCreate,
    PlanOut,
    TaskOut,
    VersionCreate,
    VersionList,
    VersionOut,
    VersionSummaryOut,
)
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import Enrolment
from ptap.care_teams.schemas import PersonRef
from ptap.core import clock
from ptap.core.api import Page, api_route, fields_under, page_limit, problem
from ptap.core.errors import InvalidInput
from ptap.extensions import db

PLANS = ("Plans de coordination",)
BASE = "/patients/<int:patient_id>/care-plan"
NOTHING_CHANGED = "Le brouillon est identique à la version en cours : aucune version créée."
APPROVAL_ACTIONS = {
    ApprovalKind.GP_VALIDATION: "care_plan.validate",
    ApprovalKind.PATIENT_AGREEMENT: "care_plan.record_agreement",
}
# Services name the fields of the content; the problem must name the body's path.
DRAFT_FIELDS = {"next_review_on": "content.next_review_on"}


@contextmanager
def _fields_under(paths: dict[str, str]) -> Iterator[None]:
    """Name the body's path in a domain error, an invalid assignee's among the content's."""
    try:
        with fields_under(paths):
            yield
    except services.InvalidAssignee as exc:
        exc.field = f"content.{exc.path}"
        raise


def _names(*user_ids: int | None) -> dict[int, str]:
    return team_queries.user_names([uid for uid in user_ids if uid is not None])


def _plan_out(plan: CarePlan) -> PlanOut:
    version = plan.current_version
    approvals = queries.approvals(version.id) if version else []
    return PlanOut.of(plan, approvals, _names(plan.draft_updated_by_id))


def _conflict_problem(plan: CarePlan, exc: services.DraftConflict):
    """Answer 409 with the draft saved meanwhile, so the author can compare and merge."""
    author = plan.draft_updated_by_id
    theirs = DraftOut(
        revision=exc.revision,
        content=exc.theirs,
        updated_by=PersonRef(id=author, name=exc.by) if author is not None else None,
        updated_at=exc.at,
    ).model_dump(mode="json")
    # The other's content was shown: the read audited by load_plan is kept.
    db.session.commit()
    return problem(409, "Conflit", exc.message, field=exc.field, extra={"draft": theirs})


@api_route(
    BASE,
    summary="Le plan personnalisé de coordination en santé (PPCS) de la personne : statut, "
    "version en cours et ses approbations, brouillon (accès tracé)",
    access="patients.list",
    response=PlanOut,
    tags=PLANS,
)
def get_care_plan(patient_id: int):
    plan = load_plan(patient_id)
    db.session.commit()  # the read is audited even if what follows fails
    return _plan_out(plan)


@api_route(
    BASE,
    "POST",
    summary="Ouvrir le plan de la personne pour un de ses suivis en cours (enrolment_id "
    "facultatif si elle n'en a qu'un) ; son auteur en devient le responsable",
    access="patients.list",
    body=PlanCreate,
    response=PlanOut,
    status=201,
    tags=PLANS,
)
def create_care_plan(patient_id: int, body: PlanCreate):
    patient = load_patient(patient_id, what="care_plan")
    enrolments = team_queries.active_enrolments(patient.id)
    if body.enrolment_id is not None:
        enrolments = [e for e in enrolments if e.id == body.enrolment_id]
        if not enrolments:
            raise InvalidInput("Aucun suivi en cours de ce numéro.", field="enrolment_id")
    if len(enrolments) != 1:
        raise InvalidInput(
            "La personne n'est suivie par aucune équipe."
            if not enrolments
            else "La personne a plusieurs suivis en cours : précisez enrolment_id.",
            field="enrolment_id",
        )
    enrolment: Enrolment = enrolments[0]
    plan = services.create_plan(current_user._get_current_object(), enrolment, request_context())
    db.session.commit()
    return _plan_out(plan)


@api_route(
    f"{BASE}/draft",
    "PUT",
    summary="Enregistrer le brouillon en entier, sur la base de la révision lue (409 avec le "
    "brouillon enregistré entre-temps, sa révision et son auteur, si elle a changé)",
    access="patients.list",
    body=DraftUpdate,
    response=PlanOut,
    tags=PLANS,
)
def save_care_plan_draft(patient_id: int, body: DraftUpdate):
    plan = load_plan(patient_id, "care_plan.edit")
    try:
        with _fields_under(DRAFT_FIELDS):
            services.save_draft(
                current_user._get_current_object(),
                plan,
                body.content,
                body.base_revision,
                request_context(),
            )
    except services.DraftConflict as exc:
        return _conflict_problem(plan, exc)
    db.session.commit()
    return _plan_out(plan)


def _version_out(plan: CarePlan, number: int) -> VersionOut:
    version = queries.get_version(plan.id, number)
    return VersionOut.of(
        version, _names(version.created_by_id)[version.created_by_id], queries.approvals(version.id)
    )


@api_route(
    f"{BASE}/versions",
    summary="Les versions publiées du plan, de la plus récente à la plus ancienne, avec leurs "
    "approbations (accès tracé)",
    access="patients.list",
    response=VersionList,
    tags=PLANS,
)
def list_care_plan_versions(patient_id: int):
    plan = load_plan(patient_id)
    db.session.commit()
    versions = queries.list_versions(plan.id)
    approvals = queries.approvals_by_version([version.id for version, _ in versions])
    return VersionList(
        items=[
            VersionSummaryOut.of(version, name, approvals.get(version.id, []))
            for version, name in versions
        ]
    )


@api_route(
    f"{BASE}/versions",
    "POST",
    summary="Publier le brouillon comme nouvelle version immuable (201). Si le brouillon est "
    'identique à la version en cours, rien n\'est créé : 200 {"published": false, '
    '"reason": "..."}. Plan en vigueur : seul le suivi des actions (statuts) se publie',
    access="patients.list",
    body=VersionCreate,
    response=VersionOut,
    status=201,
    tags=PLANS,
)
def publish_care_plan_version(patient_id: int, body: VersionCreate):
    plan = load_plan(patient_id, "care_plan.publish")
    with _fields_under({"next_review_on": "draft.content.next_review_on"}):
        version = services.publish_version(
            current_user._get_current_object(),
            plan,
            body.change_summary,
            request_context(),
            complete_actions=True,
        )
    db.session.commit()
    if version is None:
        return make_response(jsonify({"published": False, "reason": NOTHING_CHANGED}), 200)
    return _version_out(plan, version.number)


@api_route(
    f"{BASE}/versions/<int:number>",
    summary="Une version publiée : son contenu (immuable) et ses métadonnées (accès tracé)",
    access="patients.list",
    response=VersionOut,
    tags=PLANS,
)
def get_care_plan_version(patient_id: int, number: int):
    plan = load_plan(patient_id)
    db.session.commit()
    return _version_out(plan, number)


@api_route(
    f"{BASE}/approvals",
    "POST",
    summary="Enregistrer, pour la version en cours, la validation du médecin (un médecin du "
    "cercle) ou l'accord de la personne (ses coordinateurs) : qui, quand, comment",
    access="patients.list",
    body=ApprovalCreate,
    response=ApprovalOut,
    status=201,
    tags=PLANS,
)
def record_care_plan_approval(patient_id: int, body: ApprovalCreate):
    user = current_user._get_current_object()
    plan = load_plan(patient_id, APPROVAL_ACTIONS[body.kind])
    approval = services.record_approval(
        user, plan, body.kind, body.method, body.note, request_context()
    )
    db.session.commit()
    return ApprovalOut.of(approval, user.full_name)


@api_route(
    f"{BASE}/activate",
    "POST",
    summary="Mettre en vigueur le plan validé par le médecin, avec l'accord de la personne "
    "sur la version en cours",
    access="patients.list",
    response=PlanOut,
    tags=PLANS,
)
def activate_care_plan(patient_id: int):
    plan = load_plan(patient_id, "care_plan.publish")
    services.activate_plan(current_user._get_current_object(), plan, request_context())
    db.session.commit()
    return _plan_out(plan)


@api_route(
    f"{BASE}/revise",
    "POST",
    summary="Passer en révision un plan en vigueur : sa prochaine version devra être validée "
    "et acceptée à nouveau",
    access="patients.list",
    response=PlanOut,
    tags=PLANS,
)
def revise_care_plan(patient_id: int):
    plan = load_plan(patient_id, "care_plan.publish")
    services.start_revision(current_user._get_current_object(), plan, request_context())
    db.session.commit()
    return _plan_out(plan)


@api_route(
    f"{BASE}/close",
    "POST",
    summary="Clore le plan avec un motif : il n'est plus modifiable et ses actions quittent "
    "les listes de tâches",
    access="patients.list",
    body=PlanClose,
    response=PlanOut,
    tags=PLANS,
)
def close_care_plan(patient_id: int, body: PlanClose):
    plan = load_plan(patient_id, "care_plan.publish")
    with _fields_under({"close_reason": "reason"}):
        services.close_plan(
            current_user._get_current_object(), plan, body.reason, request_context()
        )
    db.session.commit()
    return _plan_out(plan)


@api_route(
    "/tasks",
    summary="Mes actions ouvertes dans les plans des personnes que je suis : en retard "
    "d'abord, puis par échéance",
    access="tasks.list",
    response=TaskOut,
    paginated=True,
    tags=PLANS,
)
@shows_patients("task list")
def list_my_tasks():
    page = queries.my_tasks(
        current_user.id,
        today=clock.paris_today(),
        limit=page_limit(),
        cursor=request.args.get("cursor"),
    )
    note_patients_shown(row.patient_id for row in page.items)
    return Page([TaskOut.of(row) for row in page.items], page.next_cursor, page.limit)
