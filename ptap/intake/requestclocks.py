"""The clocks of one support request, and whether it is late (no database access)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ptap.core import clock
from ptap.intake.clocks import Clock, IntakeTargets, make_clock
from ptap.intake.models import RequestStatus, SupportRequest


@dataclass(frozen=True)
class RequestClocks:
    """First answer, evaluation and first validated PPCS clocks of a request."""

    first_answer: Clock
    evaluation: Clock
    ppcs: Clock

    @property
    def late(self) -> bool:
        return self.first_answer.late or self.evaluation.late or self.ppcs.late


def targets_of(req: SupportRequest) -> IntakeTargets:
    """Return the targets the request was received under (kept on the request)."""
    return IntakeTargets(
        first_answer_working_days=req.first_answer_target_days,
        evaluation_working_days=req.evaluation_target_days,
        ppcs_days=req.ppcs_target_days,
    )


def first_answer_clock(req: SupportRequest, now: datetime) -> Clock:
    """Return the clock from reception to the first answer."""
    return make_clock(
        "first_answer",
        req.received_at,
        req.first_answer_due_at,
        req.first_answer_at,
        target=req.first_answer_target_days,
        working=True,
        now=now,
        running=req.is_open,
    )


def evaluation_clock(req: SupportRequest, now: datetime) -> Clock:
    """Return the clock from reception to the evaluation of the situation.

    It only runs for coordination requests (or untriaged ones) still open or enrolled: an
    information or orientation request is not evaluated.
    """
    runs = req.mission_type in (None, "coordination") and (
        req.is_open or req.status == RequestStatus.CONVERTED
    )
    return make_clock(
        "evaluation",
        req.received_at,
        req.evaluation_due_at,
        req.evaluated_at,
        target=req.evaluation_target_days,
        working=True,
        now=now,
        running=runs,
    )


def ppcs_clock(req: SupportRequest, now: datetime, first_validated_at: datetime | None) -> Clock:
    """Return the clock from reception to the first validated PPCS of the enrolment.

    It runs only once the request was turned into an enrolment (no plan without one).
    """
    return make_clock(
        "ppcs",
        req.received_at,
        req.ppcs_due_at,
        first_validated_at,
        target=req.ppcs_target_days,
        working=False,
        now=now,
        running=req.status == RequestStatus.CONVERTED,
    )


def request_clocks(
    req: SupportRequest, now: datetime | None = None, first_validated_at: datetime | None = None
) -> RequestClocks:
    """Return the three clocks of a request at `now` (the clock's now by default), against
    the targets the request was received under."""
    at = now or clock.now()
    return RequestClocks(
        first_answer=first_answer_clock(req, at),
        evaluation=evaluation_clock(req, at),
        ppcs=ppcs_clock(req, at, first_validated_at),
    )


def is_late(req: SupportRequest, now: datetime | None = None) -> bool:
    """Tell whether an open request still waits for its first answer past its deadline.

    This is the dashboard's alert; SQL twin: `queries.late_requests_clause`.
    """
    at = now or clock.now()
    return req.is_open and req.first_answer_at is None and at >= req.first_answer_due_at
