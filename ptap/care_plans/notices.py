"""Who is told what when a plan moves: the GP, the coordinators, a new assignee.

Each notice goes through `ptap.accounts.notifications.notify_all`: stored in the transaction,
pushed live to the user's sockets after commit, and (when mail is configured) an e-mail that
only says a notification is waiting, with the link to PTAP: no patient name, no health data.
Titles name no patient either; the link opens the plan, behind the usual access checks.
"""

from __future__ import annotations

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.care_plans.content import PlanContent, load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams import access, circle, referents
from ptap.care_teams.models import Patient
from ptap.core.policy import can
from ptap.extensions import db


def plan_link(plan: CarePlan) -> str:
    """Return the local path of the plan page."""
    return f"/patients/{plan.patient_id}/care-plan"


def tell_gp_to_validate(plan: CarePlan, version: CarePlanVersion, actor: User) -> None:
    """Tell the patient's GP (a PTAP physician of the circle) a version awaits validation."""
    patient = db.session.get(Patient, plan.patient_id)
    gp = db.session.get(User, patient.gp_user_id) if patient and patient.gp_user_id else None
    if gp is None or gp.id == actor.id or not can(gp, "care_plan.validate", plan):
        return
    title = (
        f"Plan de coordination d'une personne suivie : la version {version.number} "
        "attend votre validation."
    )
    notify_all([NotificationDraft(gp.id, "care_plan_to_validate", title, plan_link(plan))])


def tell_coordinators(plan: CarePlan, actor: User, kind: str, title: str) -> None:
    """Tell the patient's coordinators and the plan lead (not the actor) of a lifecycle step."""
    patient = db.session.get(Patient, plan.patient_id)
    if patient is None:
        return
    lead = load_content(plan.draft).lead_user_id
    recipients = set(circle.list_coordinator_ids(patient)) | ({lead} if lead else set())
    recipients.discard(actor.id)
    # During a coordinator's absence their stand-in is told too (care_teams.referents).
    drafts = referents.with_cover(
        [NotificationDraft(uid, kind, title, plan_link(plan)) for uid in sorted(recipients)],
        team_ids=access.active_enrolment_team_ids(patient.id),
    )
    # Only those who may open the plan now: a patient who refused sharing hides it from the
    # other teams' coordinators (one query for the users; the rule checks each, a handful).
    ids = {d.user_id for d in drafts}
    users = db.session.scalars(sa.select(User).where(User.id.in_(ids)))
    readers = {u.id for u in users if can(u, "care_plan.read", plan) and u.id != actor.id}
    notify_all([d for d in drafts if d.user_id in readers])


def tell_new_assignees(
    plan: CarePlan, before: PlanContent, after: PlanContent, actor: User
) -> None:
    """Tell each professional an action was just assigned to (not those already assigned to
    it, nor the actor assigning themselves): a save that changes nothing tells no one."""
    had = {(a.key, a.assignee_user_id) for _, a in before.actions()}
    drafts = [
        NotificationDraft(
            action.assignee_user_id,
            "task_assigned",
            f"Une action vous est attribuée dans le plan de coordination d'une personne "
            f"suivie : {action.what}"[:300],
            "/tasks",
        )
        for _, action in after.actions()
        if action.assignee_user_id is not None
        and action.assignee_user_id != actor.id
        and (action.key, action.assignee_user_id) not in had
    ]
    notify_all(drafts)
