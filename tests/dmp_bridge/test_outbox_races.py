"""Two transactions asking to file the same version at once get one row (PostgreSQL only).

request_filing and its document set used to check, then insert: two concurrent requests both
saw nothing and both inserted, so one version was filed twice. The partial unique index and
INSERT … ON CONFLICT DO NOTHING leave one row, returned to both callers. The second
transaction is made to check *before* the first commits: the main thread waits until it is
blocked on the first one's uncommitted row, then lets the first commit.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.dmp_bridge.models import DmpDocumentSet, DmpSubmission
from tests.dmp_bridge import synthetic
from tests.factories import add_member, make_patient, make_team, make_user

WAIT = 20.0  # seconds before giving up on a thread (a hang, not a measurement)


def _waiting_on_a_lock(db) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_two_concurrent_requests_for_one_version_queue_one_filing(app, db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs PostgreSQL")
    coordinator = make_user(profession="care_coordinator")
    team = make_team()
    add_member(team, coordinator, "coordinator")
    patient = make_patient(team, coordinator)
    synthetic.register()
    db.session.commit()
    ids = (coordinator.id, team.id, patient.id)
    first_flushed, first_may_commit = threading.Event(), threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def request(name: str, before_commit: threading.Event | None) -> None:
        try:
            with app.app_context():
                row = dmp_bridge.request_filing(
                    kind=dmp_bridge.DocumentKind.PPCS,
                    set_key="care_plan:race",
                    source_ref="care_plan_version:race",
                    patient_id=ids[2],
                    team_id=ids[1],
                    title="Plan, version 1",
                    requested_by_id=ids[0],
                )
                results[name] = row.id
                if before_commit is not None:
                    first_flushed.set()
                    assert before_commit.wait(WAIT)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            first_flushed.set()

    first = threading.Thread(target=request, args=("first", first_may_commit))
    second = threading.Thread(target=request, args=("second", None))
    first.start()
    assert first_flushed.wait(WAIT)
    second.start()  # checks, finds nothing committed, then waits on the first's row
    deadline = time.monotonic() + WAIT
    while _waiting_on_a_lock(db) == 0 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    first_may_commit.set()
    first.join(WAIT)
    second.join(WAIT)
    assert errors == []
    assert results["first"] == results["second"]
    db.session.expire_all()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(DmpSubmission))
    sets = db.session.scalar(sa.select(sa.func.count()).select_from(DmpDocumentSet))
    assert (count, sets) == (1, 1)
