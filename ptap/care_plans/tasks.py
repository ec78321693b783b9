"""Care-plan reminder job: due soon, overdue, and re-evaluation due. Idempotent and bounded.

Each reminder is claimed by inserting its ReminderLog row (unique on kind, plan, item, target
date and user; INSERT ... ON CONFLICT DO NOTHING): a second run, a restart or a second
scheduler process finds the row and sends nothing. The job remembers what it sent through
those rows: each run selects, in SQL, only the tasks whose reminder has no log row yet (an
anti-join on the unique key), in batches of REMINDER_BATCH by task id, claims a whole batch
in one multi-row insert and stores its notifications in one more; each batch commits (its
notifications go out live then). Access is checked again when sending: a professional who
left the patient's circle gets no reminder (one query per assignee and batch).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.care_plans.content import OPEN_STATUSES
from ptap.care_plans.models import CarePlan, CarePlanTask, PlanStatus, ReminderLog
from ptap.care_teams import access, referents
from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.sql import insert_many_if_absent
from ptap.extensions import db

log = logging.getLogger(__name__)

#: Tasks (or plans) handled per statement batch and commit.
REMINDER_BATCH = 200
_KEY = ("kind", "plan_id", "item_key", "target_on", "user_id")
_REVIEWED_STATUSES = (
    PlanStatus.ACTIVE,
    PlanStatus.VALIDATED,
    PlanStatus.UNDER_REVISION,
    PlanStatus.DRAFT,
)


def _today() -> date:
    return clock.paris_today()


def _in_circle(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Return the (user id, patient id) pairs where the user is in the patient's circle now."""
    patients_by_user: dict[int, set[int]] = defaultdict(set)
    for user_id, patient_id in pairs:
        patients_by_user[user_id].add(patient_id)
    allowed: set[tuple[int, int]] = set()
    for user_id, patient_ids in patients_by_user.items():
        circle = access.visible_patient_ids(user_id, circle_only=True)
        allowed |= {
            (user_id, pid)
            for pid in db.session.scalars(
                sa.select(Patient.id).where(Patient.id.in_(patient_ids), Patient.id.in_(circle))
            )
        }
    return allowed


def _plan_places(plan_ids: set[int]) -> dict[int, tuple[int, int]]:
    """Map each plan to (team of its enrolment, patient) (one query per batch)."""
    if not plan_ids:
        return {}
    rows = db.session.execute(
        sa.select(CarePlan.id, Enrolment.team_id, CarePlan.patient_id)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(CarePlan.id.in_(plan_ids))
    )
    return {plan_id: (team_id, patient_id) for plan_id, team_id, patient_id in rows}


def _claim_and_notify(candidates: Sequence[tuple[dict[str, Any], NotificationDraft]]) -> int:
    """Claim the reminders in one insert, notify those this run claimed; return how many.

    A recipient away (care_teams.referents cover) has their stand-in told too, when the
    stand-in is in the patient's circle (titles name the action): the claim stays keyed on
    the intended recipient, the stand-in's copy rides along.
    """
    claimed = insert_many_if_absent(ReminderLog, [row for row, _ in candidates], _KEY)
    mine = [(row, note) for row, note in candidates if tuple(row[k] for k in _KEY) in claimed]
    places = _plan_places({row["plan_id"] for row, _ in mine})
    by_team: dict[int, list[NotificationDraft]] = defaultdict(list)
    patient_of: dict[int, int] = {}
    for row, note in mine:
        team_id, patient_id = places[row["plan_id"]]
        by_team[team_id].append(note)
        patient_of[id(note)] = patient_id
    copies = [
        (copy, patient_of[id(original)])
        for team_id, notes in by_team.items()
        for original, copy in referents.cover_copies(notes, team_ids=[team_id])
    ]
    allowed = _in_circle({(copy.user_id, patient_id) for copy, patient_id in copies})
    notify_all(
        [note for _, note in mine]
        + [copy for copy, patient_id in copies if (copy.user_id, patient_id) in allowed]
    )
    return len(mine)


def _task_reminders(today: date, soon: date) -> int:
    """Send the due-soon and overdue reminders not sent yet, batch by batch."""
    kind = sa.case((CarePlanTask.due_on < today, "overdue"), else_="due_soon")
    reminded = sa.exists().where(
        ReminderLog.kind == kind,
        ReminderLog.plan_id == CarePlanTask.plan_id,
        ReminderLog.item_key == CarePlanTask.action_key,
        ReminderLog.target_on == CarePlanTask.due_on,
        ReminderLog.user_id == CarePlanTask.assignee_id,
    )
    pending = (
        sa.select(CarePlanTask)
        .where(
            CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
            CarePlanTask.due_on.is_not(None),
            CarePlanTask.due_on <= soon,
            ~reminded,
        )
        .order_by(CarePlanTask.id)
        .limit(REMINDER_BATCH)
    )
    sent, after = 0, 0
    while batch := db.session.scalars(pending.where(CarePlanTask.id > after)).all():
        after = batch[-1].id
        allowed = _in_circle({(t.assignee_id, t.patient_id) for t in batch})
        candidates = []
        for task in batch:
            if (task.assignee_id, task.patient_id) not in allowed:
                continue  # left the circle: no reminder (kept for a later run if they return)
            assert task.due_on is not None  # noqa: S101 - filtered above
            overdue = task.due_on < today
            when = task.due_on.strftime("%d/%m/%Y")
            title = (
                f"Action en retard (échéance {when}) : {task.what}"
                if overdue
                else f"Action à réaliser d'ici le {when} : {task.what}"
            )
            row = {
                "kind": "overdue" if overdue else "due_soon",
                "plan_id": task.plan_id,
                "item_key": task.action_key,
                "target_on": task.due_on,
                "user_id": task.assignee_id,
                "sent_at": utcnow(),
            }
            candidates.append(
                (
                    row,
                    NotificationDraft(
                        task.assignee_id, f"task_{row['kind']}", title[:300], "/tasks"
                    ),
                )
            )
        sent += _claim_and_notify(candidates)
        db.session.commit()
    return sent


def _review_reminders(review_soon: date) -> int:
    """Send the re-evaluation reminders (to the plan's lead, else the patient's referent) not
    sent yet, batch by batch."""
    reminded = sa.exists().where(
        ReminderLog.kind == "review_due",
        ReminderLog.plan_id == CarePlan.id,
        ReminderLog.item_key == "",
        ReminderLog.target_on == CarePlan.next_review_on,
    )
    pending = (
        sa.select(CarePlan)
        .where(
            CarePlan.status.in_(_REVIEWED_STATUSES),
            CarePlan.next_review_on.is_not(None),
            CarePlan.next_review_on <= review_soon,
            ~reminded,
        )
        .order_by(CarePlan.id)
        .limit(REMINDER_BATCH)
    )
    sent, after = 0, 0
    while batch := db.session.scalars(pending.where(CarePlan.id > after)).all():
        after = batch[-1].id
        # The plan's lead, or else the patient's referent in the plan's team (while they
        # still coordinate it).
        referent_of = referents.current_referents(p.enrolment_id for p in batch)
        leads = {
            p.id: int(lead)
            for p in batch
            if (lead := (p.draft or {}).get("lead_user_id") or referent_of.get(p.enrolment_id))
        }
        allowed = _in_circle({(leads[p.id], p.patient_id) for p in batch if p.id in leads})
        candidates = []
        for plan in batch:
            lead = leads.get(plan.id)
            if lead is None or (lead, plan.patient_id) not in allowed:
                continue
            assert plan.next_review_on is not None  # noqa: S101 - filtered above
            row = {
                "kind": "review_due",
                "plan_id": plan.id,
                "item_key": "",
                "target_on": plan.next_review_on,
                "user_id": lead,
                "sent_at": utcnow(),
            }
            note = NotificationDraft(
                lead,
                "review_due",
                f"Réévaluation du plan prévue le {plan.next_review_on:%d/%m/%Y}.",
                f"/patients/{plan.patient_id}/care-plan",
            )
            candidates.append((row, note))
        sent += _claim_and_notify(candidates)
        db.session.commit()
    return sent


def send_care_plan_reminders(today: date | None = None) -> int:
    """Send every reminder due today and not sent yet; return how many were sent."""
    today = today or _today()
    cfg = current_app.config
    soon = today + timedelta(days=int(cfg["CARE_PLAN_REMIND_DAYS_BEFORE"]))
    review_soon = today + timedelta(days=int(cfg["CARE_PLAN_REVIEW_REMIND_DAYS_BEFORE"]))
    sent = _task_reminders(today, soon) + _review_reminders(review_soon)
    log.info("care-plan reminders sent: %d", sent)
    return sent
