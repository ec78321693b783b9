"""My tasks: the open actions assigned to me across patients, overdue first."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from ptap.audit.context import note_patients_shown, shows_patients
from ptap.care_plans import queries, services
from ptap.care_plans.content import ACTION_STATUS_LABELS
from ptap.care_plans.views import bp, present
from ptap.core.policy import can, requires

SORTS = {"due": "Par échéance", "patient": "Par personne suivie"}
#: Tasks per page ("Plus d'actions" links to the next one).
PAGE_SIZE = 50


@bp.get("/tasks")
@shows_patients("task list")
@requires("tasks.list")
def list_tasks() -> str:
    sort = request.args.get("sort", "due")
    sort = sort if sort in SORTS else "due"
    today = present.today()
    page = queries.my_tasks(
        current_user.id,
        today=today,
        sort=sort,
        limit=PAGE_SIZE,
        cursor=request.args.get("cursor") or None,
    )
    total, overdue = queries.count_my_tasks(current_user.id, today=today)
    note_patients_shown(t.patient_id for t in page.items)
    return render_template(
        "care_plans/tasks.html",
        tasks=page.items,
        next_cursor=page.next_cursor,
        total=total,
        sort=sort,
        sorts=SORTS,
        overdue=overdue,
        status_labels={s.value: label for s, label in ACTION_STATUS_LABELS.items()},
        can_list_to_define=can(current_user, "care_plan.list_to_define"),
    )


@bp.get("/tasks/to-define")
@shows_patients("actions to define")
@requires("care_plan.list_to_define")
def list_actions_to_define() -> str:
    rows = services.list_actions_to_define(current_user._get_current_object())
    note_patients_shown(r.patient_id for r in rows)
    return render_template("care_plans/to_define.html", rows=rows)
