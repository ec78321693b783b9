"""Reads of care plans: the plan of a patient, versions, comparisons, task lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES, PlanContent, load_content
from ptap.care_plans.models import (
    CarePlan,
    CarePlanTask,
    CarePlanVersion,
    PlanApproval,
    PlanStatus,
)
from ptap.care_teams.models import Enrolment, Patient
from ptap.core.api import Page, paginate_keyset
from ptap.core.errors import NotFound
from ptap.extensions import db


def find_plan_for_patient(patient_id: int) -> CarePlan | None:
    """Return the plan of the patient's current enrolment (the most recent one), if any."""
    return db.session.scalar(
        sa.select(CarePlan)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(CarePlan.patient_id == patient_id)
        .order_by(Enrolment.ended_at.is_not(None), CarePlan.created_at.desc())
        .limit(1)
    )


def list_versions(plan_id: int) -> list[tuple[CarePlanVersion, str]]:
    """Return the plan's versions, newest first, with their authors' names."""
    rows = db.session.execute(
        sa.select(CarePlanVersion, User.first_name + " " + User.last_name)
        .join(User, User.id == CarePlanVersion.created_by_id)
        .where(CarePlanVersion.plan_id == plan_id)
        .order_by(CarePlanVersion.number.desc())
    ).all()
    return [(version, name) for version, name in rows]


def get_version(plan_id: int, number: int) -> CarePlanVersion:
    """Return version `number` of the plan or raise NotFound."""
    version = db.session.scalar(
        sa.select(CarePlanVersion).where(
            CarePlanVersion.plan_id == plan_id, CarePlanVersion.number == number
        )
    )
    if version is None:
        raise NotFound("Version introuvable.")
    return version


def approvals(version_id: int) -> list[tuple[PlanApproval, str]]:
    """Return the approvals of a version with who recorded them."""
    return approvals_by_version([version_id]).get(version_id, [])


def approvals_by_version(version_ids: list[int]) -> dict[int, list[tuple[PlanApproval, str]]]:
    """Return the approvals of several versions in one query, keyed by version id."""
    if not version_ids:
        return {}
    rows = db.session.execute(
        sa.select(PlanApproval, User.first_name + " " + User.last_name)
        .join(User, User.id == PlanApproval.recorded_by_id)
        .where(PlanApproval.version_id.in_(version_ids))
        .order_by(PlanApproval.recorded_at)
    ).all()
    result: dict[int, list[tuple[PlanApproval, str]]] = {}
    for approval, name in rows:
        result.setdefault(approval.version_id, []).append((approval, name))
    return result


# --- comparison ------------------------------------------------------------------------------


@dataclass
class SectionDiff:
    """What changed in one section between two versions."""

    section: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _items(content: PlanContent) -> dict[str, dict[str, tuple[str, Any]]]:
    """Index each section's items by key: (label shown, comparable value)."""
    return {
        "Synthèse : problèmes et besoins": {
            p.key: (p.description, p.model_dump(mode="json")) for p in content.problems
        },
        "Plan d'action : objectifs": {
            o.key: (o.title, {"title": o.title, "problems": o.problem_keys})
            for o in content.objectives
        },
        "Plan d'action : actions": {
            a.key: (f"{o.title} › {a.what}", a.model_dump(mode="json"))
            for o, a in content.actions()
        },
        "Objectifs non atteints": {
            u.key: (u.objective, u.model_dump(mode="json")) for u in content.unmet_objectives
        },
    }


def compare(old: PlanContent, new: PlanContent) -> list[SectionDiff]:
    """Compare two contents section by section: items added, removed and changed."""
    diffs = []
    before, after = _items(old), _items(new)
    for section in after:
        diff = SectionDiff(section)
        b, a = before[section], after[section]
        diff.added = [a[k][0] for k in a if k not in b]
        diff.removed = [b[k][0] for k in b if k not in a]
        diff.changed = [a[k][0] for k in a if k in b and a[k][1] != b[k][1]]
        diffs.append(diff)
    texts = SectionDiff("Synthèse : attentes et préférences de la personne")
    if old.expectations != new.expectations:
        texts.changed.append("Attentes de la personne")
    if old.preferences != new.preferences:
        texts.changed.append("Préférences de la personne")
    general = SectionDiff("Informations générales")
    if old.lead_user_id != new.lead_user_id:
        general.changed.append("Responsable du plan")
    if old.next_review_on != new.next_review_on:
        general.changed.append(
            f"Prochaine réévaluation : {new.next_review_on:%d/%m/%Y}"
            if new.next_review_on
            else "Prochaine réévaluation"
        )
    return [general, texts, *diffs]


def compare_versions(plan_id: int, first: int, second: int) -> list[SectionDiff]:
    """Compare two versions of a plan (any order)."""
    a, b = get_version(plan_id, first), get_version(plan_id, second)
    return compare(load_content(a.content), load_content(b.content))


# --- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    """A task of the task list."""

    plan_id: int
    patient_id: int
    patient_name: str
    action_key: str
    objective: str
    what: str
    due_on: date | None
    status: str
    overdue: bool


#: Sorts a task with no due date after every dated one.
_NO_DUE_DATE = date(9999, 12, 31)


def _my_open_tasks(user_id: int) -> Any:
    """Select the user's open tasks (with the patient's names) in patients they still see."""
    from ptap.care_teams.access import visible_patient_ids

    return (
        sa.select(CarePlanTask, Patient.birth_name, Patient.used_name, Patient.first_names)
        .join(Patient, Patient.id == CarePlanTask.patient_id)
        .where(
            CarePlanTask.assignee_id == user_id,
            CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
            CarePlanTask.patient_id.in_(visible_patient_ids(user_id)),
        )
    )


def my_tasks(
    user_id: int, *, today: date, sort: str = "due", limit: int = 50, cursor: str | None = None
) -> Page[TaskRow]:
    """Return a page of the user's open tasks across patients: by due date (so overdue
    first, undated last), or by patient then due date.

    One query per page whatever the number of tasks (keyset on the sort columns and the id).
    Only patients the user still sees are listed.
    """
    due = sa.func.coalesce(CarePlanTask.due_on, sa.literal(_NO_DUE_DATE, type_=sa.Date))
    by_patient = sort == "patient"
    keys = (
        [Patient.search_birth_name, due, CarePlanTask.id] if by_patient else [due, CarePlanTask.id]
    )

    def key_of(row: Any) -> tuple[Any, ...]:
        task, name = row[0], row[4]  # the name is selected: no lazy load
        dated = (task.due_on or _NO_DUE_DATE, task.id)
        return (name, *dated) if by_patient else dated

    stmt = _my_open_tasks(user_id).add_columns(Patient.search_birth_name)
    page = paginate_keyset(stmt, keys, key_of, limit=limit, cursor=cursor)
    rows = [
        TaskRow(
            plan_id=t.plan_id,
            patient_id=t.patient_id,
            patient_name=f"{(used or birth).upper()} {first.split(' ')[0]}",
            action_key=t.action_key,
            objective=t.objective,
            what=t.what,
            due_on=t.due_on,
            status=t.status,
            overdue=t.due_on is not None and t.due_on < today,
        )
        for t, birth, used, first, *_ in page.items
    ]
    return Page(rows, page.next_cursor, limit)


def count_my_tasks(user_id: int, *, today: date) -> tuple[int, int]:
    """Return how many open tasks the user has, and how many of them are overdue (one query)."""
    tasks = _my_open_tasks(user_id).subquery()
    overdue = sa.and_(tasks.c.due_on.is_not(None), tasks.c.due_on < today)
    total, late = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(overdue)).select_from(tasks)
    ).one()
    return int(total), int(late)


# --- actions "à définir" --------------------------------------------------------------------


@dataclass(frozen=True)
class UndefinedActionRow:
    """An action marked "à définir" in a plan the coordinator coordinates."""

    patient_id: int
    patient_name: str
    action_key: str
    objective: str
    what: str
    #: What is already known of it: "Infirmière X", "SSIAD du Val", or "".
    assignee_label: str
    assignee_user_id: int | None
    due_on: date | None


def actions_to_define(user_id: int) -> list[UndefinedActionRow]:
    """Return the open actions marked "à définir" in the drafts of the open plans of the
    patients enrolled in a team the user coordinates today, and whose circle they are part of
    (need to know: no break-the-glass patient, no other team's patient). By patient."""
    from ptap.care_teams.access import active_team_ids, visible_patient_ids
    from ptap.care_teams.models import TeamRole

    coordinated = sa.select(Enrolment.patient_id).where(
        Enrolment.ended_at.is_(None),
        Enrolment.team_id.in_(active_team_ids(user_id, role=TeamRole.COORDINATOR)),
    )
    rows = db.session.execute(
        sa.select(CarePlan, Patient.birth_name, Patient.used_name, Patient.first_names)
        .join(Patient, Patient.id == CarePlan.patient_id)
        .where(
            CarePlan.status != PlanStatus.CLOSED,
            CarePlan.patient_id.in_(coordinated),
            CarePlan.patient_id.in_(visible_patient_ids(user_id, circle_only=True)),
        )
        .order_by(Patient.search_birth_name, CarePlan.id)
    ).all()
    found = []
    for plan, birth, used, first in rows:
        name = f"{(used or birth).upper()} {first.split(' ')[0]}"
        for objective, action in load_content(plan.draft).actions():
            if action.to_define and action.status in OPEN_STATUSES:
                found.append(
                    UndefinedActionRow(
                        patient_id=plan.patient_id,
                        patient_name=name,
                        action_key=action.key,
                        objective=objective.title,
                        what=action.what,
                        assignee_label=action.assignee_label,
                        assignee_user_id=action.assignee_user_id,
                        due_on=action.due_on,
                    )
                )
    return found
