"""`ptap demo` shows a living territory: the demo accounts find, at once, work of every kind,
dated relative to the clock (the screens are never stale), and a second run changes nothing.

One demo load at a frozen instant far from the real one: every "today" in the data must come
from the clock, or the due dates and the waiting urgent message would not be around it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES
from ptap.care_plans.models import CarePlan, CarePlanTask, CarePlanVersion
from ptap.care_plans.services import list_actions_to_define
from ptap.core import clock
from ptap.demo import load_demo
from ptap.extensions import db as _db
from ptap.messaging.models import Acknowledgement, Message
from tests.demo_census import census

#: A Monday morning in Paris, years away from the real clock.
FROZEN = datetime(2031, 3, 17, 8, 30, tzinfo=UTC)


def _row_counts() -> dict[str, int]:
    return {
        table.name: _db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
        for table in _db.metadata.sorted_tables
    }


def test_demo_accounts_see_a_believable_day_relative_to_the_clock(app, db):
    with clock.frozen(FROZEN):
        load_demo()
        today = clock.paris_today()
        seen = census()
        coordinator, gp, nurse = seen["coordination"], seen["medecin"], seen["infirmiere"]

        # Plans of the coordinator's patients in every lifecycle state, several versions.
        assert set(coordinator["plans"]) >= {
            "draft",
            "awaiting_gp",
            "awaiting_agreement",
            "active",
            "under_revision",
            "closed",
        }
        assert coordinator["plans_with_several_versions"] >= 5
        assert {"filed", "failed", "blocked"} <= set(coordinator["dmp_filings"])
        # Work waiting: an urgent message to acknowledge, attachments, consents, break-glass.
        assert coordinator["urgent_unacknowledged"] >= 1
        assert coordinator["attachments"] >= 1
        assert coordinator["consents_to_collect"] >= 1
        assert coordinator["break_glass_to_review"] >= 1
        assert coordinator["unassigned_actions"] >= 1
        # Actions with nobody yet say so: they are on the coordinator's "Actions à définir".
        coordinator_user = _db.session.scalar(
            sa.select(User).where(User.email.startswith("coordination@"))
        )
        assert list_actions_to_define(coordinator_user)
        # The GP, the nurse and the coordinator have tasks overdue and due this week.
        for counts in (gp, nurse):
            assert counts["my_tasks_overdue"] >= 1 and counts["my_tasks_due_7d"] >= 1
        assert coordinator["my_tasks_open"] >= 1

        # Dated around the frozen today: no open task is years late, none far ahead.
        open_tasks = db.session.scalars(
            sa.select(CarePlanTask).where(
                CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
                CarePlanTask.due_on.is_not(None),
            )
        ).all()
        assert open_tasks
        assert all(
            today - timedelta(days=60) <= t.due_on <= today + timedelta(days=200)
            for t in open_tasks
        )
        # Only recent urgent messages still wait; the older ones were acknowledged after.
        urgent = db.session.scalars(sa.select(Message).where(Message.priority == "urgent")).all()
        acknowledged = {a.message_id: a.at for a in db.session.scalars(sa.select(Acknowledgement))}
        waiting = [m for m in urgent if m.id not in acknowledged]
        assert waiting and all(FROZEN - _aware(m.created_at) <= timedelta(days=1) for m in waiting)
        assert all(
            _aware(acknowledged[m.id]) > _aware(m.created_at)
            for m in urgent
            if m.id in acknowledged
        )
        # History within the follow-up, never after the frozen now.
        versions = db.session.scalars(sa.select(CarePlanVersion)).all()
        assert all(_aware(v.created_at) <= FROZEN for v in versions)
        assert min(_aware(v.created_at) for v in versions) > FROZEN - timedelta(days=3 * 366)
        plans = db.session.scalars(sa.select(CarePlan)).all()
        assert all(_aware(p.created_at) <= FROZEN for p in plans)

        # A second run adds no row anywhere and does not fail.
        before = _row_counts()
        load_demo()
        assert _row_counts() == before


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
