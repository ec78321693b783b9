"""Support requests: register, triage, answer, evaluate, close, convert to an enrolment.

Services flush and never commit; they check permissions with the policy, write an audit event
and queue `support_request_changed` for after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access
from ptap.care_teams.identity import IdentityData
from ptap.care_teams.models import (
    CareTeam,
    Enrolment,
    Patient,
    ProblemCategory,
    RequesterKind,
)
from ptap.care_teams.services import EnrolmentRequest, create_patient, enrol_patient
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.policy import can, require
from ptap.core.signals import send_after_commit, support_request_changed
from ptap.extensions import db
from ptap.intake.clocks import IntakeTargets, deadlines
from ptap.intake.models import (
    CLOSING_OUTCOMES,
    MissionType,
    RequestChannel,
    RequestOutcome,
    RequestStatus,
    SupportRequest,
    TeamIntakeTargets,
)
from ptap.intake.queries import find_patient_by_ins, get_targets
from ptap.intake.requestclocks import targets_of

#: A reception time may be a little ahead of the server's clock (a phone's clock), no more.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Requests are recorded as they come or soon after: older entries are typing mistakes.
MAX_BACKDATING = timedelta(days=366)
MAX_TARGET_DAYS = 365


@dataclass(frozen=True)
class RequestData:
    """What a coordinator records when a request arrives (or corrects afterwards)."""

    received_at: datetime
    requester_kind: str
    channel: str
    requester_name: str = ""
    requester_contact: str = ""
    person_summary: str = ""
    problem_categories: tuple[str, ...] = ()
    urgent: bool = False
    #: The person's record, when the team already follows them.
    patient_id: int | None = None
    assigned_to_id: int | None = None


def _validate(user: User, team_id: int, data: RequestData) -> None:
    if data.received_at.tzinfo is None:
        raise InvalidInput("Date de réception invalide.", field="received_at")
    now = clock.now()
    if data.received_at > now + FUTURE_TOLERANCE:
        raise InvalidInput("La date de réception est dans le futur.", field="received_at")
    if data.received_at < now - MAX_BACKDATING:
        raise InvalidInput(
            "La date de réception remonte à plus d'un an : vérifiez-la.", field="received_at"
        )
    if data.requester_kind not in RequesterKind.__members__.values():
        raise InvalidInput("Indiquez qui fait la demande.", field="requester_kind")
    if data.channel not in RequestChannel.__members__.values():
        raise InvalidInput("Indiquez par quel canal la demande est arrivée.", field="channel")
    if not data.problem_categories:
        raise InvalidInput("Indiquez au moins un motif de la demande.", field="problem_categories")
    if any(c not in ProblemCategory.__members__.values() for c in data.problem_categories):
        raise InvalidInput("Motif de demande inconnu.", field="problem_categories")
    if len(data.requester_name) > 200:
        raise InvalidInput("Nom du demandeur trop long (200 caractères).", field="requester_name")
    if len(data.requester_contact) > 200:
        raise InvalidInput(
            "Coordonnées du demandeur trop longues (200 caractères).", field="requester_contact"
        )
    if len(data.person_summary) > 10_000:
        raise InvalidInput("Description trop longue (10 000 caractères).", field="person_summary")
    if data.patient_id is not None:
        patient = db.session.get(Patient, data.patient_id)
        if patient is None or not can(user, "patient.read", patient):
            raise InvalidInput("Fiche patient introuvable.", field="patient_id")
    if data.assigned_to_id is not None and not access.is_team_member(data.assigned_to_id, team_id):
        raise InvalidInput(
            "La personne désignée ne fait pas partie de l'équipe.", field="assigned_to_id"
        )


def _set_deadlines(req: SupportRequest, received_at: datetime, targets: IntakeTargets) -> None:
    """Date the request and compute its deadlines from the targets it keeps."""
    req.received_at = received_at
    req.first_answer_target_days = targets.first_answer_working_days
    req.evaluation_target_days = targets.evaluation_working_days
    req.ppcs_target_days = targets.ppcs_days
    due = deadlines(received_at, targets)
    req.first_answer_due_at = due.first_answer_due_at
    req.evaluation_due_at = due.evaluation_due_at
    req.ppcs_due_at = due.ppcs_due_at


def _apply(req: SupportRequest, data: RequestData) -> None:
    """Copy what the coordinator recorded (not the reception time: see _set_deadlines)."""
    req.requester_kind = data.requester_kind
    req.channel = data.channel
    req.requester_name = data.requester_name.strip()
    req.requester_contact = data.requester_contact.strip()
    req.person_summary = data.person_summary.strip()
    req.problem_categories = " ".join(dict.fromkeys(data.problem_categories))
    req.urgent = data.urgent
    req.patient_id = data.patient_id
    req.assigned_to_id = data.assigned_to_id


def _audit(ctx: AuditContext, action: str, req: SupportRequest, reason: str = "") -> None:
    record_event(
        ctx,
        f"request.{action}",
        object_type="support_request",
        object_id=req.id,
        patient_id=req.patient_id,
        reason=reason,
    )
    send_after_commit(
        support_request_changed, "intake", request_id=req.id, team_id=req.team_id, action=action
    )


def _lock(req: SupportRequest) -> None:
    """Re-read the request under a row lock (SELECT … FOR UPDATE on PostgreSQL).

    Two changes of one request at once (two conversions, a closure racing an answer) then run
    one after the other, and the second sees what the first committed: without it both pass
    the status check on the state they read and both succeed (two patients, two enrolments).
    """
    db.session.refresh(req, with_for_update=True)


def _require_open(req: SupportRequest) -> None:
    if not req.is_open:
        raise Conflict("Cette demande est déjà clôturée.", field="status")


def _lock_open(req: SupportRequest) -> None:
    """Lock the request and check, on its committed state, that it is still open."""
    _lock(req)
    _require_open(req)


def register_request(
    user: User, team: CareTeam, data: RequestData, ctx: AuditContext
) -> SupportRequest:
    """Record a request received by `team`; its deadlines follow the team's targets."""
    require(user, "request.register", team)
    _validate(user, team.id, data)
    req = SupportRequest(team_id=team.id, created_by_id=user.id, status=RequestStatus.RECEIVED)
    _set_deadlines(req, data.received_at, get_targets(team.id))
    _apply(req, data)
    db.session.add(req)
    db.session.flush()
    _audit(ctx, "register", req)
    return req


def update_request(
    user: User,
    req: SupportRequest,
    data: RequestData | Callable[[SupportRequest], RequestData],
    ctx: AuditContext,
) -> SupportRequest:
    """Correct an open request; a new reception time moves its deadlines, computed with the
    targets the request was received under (a later change of the team's targets applies
    only to requests received afterwards).

    :param data: the corrected request, or a function building it from the request as locked
        (a partial correction then keeps what another user changed meanwhile).
    """
    require(user, "request.answer", req)
    _lock_open(req)
    if callable(data):
        data = data(req)
    _validate(user, req.team_id, data)
    if req.first_answer_at is not None and data.received_at > req.first_answer_at:
        raise InvalidInput(
            "La réception ne peut pas suivre la première réponse.", field="received_at"
        )
    if data.received_at != req.received_at:
        _set_deadlines(req, data.received_at, targets_of(req))
    _apply(req, data)
    db.session.flush()
    _audit(ctx, "update", req)
    return req


def triage_request(
    user: User,
    req: SupportRequest,
    mission_type: str,
    ctx: AuditContext,
    *,
    urgent: bool | None = None,
    assigned_to_id: int | None = None,
) -> SupportRequest:
    """Qualify an open request as information, orientation or coordination (again if needed)."""
    require(user, "request.handle", req)
    _lock_open(req)
    if mission_type not in MissionType.__members__.values():
        raise InvalidInput(
            "Choisissez le type de mission : information, orientation ou appui à la coordination.",
            field="mission_type",
        )
    if assigned_to_id is not None and not access.is_team_member(assigned_to_id, req.team_id):
        raise InvalidInput(
            "La personne désignée ne fait pas partie de l'équipe.", field="assigned_to_id"
        )
    req.mission_type = mission_type
    if urgent is not None:
        req.urgent = urgent
    if assigned_to_id is not None:
        req.assigned_to_id = assigned_to_id
    if req.triaged_at is None:
        req.triaged_at = clock.now()
    req.triaged_by_id = user.id
    if req.status == RequestStatus.RECEIVED:
        req.status = RequestStatus.TRIAGED
    db.session.flush()
    _audit(ctx, "triage", req, reason=mission_type)
    return req


def _past_instant(at: datetime | None, req: SupportRequest, field: str) -> datetime:
    now = clock.now()
    if at is None:
        return now
    if at.tzinfo is None or at > now + FUTURE_TOLERANCE:
        raise InvalidInput("Cette date est dans le futur.", field=field)
    if at < req.received_at:
        raise InvalidInput("Cette date précède la réception de la demande.", field=field)
    return at


def answer_request(
    user: User,
    req: SupportRequest,
    note: str,
    ctx: AuditContext,
    *,
    answered_at: datetime | None = None,
) -> SupportRequest:
    """Record the first answer given to the requester (stops the first-answer clock).

    A later answer only adds to the note: the clock keeps the first one.
    """
    require(user, "request.answer", req)
    _lock_open(req)
    if not note.strip():
        raise InvalidInput("Résumez la réponse apportée au demandeur.", field="answer_note")
    if len(note) > 10_000:
        raise InvalidInput("Réponse trop longue (10 000 caractères).", field="answer_note")
    at = _past_instant(answered_at, req, "answered_at")
    if req.first_answer_at is None:
        req.first_answer_at = at
        req.answer_note = note.strip()
    else:
        req.answer_note = f"{req.answer_note}\n\n{note.strip()}".strip()
    req.status = RequestStatus.ANSWERED
    db.session.flush()
    _audit(ctx, "answer", req)
    return req


def record_evaluation(
    user: User, req: SupportRequest, ctx: AuditContext, *, evaluated_at: datetime | None = None
) -> SupportRequest:
    """Record that the situation was evaluated (stops the evaluation clock)."""
    require(user, "request.handle", req)
    _lock(req)
    # An enrolled request is still evaluated (the evaluation often follows the inclusion).
    if not (req.is_open or req.status == RequestStatus.CONVERTED):
        raise Conflict("Cette demande est déjà clôturée.", field="status")
    if req.evaluated_at is not None:
        raise Conflict("L'évaluation de cette demande est déjà enregistrée.", field="evaluated_at")
    req.evaluated_at = _past_instant(evaluated_at, req, "evaluated_at")
    db.session.flush()
    _audit(ctx, "evaluate", req)
    return req


def close_request(
    user: User, req: SupportRequest, outcome: str, note: str, ctx: AuditContext
) -> SupportRequest:
    """Close a triaged request with its outcome (an enrolment goes through conversion)."""
    require(user, "request.handle", req)
    _lock_open(req)
    if outcome not in CLOSING_OUTCOMES:
        raise InvalidInput("Indiquez l'issue de la demande.", field="outcome")
    if outcome == RequestOutcome.OTHER and not note.strip():
        raise InvalidInput("Précisez l'issue de la demande.", field="outcome_note")
    if req.mission_type is None and outcome not in (
        RequestOutcome.DUPLICATE,
        RequestOutcome.WITHDRAWN,
        RequestOutcome.OUT_OF_SCOPE,
    ):
        raise InvalidInput(
            "Qualifiez la demande (type de mission) avant de la clôturer.", field="mission_type"
        )
    req.outcome = outcome
    req.outcome_note = note.strip()
    req.status = RequestStatus.CLOSED
    req.closed_at = clock.now()
    req.closed_by_id = user.id
    db.session.flush()
    _audit(ctx, "close", req, reason=outcome)
    return req


def convert_to_enrolment(
    user: User,
    req: SupportRequest,
    ctx: AuditContext,
    *,
    identity: IdentityData | None = None,
    patient: Patient | None = None,
) -> Enrolment:
    """Turn a triaged request into an enrolment in its team and link them.

    The person is, in this order: `patient` (a record the user sees), the record already
    linked to the request, the record holding the identity's INS if the user sees it, or a
    new record created from `identity` (care_teams rules: INS and duplicate checks; an INS
    held by a record the user does not see is refused with whom to contact).
    """
    require(user, "request.handle", req)
    _lock_open(req)
    if req.mission_type is None:
        raise InvalidInput(
            "Qualifiez la demande (type de mission) avant l'inclusion.", field="mission_type"
        )
    team = db.session.get_one(CareTeam, req.team_id)
    enrolment_request = EnrolmentRequest(
        requested_on=clock.paris_day(req.received_at),
        requester_kind=req.requester_kind,
        requester_name=req.requester_name,
        problem_categories=tuple(req.categories),
    )
    target = patient
    if target is None and req.patient_id is not None:
        target = db.session.get(Patient, req.patient_id)
    if target is None and identity is not None and identity.ins_matricule:
        found = find_patient_by_ins(identity.ins_matricule)
        if found is not None and can(user, "patient.read", found):
            target = found
    if target is not None:
        enrolment = enrol_patient(user, target, team, enrolment_request, ctx)
    elif identity is not None:
        created = create_patient(user, team, identity, enrolment_request, ctx)
        enrolment = db.session.scalars(
            sa.select(Enrolment).where(
                Enrolment.patient_id == created.id,
                Enrolment.team_id == team.id,
                Enrolment.ended_at.is_(None),
            )
        ).one()
    else:
        raise InvalidInput(
            "Indiquez l'identité de la personne ou choisissez sa fiche.", field="patient_id"
        )
    now = clock.now()
    req.patient_id = enrolment.patient_id
    req.enrolment_id = enrolment.id
    req.status = RequestStatus.CONVERTED
    req.outcome = RequestOutcome.ENROLLED
    # The enrolment answers the request if nobody recorded an answer before.
    if req.first_answer_at is None:
        req.first_answer_at = now
    req.closed_at = now
    req.closed_by_id = user.id
    db.session.flush()
    _audit(ctx, "convert", req, reason=f"enrolment {enrolment.id}")
    return enrolment


def set_intake_targets(
    user: User, team: CareTeam, targets: IntakeTargets, ctx: AuditContext
) -> TeamIntakeTargets:
    """Set the team's targets; they apply to requests received from now on."""
    require(user, "intake.targets", team)
    values = {
        "first_answer_working_days": targets.first_answer_working_days,
        "evaluation_working_days": targets.evaluation_working_days,
        "ppcs_days": targets.ppcs_days,
    }
    for field, value in values.items():
        if not 1 <= value <= MAX_TARGET_DAYS:
            raise InvalidInput(
                f"Indiquez un délai entre 1 et {MAX_TARGET_DAYS} jours.", field=field
            )
    if targets.evaluation_working_days < targets.first_answer_working_days:
        raise InvalidInput(
            "L'évaluation ne peut pas être attendue avant la première réponse.",
            field="evaluation_working_days",
        )
    row = db.session.get(TeamIntakeTargets, team.id)
    if row is None:
        row = TeamIntakeTargets(team_id=team.id)
        db.session.add(row)
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_by_id = user.id
    db.session.flush()
    record_event(
        ctx,
        "intake.set_targets",
        object_type="care_team",
        object_id=team.id,
        reason=f"{values}",
    )
    return row
