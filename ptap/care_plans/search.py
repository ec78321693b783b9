"""The care-plan columns and filters of the patient list (plan status, next review).

Registered into `ptap.care_teams.search` at start-up: care teams sit below care plans and
cannot ask them directly. Only plans of enrolments still open count; when several teams
follow a patient, the list shows the open plan whose review comes first.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ptap.care_plans.models import PLAN_STATUS_LABELS, CarePlan, PlanStatus
from ptap.care_teams.models import Enrolment, Patient
from ptap.care_teams.search import FollowUp, register_follow_up_source
from ptap.core import clock
from ptap.extensions import db

#: The plan-status filter's value for patients without a plan yet.
NO_PLAN = "none"
NO_PLAN_LABEL = "Pas encore de plan"
#: Statuses whose review date matters (a closed plan is not reviewed).
_REVIEWED = (PlanStatus.DRAFT, PlanStatus.VALIDATED, PlanStatus.ACTIVE, PlanStatus.UNDER_REVISION)


def _review_horizon() -> date:
    """Return the last day a review counts as due (the reminders' notice period)."""
    days = int(current_app.config["CARE_PLAN_REVIEW_REMIND_DAYS_BEFORE"])
    return clock.paris_today() + timedelta(days=days)


def _open_plans() -> sa.Select[Any]:
    return (
        sa.select(CarePlan.patient_id)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(Enrolment.ended_at.is_(None))
    )


class CarePlanFollowUps:
    """Plan status and next review of the patients of a list page."""

    def status_choices(self) -> list[tuple[str, str]]:
        """Return the plan-status filter's choices, "no plan yet" included."""
        return [(NO_PLAN, NO_PLAN_LABEL), *((str(k), v) for k, v in PLAN_STATUS_LABELS.items())]

    def matching(self, plan_status: str, review_due: bool) -> sa.ColumnElement[bool]:
        """Return a condition on the patient: plan in this status (or none), review due."""
        conditions: list[Any] = []
        if plan_status == NO_PLAN:
            conditions.append(Patient.id.not_in(_open_plans()))
        elif plan_status:
            conditions.append(Patient.id.in_(_open_plans().where(CarePlan.status == plan_status)))
        if review_due:
            due = _open_plans().where(
                CarePlan.status.in_(_REVIEWED), CarePlan.next_review_on <= _review_horizon()
            )
            conditions.append(Patient.id.in_(due))
        return sa.and_(sa.true(), *conditions)

    def follow_ups(self, patient_ids: list[int]) -> dict[int, FollowUp]:
        """Return the plan summary of each listed patient that has a plan (one query)."""
        if not patient_ids:
            return {}
        rows = db.session.execute(
            _open_plans()
            .add_columns(CarePlan.status, CarePlan.next_review_on)
            .where(CarePlan.patient_id.in_(patient_ids))
            .order_by(
                CarePlan.patient_id,
                CarePlan.status == PlanStatus.CLOSED,
                CarePlan.next_review_on.is_(None),
                CarePlan.next_review_on,
                CarePlan.id,
            )
        ).all()
        today, horizon, found = clock.paris_today(), _review_horizon(), {}
        for patient_id, status, review in rows:
            if patient_id in found:
                continue
            due = review is not None and status in _REVIEWED and review <= horizon
            label = PLAN_STATUS_LABELS.get(status, status)
            found[patient_id] = FollowUp(status, label, review, due, due and review < today)
        return found


register_follow_up_source(CarePlanFollowUps())
