"""Reads of support requests and intake targets, always limited to the user's teams."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ptap.care_plans.models import ApprovalKind, CarePlan, CarePlanVersion, PlanApproval
from ptap.care_teams.access import active_team_ids
from ptap.care_teams.models import Patient
from ptap.core.errors import NotFound
from ptap.core.ins import normalise_nir
from ptap.core.policy import Actor, can
from ptap.extensions import db
from ptap.intake.clocks import IntakeTargets
from ptap.intake.models import OPEN_STATUSES, SupportRequest, TeamIntakeTargets
from ptap.intake.requestclocks import RequestClocks, request_clocks


def get_targets(team_id: int) -> IntakeTargets:
    """Return the team's intake targets (the defaults when it set none)."""
    row = db.session.get(TeamIntakeTargets, team_id)
    if row is None:
        return IntakeTargets()
    return IntakeTargets(
        first_answer_working_days=row.first_answer_working_days,
        evaluation_working_days=row.evaluation_working_days,
        ppcs_days=row.ppcs_days,
    )


def get_request(user: Actor, request_id: int) -> SupportRequest:
    """Return a request the user may read; NotFound for others' teams (never a 403)."""
    req = db.session.get(SupportRequest, request_id)
    if req is None or not can(user, "request.read", req):
        raise NotFound("Demande introuvable.")
    return req


def late_requests_clause(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition of an open request still waiting for its first answer past its deadline."""
    return sa.and_(
        SupportRequest.status.in_(list(OPEN_STATUSES)),
        SupportRequest.first_answer_at.is_(None),
        SupportRequest.first_answer_due_at <= now,
    )


@dataclass(frozen=True)
class RequestFilter:
    """Criteria of the request list."""

    team_id: int | None = None
    #: "open" (default), "all", or one RequestStatus value.
    status: str = "open"
    late_only: bool = False


def requests_query(user: Actor, criteria: RequestFilter, now: datetime) -> sa.Select[Any]:
    """Select the requests of the user's teams matching the criteria (unordered)."""
    stmt = sa.select(SupportRequest).where(
        SupportRequest.team_id.in_(active_team_ids(user.id).scalar_subquery())
    )
    if criteria.team_id is not None:
        stmt = stmt.where(SupportRequest.team_id == criteria.team_id)
    if criteria.status == "open":
        stmt = stmt.where(SupportRequest.status.in_(list(OPEN_STATUSES)))
    elif criteria.status != "all":
        stmt = stmt.where(SupportRequest.status == criteria.status)
    if criteria.late_only:
        stmt = stmt.where(late_requests_clause(now))
    return stmt


def ordered_requests_query(user: Actor, criteria: RequestFilter, now: datetime) -> sa.Select[Any]:
    """Select the matching requests in list order: open ones urgent and oldest first (the
    queue), the others newest first; the id makes the order total (stable pages)."""
    order: list[Any]
    if criteria.status == "open":
        order = [SupportRequest.urgent.desc(), SupportRequest.received_at.asc()]
    else:
        order = [SupportRequest.received_at.desc()]
    return requests_query(user, criteria, now).order_by(*order, SupportRequest.id)


def list_requests(
    user: Actor, criteria: RequestFilter, now: datetime, *, limit: int, offset: int = 0
) -> Sequence[SupportRequest]:
    """Return one slice of the matching requests, in list order."""
    stmt = ordered_requests_query(user, criteria, now).limit(limit).offset(offset)
    return db.session.scalars(stmt).all()


def clocks_of(requests: Sequence[SupportRequest], now: datetime) -> dict[int, RequestClocks]:
    """Return the clocks of several requests, each against the targets it was received
    under (at most one query whatever their number)."""
    validated = first_validated_ppcs_at(r.enrolment_id for r in requests if r.enrolment_id)
    return {
        r.id: request_clocks(r, now, validated.get(r.enrolment_id) if r.enrolment_id else None)
        for r in requests
    }


def count_late_requests(team_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Count, per team, the open requests past their first-answer deadline."""
    rows = db.session.execute(
        sa.select(SupportRequest.team_id, sa.func.count())
        .where(SupportRequest.team_id.in_(list(team_ids)), late_requests_clause(now))
        .group_by(SupportRequest.team_id)
    )
    return {team_id: count for team_id, count in rows}


def first_validated_ppcs_at(enrolment_ids: Iterable[int | None]) -> dict[int, datetime]:
    """Return, per enrolment, when its PPCS was first validated by the physician."""
    ids = [i for i in enrolment_ids if i is not None]
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(CarePlan.enrolment_id, sa.func.min(PlanApproval.recorded_at))
        .join(CarePlanVersion, CarePlanVersion.plan_id == CarePlan.id)
        .join(PlanApproval, PlanApproval.version_id == CarePlanVersion.id)
        .where(
            CarePlan.enrolment_id.in_(ids),
            PlanApproval.kind == ApprovalKind.GP_VALIDATION,
        )
        .group_by(CarePlan.enrolment_id)
    )
    result: dict[int, datetime] = {}
    for enrolment_id, at in rows:
        if at is not None:
            # SQLite hands back aggregated datetimes as strings or naive values.
            result[enrolment_id] = _aware(at)
    return result


def _aware(value: Any) -> datetime:
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def find_patient_by_ins(matricule: str) -> Patient | None:
    """Return the live record holding this INS matricule, if any (no visibility check)."""
    nir = normalise_nir(matricule)
    if not nir:
        return None
    patient = db.session.scalar(sa.select(Patient).where(Patient.ins_matricule == nir))
    for _ in range(10):  # follow merges to the surviving record (bounded against a cycle)
        if patient is None or patient.merged_into_id is None:
            break
        patient = db.session.get(Patient, patient.merged_into_id)
    return patient
