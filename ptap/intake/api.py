"""JSON API of request intake: CRUD of requests, triage, answer, evaluation, closure,
conversion to an enrolment, and team targets.

Routes declare `requests.list` (clinicians; admins and ARS analysts get 403); the request is
then loaded through need-to-know: another team's request answers 404, like a missing one.
There is no DELETE: a request registered by mistake is closed as a duplicate or withdrawn,
since every request counts in the activity reported to the ARS.
"""

from __future__ import annotations

import dataclasses

from flask import request
from flask_login import current_user

from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams.api import duplicate_ins_problem
from ptap.care_teams.models import CareTeam, Patient
from ptap.care_teams.services import DuplicateIns
from ptap.core import clock
from ptap.core.api import api_route, fields_under, paginate_by_id
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import can
from ptap.extensions import db
from ptap.intake import queries, services
from ptap.intake.models import REQUEST_STATUS_LABELS, SupportRequest
from ptap.intake.requestclocks import is_late
from ptap.intake.schemas import (
    AnswerIn,
    CloseIn,
    ConvertIn,
    ConvertOut,
    EvaluationIn,
    RequestCreate,
    RequestOut,
    RequestPatch,
    TargetsIn,
    TargetsOut,
    TriageIn,
)

TAGS = ("Demandes",)
_IDENTITY_FIELDS = {
    f: f"identity.{f}"
    for f in (
        *("birth_name", "first_names", "birth_date", "sex", "birthplace_code", "used_name"),
        *("used_first_name", "ins_matricule", "ins_oid", "identity_status"),
        "identity_check_method",
    )
}


def _out(req: SupportRequest) -> RequestOut:
    note_patients_shown([req.patient_id])  # the answer names the linked patient (audited)
    now = clock.now()
    return RequestOut.of(req, queries.clocks_of([req], now)[req.id], is_late(req, now))


def _load(request_id: int) -> SupportRequest:
    return queries.get_request(current_user, request_id)


def _team(team_id: int) -> CareTeam:
    team = db.session.get(CareTeam, team_id)
    if team is None or not can(current_user, "request.register", team):
        raise NotFound("Équipe introuvable.", field="team_id")
    return team


def _criteria() -> queries.RequestFilter:
    status = request.args.get("status", "open")
    if status not in ("open", "all", *REQUEST_STATUS_LABELS):
        raise InvalidInput(
            "status : open, all, received, triaged, answered, closed ou converted.", field="status"
        )
    raw_team = request.args.get("team_id", "")
    if raw_team and not (raw_team.isascii() and raw_team.isdecimal() and len(raw_team) < 10):
        raise InvalidInput("team_id doit être un identifiant d'équipe.", field="team_id")
    late = request.args.get("late", "")
    if late not in ("", "0", "1", "true", "false"):
        raise InvalidInput("late : true ou false.", field="late")
    return queries.RequestFilter(
        team_id=int(raw_team) if raw_team else None,
        status=status,
        late_only=late in ("1", "true"),
    )


@api_route(
    "/requests",
    summary="Les demandes (sollicitations) de mes équipes, les plus récentes d'abord, "
    "avec leurs délais",
    access="requests.list",
    response=RequestOut,
    paginated=True,
    tags=TAGS,
    query=(
        ("status", "open (défaut : reçues, qualifiées, répondues), all, ou un statut"),
        ("team_id", "Une de mes équipes"),
        ("late", "true : seulement celles dont la première réponse est en retard"),
    ),
)
@shows_patients("support requests")
def list_requests():
    now = clock.now()
    page = paginate_by_id(
        queries.requests_query(current_user, _criteria(), now), SupportRequest.id, descending=True
    )
    note_patients_shown(r.patient_id for r in page.items)
    clocks = queries.clocks_of(page.items, now)
    items = [RequestOut.of(r, clocks[r.id], is_late(r, now)) for r in page.items]
    return dataclasses.replace(page, items=items)


@api_route(
    "/requests",
    "POST",
    summary="Enregistrer une demande reçue par une de mes équipes (ses délais suivent les "
    "cibles de l'équipe, en jours ouvrés)",
    access="requests.list",
    body=RequestCreate,
    response=RequestOut,
    status=201,
    tags=TAGS,
)
def create_request(body: RequestCreate):
    req = services.register_request(
        current_user, _team(body.team_id), body.to_data(), request_context()
    )
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>",
    summary="Une demande et ses délais",
    access="requests.list",
    response=RequestOut,
    tags=TAGS,
)
@shows_patients("support request")
def get_request(request_id: int):
    req = _load(request_id)
    note_patients_shown([req.patient_id])
    return _out(req)


@api_route(
    "/requests/<int:request_id>",
    "PATCH",
    summary="Corriger une demande ouverte (membres de l'équipe) : seuls les champs envoyés "
    "changent ; une nouvelle date de réception recalcule les délais",
    access="requests.list",
    body=RequestPatch,
    response=RequestOut,
    tags=TAGS,
)
def update_request(request_id: int, body: RequestPatch):
    req = _load(request_id)
    # The patch applies to the request as locked by the service (not as read here).
    services.update_request(current_user, req, body.apply, request_context())
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>/triage",
    "POST",
    summary="Qualifier la demande : information, orientation ou appui à la coordination "
    "(coordinateurs de l'équipe)",
    access="requests.list",
    body=TriageIn,
    response=RequestOut,
    tags=TAGS,
)
def triage_request(request_id: int, body: TriageIn):
    req = _load(request_id)
    services.triage_request(
        current_user,
        req,
        body.mission_type,
        request_context(),
        urgent=body.urgent,
        assigned_to_id=body.assigned_to_id,
    )
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>/answer",
    "POST",
    summary="Enregistrer la réponse apportée au demandeur (arrête le délai de première réponse)",
    access="requests.list",
    body=AnswerIn,
    response=RequestOut,
    tags=TAGS,
)
def answer_request(request_id: int, body: AnswerIn):
    req = _load(request_id)
    with fields_under({"answer_note": "note"}):
        services.answer_request(
            current_user, req, body.note, request_context(), answered_at=body.answered_at
        )
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>/evaluation",
    "POST",
    summary="Enregistrer l'évaluation de la situation (coordinateurs ; arrête le délai "
    "d'évaluation)",
    access="requests.list",
    body=EvaluationIn,
    response=RequestOut,
    tags=TAGS,
)
def evaluate_request(request_id: int, body: EvaluationIn):
    req = _load(request_id)
    services.record_evaluation(current_user, req, request_context(), evaluated_at=body.evaluated_at)
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>/close",
    "POST",
    summary="Clôturer la demande avec son issue (coordinateurs)",
    access="requests.list",
    body=CloseIn,
    response=RequestOut,
    tags=TAGS,
)
def close_request(request_id: int, body: CloseIn):
    req = _load(request_id)
    with fields_under({"outcome_note": "note"}):
        services.close_request(current_user, req, body.outcome, body.note, request_context())
    db.session.commit()
    return _out(req)


@api_route(
    "/requests/<int:request_id>/convert",
    "POST",
    summary="Inclure la personne dans la file active de l'équipe (coordinateurs) : dossier "
    "existant, retrouvé par son INS, ou créé ; la demande est liée à l'inscription",
    access="requests.list",
    body=ConvertIn,
    response=ConvertOut,
    status=201,
    tags=TAGS,
)
def convert_request(request_id: int, body: ConvertIn):
    req = _load(request_id)
    patient = None
    if body.patient_id is not None:
        patient = db.session.get(Patient, body.patient_id)
        if patient is None or not can(current_user, "patient.read", patient):
            raise InvalidInput("Fiche patient introuvable.", field="patient_id")
    try:
        with fields_under(_IDENTITY_FIELDS):
            enrolment = services.convert_to_enrolment(
                current_user,
                req,
                request_context(),
                identity=body.identity.to_identity() if body.identity else None,
                patient=patient,
            )
    except DuplicateIns as exc:
        return duplicate_ins_problem(exc)
    db.session.commit()
    return ConvertOut(enrolment_id=enrolment.id, patient_id=enrolment.patient_id, request=_out(req))


def _targets_out(team: CareTeam) -> TargetsOut:
    targets = queries.get_targets(team.id)
    return TargetsOut(team_id=team.id, **dataclasses.asdict(targets))


@api_route(
    "/teams/<int:team_id>/intake-targets",
    summary="Les délais cibles de l'équipe (valeurs par défaut si elle n'en a pas fixé)",
    access="requests.list",
    response=TargetsOut,
    tags=TAGS,
)
def get_targets(team_id: int):
    return _targets_out(_team(team_id))


@api_route(
    "/teams/<int:team_id>/intake-targets",
    "PUT",
    summary="Fixer les délais cibles de l'équipe (coordinateurs) ; ils valent pour les "
    "demandes reçues ensuite",
    access="requests.list",
    body=TargetsIn,
    response=TargetsOut,
    tags=TAGS,
)
def set_targets(team_id: int, body: TargetsIn):
    team = _team(team_id)
    services.set_intake_targets(current_user, team, body.to_targets(), request_context())
    db.session.commit()
    return _targets_out(team)
