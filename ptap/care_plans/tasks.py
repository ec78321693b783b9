"""Care-plan reminder job: due soon, overdue, and re-evaluation due. Idempotent.

Each reminder is claimed by inserting its ReminderLog row (unique on kind, plan, item, target
date and user; INSERT ... ON CONFLICT DO NOTHING): a second run, a restart or a second
scheduler process finds the row and sends nothing. Notifications go out with the job's commit
(live over Socket.IO).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.notifications import notify
from ptap.care_plans.content import OPEN_STATUSES
from ptap.care_plans.models import CarePlan, CarePlanTask, PlanStatus, ReminderLog
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.sql import insert_if_absent
from ptap.extensions import db

log = logging.getLogger(__name__)


def _claim(kind: str, plan_id: int, item_key: str, target_on: date, user_id: int) -> bool:
    """Insert the reminder's log row; False if it was already sent (any process, any run)."""
    values = {
        "kind": kind,
        "plan_id": plan_id,
        "item_key": item_key,
        "target_on": target_on,
        "user_id": user_id,
        "sent_at": utcnow(),
    }
    return insert_if_absent(ReminderLog, **values)


def _today() -> date:
    return clock.paris_today()


def send_care_plan_reminders(today: date | None = None) -> int:
    """Send every reminder due today and not sent yet; return how many were sent."""
    today = today or _today()
    cfg = current_app.config
    soon = today + timedelta(days=int(cfg["CARE_PLAN_REMIND_DAYS_BEFORE"]))
    review_soon = today + timedelta(days=int(cfg["CARE_PLAN_REVIEW_REMIND_DAYS_BEFORE"]))
    sent = 0
    tasks = db.session.scalars(
        sa.select(CarePlanTask).where(
            CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
            CarePlanTask.due_on.is_not(None),
            CarePlanTask.due_on <= soon,
        )
    ).all()
    for task in tasks:
        assert task.due_on is not None  # noqa: S101 - filtered above
        kind = "overdue" if task.due_on < today else "due_soon"
        if _claim(kind, task.plan_id, task.action_key, task.due_on, task.assignee_id):
            when = task.due_on.strftime("%d/%m/%Y")
            title = (
                f"Action en retard (échéance {when}) : {task.what}"
                if kind == "overdue"
                else f"Action à réaliser d'ici le {when} : {task.what}"
            )
            notify(task.assignee_id, f"task_{kind}", title[:300], "/tasks")
            sent += 1
    plans = db.session.scalars(
        sa.select(CarePlan).where(
            CarePlan.status.in_(
                [
                    PlanStatus.ACTIVE,
                    PlanStatus.VALIDATED,
                    PlanStatus.UNDER_REVISION,
                    PlanStatus.DRAFT,
                ]
            ),
            CarePlan.next_review_on.is_not(None),
            CarePlan.next_review_on <= review_soon,
        )
    ).all()
    for plan in plans:
        lead = (plan.draft or {}).get("lead_user_id")
        assert plan.next_review_on is not None  # noqa: S101 - filtered above
        if lead and _claim("review_due", plan.id, "", plan.next_review_on, int(lead)):
            notify(
                int(lead),
                "review_due",
                f"Réévaluation du plan prévue le {plan.next_review_on:%d/%m/%Y}.",
                f"/patients/{plan.patient_id}/care-plan",
            )
            sent += 1
    log.info("care-plan reminders sent: %d", sent)
    return sent
