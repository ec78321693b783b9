"""Late pathway steps become reminders to the patient's coordinators (idempotent, batched).

Runs beside the care-plan reminder job and claims through the same `care_plan_reminders` log
(kind "step_late", item `step_item_key`, target the step's due date): a second run
or a second scheduler process sends nothing twice. The dashboard, when it exists, may read
`ptap.pathways.queries.list_patient_pathways` for its alerts.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.care_plans.models import CarePlan, PlanStatus, ReminderLog
from ptap.care_teams.circle import list_coordinator_ids
from ptap.care_teams.models import Patient
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.core.sql import insert_many_if_absent
from ptap.extensions import db
from ptap.pathways.models import PatientPathway
from ptap.pathways.queries import StepState, action_statuses, signed_by_patient, step_rows

#: Pathways handled per batch and commit.
STEP_BATCH = 200
#: The length of the reminder log's item key column.
ITEM_KEY_LENGTH = 32
_KEY = ("kind", "plan_id", "item_key", "target_on", "user_id")


def step_item_key(pathway_id: int, step_key: str) -> str:
    """The reminder log's item key of one step of one pathway (32 characters at most).

    "p<pathway id>:<step key>" when it fits (the key earlier runs logged), otherwise "h" and a
    SHA-256 digest of it: never truncated, so two long step keys never share a reminder.
    """
    key = f"p{pathway_id}:{step_key}"
    if len(key) <= ITEM_KEY_LENGTH:
        return key
    return "h" + hashlib.sha256(key.encode()).hexdigest()[: ITEM_KEY_LENGTH - 1]


def _candidates(
    pathway: PatientPathway,
    draft: dict[str, Any],
    today: date,
    coordinators: list[int],
    signed: dict[str, list[datetime]],
) -> list[tuple[dict[str, Any], NotificationDraft]]:
    timeline = step_rows(
        pathway.steps,
        action_statuses(draft),
        today,
        started_on=pathway.started_on,
        signed=signed,
    )
    late = [s for s in timeline if s.state == StepState.LATE]
    link = f"/patients/{pathway.patient_id}/pathways"
    return [
        (
            {
                "kind": "step_late",
                "plan_id": pathway.plan_id,
                "item_key": step_item_key(pathway.id, step.key),
                "target_on": step.due_on,
                "user_id": user_id,
                "sent_at": utcnow(),
            },
            NotificationDraft(
                user_id,
                "pathway_step_late",
                f"Étape de parcours en retard (prévue le {step.due_on:%d/%m/%Y}) : {step.title}"[
                    :300
                ],
                link,
            ),
        )
        for step in late
        for user_id in coordinators
    ]


def send_pathway_step_reminders(today: date | None = None) -> int:
    """Tell the coordinators of each patient about their pathways' late steps, once per step."""
    today = today or clock.paris_today()
    running = (
        sa.select(PatientPathway, CarePlan.draft, Patient)
        .join(CarePlan, CarePlan.id == PatientPathway.plan_id)
        .join(Patient, Patient.id == PatientPathway.patient_id)
        .where(PatientPathway.stopped_at.is_(None), CarePlan.status != PlanStatus.CLOSED)
        .order_by(PatientPathway.id)
        .limit(STEP_BATCH)
    )
    sent, after = 0, 0
    while batch := db.session.execute(running.where(PatientPathway.id > after)).all():
        after = batch[-1][0].id
        coordinators: dict[int, list[int]] = {}
        signed = signed_by_patient([(p.patient_id, p.steps) for p, _, _ in batch])
        candidates = []
        for pathway, draft, patient in batch:
            if patient.id not in coordinators:
                coordinators[patient.id] = list_coordinator_ids(patient)
            candidates += _candidates(
                pathway, draft, today, coordinators[patient.id], signed.get(patient.id, {})
            )
        claimed = insert_many_if_absent(ReminderLog, [row for row, _ in candidates], _KEY)
        mine = [n for row, n in candidates if tuple(row[k] for k in _KEY) in claimed]
        notify_all(mine)
        sent += len(mine)
        db.session.commit()
    return sent
