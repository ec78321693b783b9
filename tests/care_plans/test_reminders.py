"""The reminder job on a frozen clock: each reminder once, across runs, restarts and processes.

Notifications are counted in the database. Reminders: an action due soon (2 days before), an
action overdue, and the plan's re-evaluation (7 days before), each once per target date.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from ptap import create_app
from ptap.accounts.notifications import Notification
from ptap.audit.services import SYSTEM
from ptap.care_plans import services, tasks
from ptap.care_plans.content import Action, PlanContent
from ptap.care_plans.models import ReminderLog
from ptap.extensions import db as _db
from ptap.extensions import socketio
from ptap.scheduler import JOBS, run_job
from tests.care_plans.test_services import (  # noqa: F401 - fixture
    build_world,
    open_plan,
    sample_content,
    save,
    with_action,
)

TODAY = date(2026, 3, 12)
JOB = next(job for job in JOBS if job.id == "care_plan_reminders")


@pytest.fixture
def world(db):
    """An active plan: `kine` (nurse) overdue, `ergo` (physician) due tomorrow, `later` (nurse)
    due next month, `done` finished; re-evaluation in three days (the coordinator leads)."""
    w = build_world()
    content = sample_content(w, next_review_on=date(2026, 3, 15))
    content.objectives[0].actions += [
        Action(
            key="ergo",
            what="Bilan ergo",
            assignee_user_id=w.physician.id,
            due_on=date(2026, 3, 13),
        ),
        Action(key="later", what="Bilan", assignee_user_id=w.nurse.id, due_on=date(2026, 4, 30)),
        Action(
            key="done",
            what="Fait",
            assignee_user_id=w.nurse.id,
            due_on=date(2026, 3, 1),
            status="done",
        ),
    ]
    plan = open_plan(w)
    save(plan, w.coord, content)
    services.publish_version(w.coord, plan, "Première version", SYSTEM)
    services.record_approval(w.physician, plan, "gp_validation", "in_person", "", SYSTEM)
    services.record_approval(w.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(w.coord, plan, SYSTEM)
    db.session.commit()
    w.plan = plan
    return w


def sent(db) -> Counter:
    """Count the reminders stored, by (kind, user id) (not the lifecycle and assignment
    notices the set-up's plan changes give: tests/care_plans/test_notices.py)."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Notification.kind, Notification.user_id).where(
            Notification.kind.in_(("task_due_soon", "task_overdue", "review_due"))
        )
    ).all()
    return Counter((kind, user_id) for kind, user_id in rows)


def test_each_reminder_is_sent_once_on_a_frozen_day(db, world):
    assert tasks.send_care_plan_reminders(today=TODAY) == 3
    db.session.commit()
    expected = Counter(
        {
            ("task_overdue", world.nurse.id): 1,  # kine, due 10/03
            ("task_due_soon", world.physician.id): 1,  # ergo, due 13/03
            ("review_due", world.coord.id): 1,  # re-evaluation 15/03
        }
    )
    assert sent(db) == expected
    assert tasks.send_care_plan_reminders(today=TODAY) == 0
    db.session.commit()
    assert sent(db) == expected


def test_moving_the_clock_sends_only_what_changed(db, world):
    tasks.send_care_plan_reminders(today=TODAY)
    db.session.commit()
    # One day later: the same reminders, same target dates, are not sent again.
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 13)) == 0
    # Two days later, ergo (due 13/03) is overdue: that is a new reminder, sent once.
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 14)) == 1
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 14)) == 0
    db.session.commit()
    counts = sent(db)
    assert counts[("task_due_soon", world.physician.id)] == 1
    assert counts[("task_overdue", world.physician.id)] == 1
    assert sum(counts.values()) == 4


def test_a_due_date_moved_later_gives_a_new_reminder_for_the_new_date(db, world):
    tasks.send_care_plan_reminders(today=TODAY)
    db.session.commit()
    content = with_action(
        PlanContent.model_validate(world.plan.draft), "kine", due_on=date(2026, 3, 20)
    )
    save(world.plan, world.nurse, content)
    db.session.commit()
    assert tasks.send_care_plan_reminders(today=TODAY) == 0  # 20/03 is not close yet
    # kine due soon for its new date (and ergo, due 13/03, now overdue).
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 18)) == 2
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 19)) == 0
    db.session.commit()
    targets = db.session.scalars(
        sa.select(ReminderLog.target_on).filter_by(item_key="kine").order_by(ReminderLog.id)
    ).all()
    assert targets == [date(2026, 3, 10), date(2026, 3, 20)]
    counts = sent(db)
    assert counts[("task_overdue", world.nurse.id)] == 1  # for 10/03, before the change
    assert counts[("task_due_soon", world.nurse.id)] == 1  # for 20/03


def test_a_new_reminder_is_pushed_live_even_when_others_were_already_sent(db, world, monkeypatch):
    tasks.send_care_plan_reminders(today=TODAY)
    db.session.commit()
    pushed = []
    monkeypatch.setattr(socketio, "emit", lambda event, data, **kw: pushed.append(data))
    # ergo's overdue reminder is new; kine's and the review's were sent on the 12th.
    assert tasks.send_care_plan_reminders(today=date(2026, 3, 14)) == 1
    db.session.commit()
    assert [p["kind"] for p in pushed] == ["task_overdue"]


def _another_process(database_url):
    """Build a second application on the same database, as another process would."""
    return create_app(
        {"ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": "test-secret-" + "x" * 32}
    )


def test_two_processes_on_the_same_database_send_each_reminder_once(
    app, db, world, database_url, monkeypatch
):
    """Two app instances (two scheduler processes, or one before and after a restart)."""
    monkeypatch.setattr(tasks, "_today", lambda: TODAY)
    second = _another_process(database_url)
    try:
        run_job(app, JOB)
        run_job(second, JOB)
        run_job(second, JOB)
        run_job(app, JOB)
        counts = sent(db)
        assert sorted(counts) == [
            ("review_due", world.coord.id),
            ("task_due_soon", world.physician.id),
            ("task_overdue", world.nurse.id),
        ]
        assert set(counts.values()) == {1}
        # A restart (a third process) the next day does not resend the same reminders.
        monkeypatch.setattr(tasks, "_today", lambda: date(2026, 3, 13))
        restarted = _another_process(database_url)
        run_job(restarted, JOB)
        with restarted.app_context():
            _db.engine.dispose()
        assert sum(sent(db).values()) == 3
    finally:
        with second.app_context():
            _db.engine.dispose()


def _leave_team(db, user, ends_on):
    from ptap.care_teams.models import TeamMembership

    membership = db.session.scalars(
        sa.select(TeamMembership).where(TeamMembership.user_id == user.id)
    ).one()
    membership.ends_on = ends_on
    db.session.commit()
    return membership


def test_a_professional_who_left_the_circle_gets_no_reminder(db, world):
    from datetime import timedelta

    from ptap.core import clock

    membership = _leave_team(db, world.nurse, clock.paris_today() - timedelta(days=1))
    # kine (the nurse's, overdue) is not sent; ergo and the re-evaluation are.
    assert tasks.send_care_plan_reminders(today=TODAY) == 2
    db.session.commit()
    assert ("task_overdue", world.nurse.id) not in sent(db)
    # Back in the team: the reminder is still owed, and sent once.
    membership.ends_on = None
    db.session.commit()
    assert tasks.send_care_plan_reminders(today=TODAY) == 1
    assert tasks.send_care_plan_reminders(today=TODAY) == 0
    db.session.commit()
    assert sent(db)[("task_overdue", world.nurse.id)] == 1


def test_a_lead_who_left_the_circle_gets_no_review_reminder(db, world):
    from datetime import timedelta

    from ptap.core import clock

    _leave_team(db, world.coord, clock.paris_today() - timedelta(days=1))
    tasks.send_care_plan_reminders(today=TODAY)
    db.session.commit()
    assert ("review_due", world.coord.id) not in sent(db)


def _add_tasks(db, world, count, start=0):
    from ptap.care_plans.models import CarePlanTask

    for n in range(start, start + count):
        db.session.add(
            CarePlanTask(
                plan_id=world.plan.id,
                patient_id=world.patient.id,
                action_key=f"extra{n}",
                objective="Prévenir les chutes",
                what=f"Action {n}",
                assignee_id=world.physician.id,
                due_on=date(2026, 3, 1),
                status="planned",
            )
        )
    db.session.commit()


def test_reminders_cost_the_same_statements_for_10_or_60_tasks(db, world, count_queries):
    tasks.send_care_plan_reminders(today=TODAY)  # the world's own reminders
    db.session.commit()
    costs = []
    for start, count in ((0, 10), (10, 60)):
        _add_tasks(db, world, count, start)
        with count_queries() as statements:
            assert tasks.send_care_plan_reminders(today=TODAY) == count
        costs.append(len(statements))
    assert costs[0] == costs[1]
    # A run with nothing new reads the two pending lists and nothing else.
    with count_queries() as statements:
        assert tasks.send_care_plan_reminders(today=TODAY) == 0
    assert len(statements) == 2


def test_reminders_go_out_batch_by_batch(db, world, monkeypatch):
    monkeypatch.setattr(tasks, "REMINDER_BATCH", 4)
    _add_tasks(db, world, 11)
    assert tasks.send_care_plan_reminders(today=TODAY) == 11 + 3
    assert sent(db)[("task_overdue", world.physician.id)] == 11
    assert tasks.send_care_plan_reminders(today=TODAY) == 0
