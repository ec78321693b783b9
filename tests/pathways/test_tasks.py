"""Late pathway steps feed the coordinators' reminders, once per step."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.pathways import services
from ptap.pathways.tasks import send_pathway_step_reminders
from tests.care_plans.test_services import build_world, open_plan
from tests.pathways.helpers import heart_failure

START = date(2026, 3, 2)


def _notes(db, user_id):
    return db.session.scalars(
        sa.select(Notification.title).where(
            Notification.user_id == user_id, Notification.kind == "pathway_step_late"
        )
    ).all()


def _started(db):
    w = build_world()
    plan = open_plan(w)
    template = services.create_template(w.coord, heart_failure(), team=w.team)
    services.publish_template(w.coord, template)
    pathway = services.start_pathway(w.coord, w.patient, template, START, SYSTEM)
    db.session.commit()
    return w, plan, pathway


def test_late_step_reminds_coordinators_once(db):
    w, _, _ = _started(db)
    assert send_pathway_step_reminders(date(2026, 3, 8)) == 0  # nothing late yet
    assert send_pathway_step_reminders(date(2026, 3, 10)) == 1  # step 1 due on 09/03
    assert _notes(db, w.coord.id) == [
        "Étape de parcours en retard (prévue le 09/03/2026) : Consultation de sortie"
    ]
    assert _notes(db, w.nurse.id) == []  # members are reminded of their own actions instead
    assert send_pathway_step_reminders(date(2026, 3, 11)) == 0  # already sent
    assert send_pathway_step_reminders(date(2026, 3, 30)) == 1  # step 2 now late too


def test_done_or_stopped_steps_are_not_reminded(db):
    w, plan, pathway = _started(db)
    content = load_content(plan.draft)
    for key in pathway.steps[0]["action_keys"]:
        content.find_action(key)[1].status = ActionStatus.DONE
    plan_services.save_draft(w.coord, plan, content, plan.draft_revision, SYSTEM)
    db.session.commit()
    assert send_pathway_step_reminders(date(2026, 3, 10)) == 0
    services.stop_pathway(w.coord, pathway, services.KEEP_ACTIONS, "", SYSTEM)
    db.session.commit()
    assert send_pathway_step_reminders(date(2026, 4, 30)) == 0


def test_late_step_is_a_dashboard_alert(db):
    from ptap.dashboards.alerts import AlertKind
    from ptap.dashboards.queries import build_dashboard

    w, _, _ = _started(db)

    def late(today):
        board = build_dashboard(w.team.id, w.coord.id, today=today)
        [row] = [r for r in board.rows if r.patient.patient_id == w.patient.id]
        return [a for a in row.alerts if a.kind == AlertKind.LATE_STEPS]

    assert late(date(2026, 3, 8)) == []
    [alert] = late(date(2026, 3, 30))
    assert alert.count == 2
    assert alert.since == date(2026, 3, 9)
    assert alert.detail == "Consultation de sortie"
