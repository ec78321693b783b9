"""Races on one request: two conversions, a closure against an answer (PostgreSQL, threads)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.core.errors import Conflict
from ptap.extensions import db as _db
from ptap.intake import services
from ptap.intake.models import RequestStatus, SupportRequest
from tests.care_plans.test_concurrency import _race
from tests.conftest import PG_URL
from tests.intake.test_services import ctx, data, identity, world  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="SQLite serialises writers: the race needs PostgreSQL's row locks"
)

NOW = datetime(2026, 4, 3, 17, 30, tzinfo=PARIS)


def _triaged(world) -> int:  # noqa: F811
    req = services.register_request(world.member, world.team, data(), ctx(world.member))
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    _db.session.commit()
    return req.id


def _as(user_id: int, request_id: int):
    from ptap.accounts.models import User

    return _db.session.get(User, user_id), _db.session.get_one(SupportRequest, request_id)


def test_two_concurrent_conversions_make_one_enrolment_and_one_conflict(app, db, world):  # noqa: F811
    with clock.frozen(NOW):
        request_id, coord_id = _triaged(world), world.coordinator.id

        def convert() -> None:
            user, req = _as(coord_id, request_id)
            assert req.is_open  # both read the request open before either writes
            services.convert_to_enrolment(user, req, SYSTEM, identity=identity())

        outcomes = _race(app, convert)
    assert outcomes.count(None) == 1
    [error] = [o for o in outcomes if o is not None]
    assert isinstance(error, Conflict) and error.status == 409, error
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Patient)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 1
    req = db.session.get(SupportRequest, request_id)
    assert req.status == RequestStatus.CONVERTED and req.enrolment_id is not None


def test_a_closure_racing_an_answer_leaves_the_request_closed_or_refuses(app, db, world):  # noqa: F811
    with clock.frozen(NOW):
        request_id = _triaged(world)
        coord_id, member_id = world.coordinator.id, world.member.id
        turn = iter(["close", "answer"])

        def act() -> None:
            what = next(turn)
            if what == "close":
                user, req = _as(coord_id, request_id)
                services.close_request(user, req, "oriented", "", SYSTEM)
            else:
                user, req = _as(member_id, request_id)
                services.answer_request(user, req, "Rappel du médecin.", SYSTEM)

        outcomes = _race(app, act)
    db.session.expire_all()
    req = db.session.get(SupportRequest, request_id)
    # Whatever the order, a closed request never goes back to "answered".
    if all(o is None for o in outcomes):
        assert req.status == RequestStatus.CLOSED and req.first_answer_at is not None
    else:
        assert [type(o) for o in outcomes if o is not None] == [Conflict]
        assert req.status == RequestStatus.CLOSED
