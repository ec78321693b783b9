"""Races: two decision forms for one patient posted at once (PostgreSQL, real threads)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import SYSTEM
from ptap.care_plans.models import CarePlanVersion
from ptap.core.errors import Conflict
from ptap.extensions import db as _db
from ptap.meetings import services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import MeetingAgendaItem, MeetingDecision
from tests.care_plans.test_concurrency import _race
from tests.conftest import PG_URL
from tests.meetings.helpers import build_meeting_world, reach_quorum

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="SQLite serialises writers: the race needs PostgreSQL's row locks"
)


def test_two_decision_forms_on_one_base_make_one_version_and_one_conflict(app, db):
    w = build_meeting_world()
    reach_quorum(w)
    db.session.commit()
    coord_id, item_id, base_id, plan_id = w.coord.id, w.item.id, w.version.id, w.plan.id

    def decide() -> None:
        item = _db.session.get_one(MeetingAgendaItem, item_id)
        user = _db.session.get_one(User, coord_id)
        # Both requests read the plan (version 1 in force) before either writes.
        decisions = [DecisionInput("update_action", {"action_key": "kine", "status": "done"})]
        services.record_decisions(user, item, "Discussion", decisions, base_id, SYSTEM)

    outcomes = _race(app, decide)
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
    assert all(o is None or isinstance(o, Conflict) for o in outcomes)
    db.session.expire_all()
    numbers = db.session.scalars(
        sa.select(CarePlanVersion.number).where(CarePlanVersion.plan_id == plan_id)
    ).all()
    assert numbers == [1, 2]
    assert db.session.scalar(sa.select(sa.func.count(MeetingDecision.id))) == 1
