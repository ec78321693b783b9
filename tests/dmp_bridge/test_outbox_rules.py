"""Outbox rules at the edges: cancel racing a claim, version numbers, traced lookups."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from lxml import etree

from ptap import dmp_bridge
from ptap.core import clock
from ptap.core.errors import Conflict
from ptap.dmp_bridge import outbox
from ptap.dmp_bridge.models import DmpAttempt, DmpSubmission, SubmissionStatus
from tests.dmp_bridge import synthetic
from tests.factories import add_member, make_patient, make_team, make_user

HL7 = "{urn:hl7-org:v3}"


@pytest.fixture
def world(app, db):
    coordinator = make_user(profession="care_coordinator")
    team = make_team()
    add_member(team, coordinator, "coordinator")
    patient = make_patient(team, coordinator)
    synthetic.register()
    db.session.commit()
    return coordinator, team, patient


def _queue(world, n: int, set_key: str = "synthetic:set") -> DmpSubmission:
    coordinator, team, patient = world
    return dmp_bridge.request_filing(
        kind=dmp_bridge.DocumentKind.PPCS,
        set_key=set_key,
        source_ref=f"synthetic:{n}",
        patient_id=patient.id,
        team_id=team.id,
        title=f"Essai {n}",
        requested_by_id=coordinator.id,
    )


def test_cancel_loses_against_a_worker_that_just_claimed_the_row(world, db, dmp):
    row = _queue(world, 1)
    db.session.commit()
    page_copy = db.session.get(DmpSubmission, row.id)
    assert page_copy.status == SubmissionStatus.PENDING  # what the coordinator's page saw
    # Meanwhile a worker claims the row on its own connection and commits.
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(DmpSubmission)
            .where(DmpSubmission.id == row.id)
            .values(status=SubmissionStatus.IN_PROGRESS, lease_token="worker-token")
        )
    with pytest.raises(Conflict):
        dmp_bridge.cancel_submission(page_copy, "Plus nécessaire")
    db.session.rollback()
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.IN_PROGRESS


def test_versions_are_numbered_when_sent_skipping_cancelled_ones(world, db, dmp):
    first = _queue(world, 1)
    second = _queue(world, 2)
    third = _queue(world, 3)
    db.session.commit()
    dmp_bridge.cancel_submission(second, "Version retirée avant l'envoi")
    db.session.commit()
    outbox.send_due(dmp)
    filed = db.session.scalars(
        sa.select(DmpSubmission).where(DmpSubmission.status == SubmissionStatus.FILED)
    ).all()
    assert [r.id for r in filed] == [first.id, third.id]
    cda = etree.fromstring(db.session.get(DmpSubmission, third.id).payload.cda)
    assert cda.find(f"{HL7}versionNumber").get("value") == "2"
    parent = cda.find(f"{HL7}relatedDocument/{HL7}parentDocument/{HL7}id")
    assert parent.get("root") == first.document_oid


def test_a_lost_answer_found_in_the_dmp_is_traced_as_its_own_attempt(world, db, dmp):
    row = _queue(world, 1)
    db.session.commit()
    dmp.lost_responses = 1
    # Stored, but the answer is lost: pending again, then (no backoff in tests) found by ITI-18.
    outbox.send_due(dmp)
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.FILED
    attempts = db.session.scalars(
        sa.select(DmpAttempt).where(DmpAttempt.submission_id == row.id).order_by(DmpAttempt.id)
    ).all()
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, "transient_error"),
        (2, "already_filed"),
    ]
    assert len(dmp.received) == 1


def test_a_version_whose_predecessor_was_deleted_is_filed_as_new(world, db, dmp):
    first = _queue(world, 1)
    db.session.commit()
    outbox.send_due(dmp)
    del dmp.documents[first.document_oid]  # deleted from the DMP at the patient's request
    second = _queue(world, 2)
    db.session.commit()
    outbox.send_due(dmp)
    row = db.session.get(DmpSubmission, second.id)
    assert row.status == SubmissionStatus.FILED
    cda = etree.fromstring(row.payload.cda)
    assert cda.find(f"{HL7}relatedDocument") is None


def test_deleting_a_document_already_gone_from_the_dmp_succeeds(world, db, dmp):
    first = _queue(world, 1)
    db.session.commit()
    outbox.send_due(dmp)
    filed = db.session.get(DmpSubmission, first.id)
    delete = dmp_bridge.request_operation(filed, dmp_bridge.Operation.DELETE, None)
    db.session.commit()
    del dmp.documents[first.document_oid]
    outbox.send_due(dmp)
    assert db.session.get(DmpSubmission, delete.id).status == SubmissionStatus.FILED


def test_a_worker_paused_mid_send_past_its_lease_cannot_overwrite(app, world, db, dmp):
    row = _queue(world, 1)
    db.session.commit()
    lease = timedelta(seconds=float(app.config["DMP_LEASE_SECONDS"]))
    t0 = clock.now()
    taken_over: list[outbox.Claim] = []
    real_send = dmp.send_submission

    def paused_send(prepared):
        # Worker 1 stalls inside the DMP call past its lease; worker 2 takes the row over.
        clock.set_source(lambda: t0 + lease + timedelta(seconds=1))
        taken_over.append(outbox.claim_next(worker="worker-2"))
        return real_send(prepared)  # ...then worker 1's request lands after all

    with clock.frozen(t0):
        first = outbox.claim_next(worker="worker-1")
        dmp.send_submission = paused_send
        assert outbox.process(first, dmp) is None  # its late writes were dropped
        dmp.send_submission = real_send
        [second] = taken_over
        assert second is not None and second.row_id == first.row_id == row.id
        db.session.expire_all()
        held = db.session.get(DmpSubmission, row.id)
        assert (held.status, held.claimed_by, held.lease_token) == (
            SubmissionStatus.IN_PROGRESS,
            "worker-2",
            second.token,
        )
        assert held.filed_at is None
        # Worker 2 finds the document worker 1 sent (its attempt was committed first).
        assert outbox.process(second, dmp) == SubmissionStatus.FILED
    assert len(dmp.received) == 1 and len(dmp.documents) == 1
    outcomes = db.session.scalars(
        sa.select(DmpAttempt.outcome).where(DmpAttempt.submission_id == row.id)
    ).all()
    assert outcomes == ["already_filed"]  # worker 1's attempt, closed by worker 2's lookup


def test_each_claimed_row_has_its_own_lease_token(world, db, dmp):
    for n in range(3):
        _queue(world, n, set_key=f"synthetic:set{n}")
    db.session.commit()
    claims = outbox.claim_due(3, worker="worker-1")
    assert len({c.row_id for c in claims}) == 3
    assert len({c.token for c in claims}) == 3
