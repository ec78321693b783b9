"""Races: two publishes of one plan at once, two enrolments at once (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams.models import Enrolment
from ptap.core.errors import Conflict
from ptap.extensions import db as _db
from tests.care_plans.test_services import build_world, drafted_plan
from tests.conftest import PG_URL
from tests.factories import add_member, make_team

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="SQLite serialises writers: the race needs PostgreSQL's row locks"
)


@pytest.fixture
def world(db):
    return build_world()


def _race(app, work, n=2):
    """Run `work()` in n threads, each in its own app context (session), started together;
    return the exception each raised (None when it committed)."""
    barrier = threading.Barrier(n)
    outcomes: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                work()
                _db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                _db.session.rollback()
                outcomes[i] = exc
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_concurrent_publishes_make_one_version_and_no_error(app, db, world):
    plan = drafted_plan(world)
    plan_id, coord_id = plan.id, world.coord.id
    db.session.commit()

    def publish() -> None:
        from ptap.accounts.models import User

        own_plan = _db.session.get(CarePlan, plan_id)
        # Both requests read the plan (and its current version: none) before either writes.
        assert own_plan is not None and own_plan.current_version is None
        services.publish_version(_db.session.get(User, coord_id), own_plan, "v1", SYSTEM)

    assert _race(app, publish) == [None, None]
    db.session.expire_all()
    numbers = db.session.scalars(
        sa.select(CarePlanVersion.number).where(CarePlanVersion.plan_id == plan_id)
    ).all()
    assert numbers == [1]


def test_two_concurrent_enrolments_of_one_patient_in_one_team_leave_one(app, db, world):
    from ptap.care_teams import services as team_services

    second = make_team("Équipe Vaise")
    add_member(second, world.coord, "coordinator")
    patient_id, team_id, coord_id = world.patient.id, second.id, world.coord.id
    db.session.commit()

    def enrol() -> None:
        from ptap.accounts.models import User
        from ptap.care_teams.models import CareTeam, Patient

        team_services.enrol_patient(
            _db.session.get(User, coord_id),
            _db.session.get(Patient, patient_id),
            _db.session.get(CareTeam, team_id),
            team_services.EnrolmentRequest(
                requested_on=date(2026, 1, 5), requester_kind="gp", problem_categories=("medical",)
            ),
            SYSTEM,
        )

    outcomes = _race(app, enrol)
    # One wins; the other is refused by the check or, racing past it, by the unique index.
    assert outcomes.count(None) == 1
    [error] = [o for o in outcomes if o is not None]
    assert isinstance(error, (sa.exc.IntegrityError, Conflict)), error
    db.session.expire_all()
    open_ones = db.session.scalar(
        sa.select(sa.func.count(Enrolment.id)).where(
            Enrolment.patient_id == patient_id,
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
        )
    )
    assert open_ones == 1
