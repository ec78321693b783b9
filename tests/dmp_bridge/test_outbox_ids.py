"""DMP uniqueIds that never repeat, and a duplicate answer that must prove the filing is ours.

The issue's reset scenario: a filing's uniqueId used to be the OID root + the outbox row id,
so after a database reset a new filing reused an id already in the DMP, the DMP answered
XDSDuplicateUniqueIdInRegistry and the row was shown "Déposé dans le DMP" with nothing filed
for that patient. End to end against the simulator (SOAP, signed VIHF, ITI-18 per patient).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.devtools.dmp_simulator import RunningSimulator, start_in_thread
from ptap.dmp_bridge import outbox, runtime
from ptap.dmp_bridge.models import (
    DmpAttempt,
    DmpDocumentSet,
    DmpPayload,
    DmpSubmission,
    SubmissionStatus,
)
from tests.dmp_bridge import synthetic
from tests.factories import add_member, make_patient, make_team, make_user

UUID_OID = re.compile(r"^2\.25\.[1-9][0-9]{0,38}$")


@pytest.fixture
def world(app, db):
    app.config["DMP_VALIDATE_BEFORE_SEND"] = False  # conformance is proved elsewhere
    coordinator = make_user(profession="care_coordinator")
    team = make_team()
    add_member(team, coordinator, "coordinator")
    first = make_patient(team, coordinator)
    second = make_patient(team, coordinator)
    synthetic.register()
    db.session.commit()
    return coordinator, team, first, second


def _queue(world, n: int, patient) -> DmpSubmission:
    coordinator, team, _, _ = world
    return dmp_bridge.request_filing(
        kind=dmp_bridge.DocumentKind.PPCS,
        set_key=f"synthetic:{n}",
        source_ref=f"synthetic:{n}",
        patient_id=patient.id,
        team_id=team.id,
        title=f"Essai {n}",
        requested_by_id=coordinator.id,
    )


def _reset_outbox(db) -> None:
    """What a database reset (or a restore from an older backup) does to the outbox."""
    db.session.rollback()
    for model in (DmpAttempt, DmpPayload, DmpSubmission, DmpDocumentSet):
        db.session.execute(sa.delete(model))
    db.session.commit()


def _row(db, row_id: int) -> DmpSubmission:
    db.session.expire_all()
    return db.session.get(DmpSubmission, row_id)


@pytest.fixture
def simulator(app) -> Iterator[RunningSimulator]:
    _, running = start_in_thread("127.0.0.1", 0, seed=11)
    app.config.update(DMP_TRANSPORT="soap", DMP_BASE_URL=running.base_url, DMP_TIMEOUT_SECONDS=5)
    app.extensions.pop("dmp_transport", None)
    yield running
    app.extensions.pop("dmp_transport", None)
    running()


def _held_for(simulator: RunningSimulator, patient) -> list[str]:
    """uniqueIds of every entry the simulator holds for this patient (signatures included)."""
    response = requests.get(f"{simulator.control_url}/documents", timeout=5)
    return [
        d["unique_id"]
        for d in response.json()
        if d["patient_id"].startswith(patient.ins_matricule + "^")
    ]


def _faults(simulator: RunningSimulator, body: dict) -> None:
    requests.post(f"{simulator.control_url}/faults", json=body, timeout=5).raise_for_status()


def test_unique_ids_are_uuid_derived_decided_once_and_distinct(world, db, dmp):
    _, _, patient, _ = world
    row = _queue(world, 1, patient)
    db.session.commit()
    document_oid, set_oid = row.document_oid, row.submission_set_oid
    assert UUID_OID.match(document_oid) and UUID_OID.match(set_oid)
    assert UUID_OID.match(row.document_set.set_oid)
    assert len({document_oid, set_oid, row.document_set.set_oid}) == 3
    dmp.fail_next(dmp_bridge.DmpUnavailable("indisponible", code="http_500"))
    outbox.send_due(dmp)  # a failed attempt, then the retry: the same ids both times
    filed = _row(db, row.id)
    assert filed.status == SubmissionStatus.FILED and filed.attempts == 2
    assert (filed.document_oid, filed.submission_set_oid) == (document_oid, set_oid)
    assert list(dmp.documents) == [document_oid]


def test_after_a_reset_a_new_filing_gets_new_ids_and_is_filed(world, db, dmp):
    _, _, patient, _ = world
    before = _queue(world, 1, patient)
    db.session.commit()
    outbox.send_due(dmp)
    old_oid = before.document_oid
    _reset_outbox(db)
    after = _queue(world, 1, patient)  # same source (and on SQLite the same row id)
    db.session.commit()
    assert after.document_oid != old_oid
    outbox.send_due(dmp)
    assert _row(db, after.id).status == SubmissionStatus.FILED
    assert set(dmp.documents) == {old_oid, after.document_oid}


def test_a_duplicate_of_another_document_fails_with_a_plain_reason(world, db, dmp):
    _, _, patient, _ = world
    first = _queue(world, 1, patient)
    db.session.commit()
    outbox.send_due(dmp)
    old_oid = first.document_oid
    # Same patient, other content, the first filing's uniqueId (as after a restore).
    _reset_outbox(db)
    second = _queue(world, 2, patient)
    second.document_oid = old_oid
    db.session.commit()
    outbox.send_due(dmp)
    row = _row(db, second.id)
    assert row.status == SubmissionStatus.FAILED
    assert row.error_code == outbox.UNIQUE_ID_TAKEN
    assert "rien n'a été déposé" in row.status_reason
    assert row.entry_uuid == ""
    assert len(dmp.documents) == 1


def test_reset_scenario_end_to_end_the_duplicate_is_not_counted_as_filed(world, db, simulator):
    _, _, first_patient, second_patient = world
    runtime.signer()
    first = _queue(world, 1, first_patient)
    db.session.commit()
    transport = runtime.transport()
    assert outbox.send_due(transport) == {"filed": 1}
    old_oid = first.document_oid
    assert old_oid in _held_for(simulator, first_patient)

    # The database is reset; a new filing for another patient gets the old uniqueId, as the
    # former "<root>.2.<row id>" scheme gave it. Its first attempt meets a transient fault,
    # so the duplicate answer comes on a retry, exactly as reported.
    _reset_outbox(db)
    second = _queue(world, 2, second_patient)
    second.document_oid = old_oid
    db.session.commit()
    _faults(simulator, {"modes": ["http_500"], "services": ["repository"], "count": 1})
    outbox.send_due(transport)

    row = _row(db, second.id)
    assert row.attempts == 2
    assert row.status == SubmissionStatus.FAILED, row.status_reason
    assert row.error_code == outbox.UNIQUE_ID_TAKEN
    assert row.entry_uuid == "" and row.filed_at is None
    assert "Le DMP contient déjà un document" in row.status_reason
    # Nothing was filed for the second patient.
    assert _held_for(simulator, second_patient) == []
    stats = requests.get(f"{simulator.control_url}/stats", timeout=5).json()
    assert stats["duplicates"] == {old_oid: 1}


def test_a_lost_answer_then_a_duplicate_of_our_own_document_is_filed(world, db, simulator):
    _, _, patient, _ = world
    runtime.signer()
    row = _queue(world, 1, patient)
    db.session.commit()
    transport = runtime.transport()
    # Stored, then the answer is lost: the retry's ITI-18 finds it and checks it is ours.
    _faults(
        simulator,
        {"modes": ["lost_response"], "services": ["repository"], "count": 1},
    )
    outbox.send_due(transport)
    filed = _row(db, row.id)
    assert filed.status == SubmissionStatus.FILED
    assert filed.entry_uuid
    assert _held_for(simulator, patient).count(row.document_oid) == 1
