"""What the demo shows its three main accounts: counts per lifecycle state and per kind of work.

Used by tests/test_demo.py and, by hand, to measure the demo:
`PTAP_DATABASE_URL=sqlite:////tmp/x.db python -m tests.demo_census`.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES, load_content
from ptap.care_plans.models import (
    ApprovalKind,
    CarePlan,
    CarePlanTask,
    CarePlanVersion,
    PlanApproval,
)
from ptap.care_teams.access import sharing_ever_recorded, visible_patient_ids
from ptap.care_teams.models import BreakGlassAccess, Patient
from ptap.core import clock
from ptap.dmp_bridge import DmpSubmission
from ptap.extensions import db
from ptap.messaging.models import Acknowledgement, Attachment, Conversation, Message

ACCOUNTS = ("coordination", "medecin", "infirmiere")


def plan_stage(plan: CarePlan, approvals: set[str]) -> str:
    """The lifecycle stage a user reads: the stored status, with the draft and validated ones
    split by what they wait for."""
    if plan.status == "draft":
        return "awaiting_gp" if plan.current_version_id else "draft"
    if plan.status == "validated":
        return "awaiting_agreement"
    if plan.status == "under_revision" and ApprovalKind.GP_VALIDATION in approvals:
        return "under_revision_awaiting_agreement"
    return plan.status


def census_of(user: User) -> dict[str, Any]:
    """Count what one account sees."""
    today = clock.paris_today()
    seen = visible_patient_ids(user.id).scalar_subquery()
    plans = db.session.scalars(sa.select(CarePlan).where(CarePlan.patient_id.in_(seen))).all()
    plan_ids = [p.id for p in plans]
    versions = Counter(
        db.session.scalars(
            sa.select(CarePlanVersion.plan_id).where(CarePlanVersion.plan_id.in_(plan_ids))
        )
    )
    current_approvals: dict[int, set[str]] = {}
    for version_id, kind in db.session.execute(
        sa.select(PlanApproval.version_id, PlanApproval.kind)
    ):
        current_approvals.setdefault(version_id, set()).add(kind)
    stages = Counter(
        plan_stage(p, current_approvals.get(p.current_version_id or 0, set())) for p in plans
    )
    approvals = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PlanApproval)
        .join(CarePlanVersion, CarePlanVersion.id == PlanApproval.version_id)
        .where(CarePlanVersion.plan_id.in_(plan_ids))
    )
    tasks = db.session.scalars(
        sa.select(CarePlanTask).where(
            CarePlanTask.assignee_id == user.id,
            CarePlanTask.patient_id.in_(seen),
            CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
        )
    ).all()
    unassigned = sum(
        1
        for p in plans
        if p.status != "closed"
        for o in load_content(p.draft).objectives
        for a in o.actions
        if a.assignee_user_id is None and a.status in OPEN_STATUSES
    )
    conversations = db.session.scalars(
        sa.select(Conversation.id).where(Conversation.patient_id.in_(seen))
    ).all()
    in_conv = Message.conversation_id.in_(conversations)
    acknowledged = sa.exists().where(Acknowledgement.message_id == Message.id)
    messages = db.session.scalar(sa.select(sa.func.count()).select_from(Message).where(in_conv))
    urgent_open = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Message)
        .where(in_conv, Message.priority == "urgent", ~acknowledged)
    )
    attachments = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .where(in_conv)
    )
    to_collect = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Patient)
        .where(
            Patient.id.in_(visible_patient_ids(user.id, with_consent_to_collect=True)),
            Patient.sharing_consent.is_(False),
            ~sharing_ever_recorded(Patient.id),
        )
    )
    break_glass = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(BreakGlassAccess)
        .where(
            BreakGlassAccess.patient_id.in_(visible_patient_ids(user.id, circle_only=True)),
            BreakGlassAccess.reviewed_at.is_(None),
            BreakGlassAccess.user_id != user.id,
        )
    )
    filings = Counter(
        db.session.scalars(
            sa.select(DmpSubmission.status).where(DmpSubmission.patient_id.in_(seen))
        )
    )
    return {
        "patients": len(db.session.scalars(visible_patient_ids(user.id)).all()),
        "plans": dict(sorted(stages.items())),
        "plans_with_several_versions": sum(n > 1 for n in versions.values()),
        "versions": sum(versions.values()),
        "approvals": approvals,
        "my_tasks_overdue": sum(t.due_on is not None and t.due_on < today for t in tasks),
        "my_tasks_due_7d": sum(
            t.due_on is not None and today <= t.due_on <= today + timedelta(days=7) for t in tasks
        ),
        "my_tasks_open": len(tasks),
        "unassigned_actions": unassigned,
        "conversations": len(conversations),
        "messages": messages,
        "urgent_unacknowledged": urgent_open,
        "attachments": attachments,
        "consents_to_collect": to_collect,
        "break_glass_to_review": break_glass,
        "dmp_filings": dict(sorted(filings.items())),
    }


def census() -> dict[str, dict[str, Any]]:
    """Count what each main demo account sees (those that exist)."""
    result = {}
    for local in ACCOUNTS:
        user = db.session.scalar(sa.select(User).where(User.email.startswith(f"{local}@")))
        if user is not None:
            result[local] = census_of(user)
    return result


if __name__ == "__main__":  # pragma: no cover - a tool to measure the demo by hand
    from ptap import create_app

    with create_app().app_context():
        for local, counts in census().items():
            print(local)
            for key, value in counts.items():
                print(f"  {key:<28} {value}")
