"""The DMP outbox end to end, from a GP's validation to the (fake) DMP and back.

A care-plan version validated by the GP of a qualified, consenting patient is queued in the
same transaction; ``send_due`` files it with the in-memory DMP (``dmp`` fixture). The gates,
the retries, a lost answer, an expired lease and the order of versions are checked here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from lxml import etree

from ptap.audit.services import SYSTEM, AuditContext
from ptap.care_plans import services as plan_services
from ptap.core.models import utcnow
from ptap.dmp_bridge import DmpRejected, DmpUnavailable, gates, outbox
from ptap.dmp_bridge.models import AttemptOutcome, DmpAttempt, DmpSubmission, SubmissionStatus
from ptap.filings import services
from tests.care_plans.test_services import build_world, sample_content, save, validated_plan

HL7 = "{urn:hl7-org:v3}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def fast(app):
    """Skip the CI-SIS validation of each CDA (one test keeps it: it takes seconds)."""
    app.config["DMP_VALIDATE_BEFORE_SEND"] = False


def rows(db) -> list[DmpSubmission]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(DmpSubmission).order_by(DmpSubmission.id)))


def attempts(db, row: DmpSubmission) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(DmpAttempt.outcome)
            .where(DmpAttempt.submission_id == row.id)
            .order_by(DmpAttempt.id)
        )
    )


def ctx(user) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


def validate_new_version(world, plan, expectations: str) -> None:
    """Publish a changed draft as a new version and record the GP's validation of it."""
    save(plan, world.coord, sample_content(world, expectations=expectations))
    assert plan_services.publish_version(world.coord, plan, expectations, SYSTEM) is not None
    plan_services.record_approval(world.physician, plan, "gp_validation", "meeting", "", SYSTEM)


def queued(db, world) -> DmpSubmission:
    """Validate version 1 and return its outbox row, committed with the validation."""
    validated_plan(world)
    db.session.commit()
    [row] = rows(db)
    return row


def test_gp_validation_queues_a_filing_and_send_due_files_it(db, world, dmp):
    row = queued(db, world)
    assert (row.status, row.operation, row.version_number) == ("pending", "file", 1)
    assert (row.patient_id, row.team_id) == (world.patient.id, world.team.id)
    assert row.requested_by_id == world.physician.id
    assert row.title.endswith("version 1") and row.document_oid.startswith("2.25.")
    # The CDA is checked against the CI-SIS schemas and schematrons before it leaves.
    assert outbox.send_due(dmp) == {"filed": 1}
    [row] = rows(db)
    assert row.status == SubmissionStatus.FILED and row.filed_at is not None
    assert row.attempts == 1 and attempts(db, row) == [AttemptOutcome.FILED]
    assert row.payload is not None
    cda = etree.fromstring(row.payload.cda)
    assert cda.find(f"{HL7}id").get("root") == row.document_oid
    assert cda.find(f"{HL7}setId").get("root") == row.document_set.set_oid
    assert row.payload.request == dmp.received[0].body
    assert row.payload.request_content_type == dmp.received[0].content_type
    assert list(dmp.documents) == [row.document_oid]


def test_a_second_validated_version_replaces_the_first(db, world, dmp, fast):
    plan = validated_plan(world)
    db.session.commit()
    assert outbox.send_due(dmp) == {"filed": 1}
    validate_new_version(world, plan, "Rester chez elle avec son chat")
    db.session.commit()
    first, second = rows(db)
    assert (second.status, second.version_number, second.set_id) == ("pending", 2, first.set_id)
    assert outbox.send_due(dmp) == {"filed": 1}
    first, second = rows(db)
    assert second.status == SubmissionStatus.FILED
    cda = etree.fromstring(second.payload.cda)
    parent = cda.find(f"{HL7}relatedDocument[@typeCode='RPLC']/{HL7}parentDocument/{HL7}id")
    assert parent is not None and parent.get("root") == first.document_oid
    assert cda.find(f"{HL7}setId").get("root") == first.document_set.set_oid
    assert cda.find(f"{HL7}versionNumber").get("value") == "2"
    request = etree.fromstring(second.payload.request)
    replaces = [a for a in request.iter(f"{RIM}Association") if a.get("associationType") == RPLC]
    assert [a.get("targetObject") for a in replaces] == [
        dmp.documents[first.document_oid].entry_uuid
    ]
    assert sorted(dmp.documents) == sorted([first.document_oid, second.document_oid])


def test_a_non_qualified_identity_blocks_until_qualified_and_released(db, world, dmp, fast):
    world.patient.identity_status = "validated"
    row = queued(db, world)
    assert (row.status, row.status_reason) == (SubmissionStatus.BLOCKED, gates.NOT_QUALIFIED)
    assert outbox.send_due(dmp) == {}  # a blocked row is never claimed
    assert dmp.received == []
    world.patient.identity_status = "qualified"
    services.release_filing(world.coord, row, ctx(world.coord))
    db.session.commit()
    assert outbox.send_due(dmp) == {"filed": 1}
    [row] = rows(db)
    assert row.status == SubmissionStatus.FILED and len(dmp.documents) == 1


def test_a_dmp_opposition_blocks_the_filing(db, world, dmp, fast):
    row = queued(db, world)
    world.patient.dmp_opposition = True  # recorded after the validation, before the send
    db.session.commit()
    assert outbox.send_due(dmp) == {"blocked": 1}
    [row] = rows(db)
    assert (row.status, row.status_reason) == (SubmissionStatus.BLOCKED, gates.OPPOSITION)
    assert attempts(db, row) == [AttemptOutcome.BLOCKED]
    assert dmp.received == [] and dmp.documents == {}


def test_a_transient_error_waits_then_files(db, app, world, dmp, fast):
    app.config["DMP_BACKOFF_SECONDS"] = 60
    queued(db, world)
    dmp.fail_next(DmpUnavailable("Le DMP ne répond pas (délai dépassé).", code="timeout"))
    before = utcnow()
    assert outbox.send_due(dmp) == {"pending": 1}
    [row] = rows(db)
    assert (row.status, row.status_reason, row.error_code) == (
        SubmissionStatus.PENDING,
        "Le DMP ne répond pas (délai dépassé).",
        "timeout",
    )
    assert row.next_attempt_at >= before + timedelta(seconds=30)  # backoff with jitter
    assert outbox.send_due(dmp) == {}  # not due yet
    row.next_attempt_at = utcnow() - timedelta(seconds=1)  # time passes
    db.session.commit()
    assert outbox.send_due(dmp) == {"filed": 1}
    [row] = rows(db)
    assert row.status == SubmissionStatus.FILED and row.attempts == 2
    assert attempts(db, row) == [AttemptOutcome.TRANSIENT_ERROR, AttemptOutcome.FILED]
    assert len(dmp.received) == 2 and len(dmp.documents) == 1


def test_a_permanent_error_fails_and_a_retry_files(db, world, dmp, fast):
    queued(db, world)
    dmp.fail_next(
        DmpRejected("Le DMP a refusé le document : INS inconnue.", code="XDSUnknownPatientId")
    )
    assert outbox.send_due(dmp) == {"failed": 1}
    [row] = rows(db)
    assert (row.status, row.status_reason, row.error_code) == (
        SubmissionStatus.FAILED,
        "Le DMP a refusé le document : INS inconnue.",
        "XDSUnknownPatientId",
    )
    assert outbox.send_due(dmp) == {}  # a failed row waits for a person
    services.retry_filing(world.coord, row, ctx(world.coord))
    db.session.commit()
    assert outbox.send_due(dmp) == {"filed": 1}
    [row] = rows(db)
    assert row.status == SubmissionStatus.FILED and len(dmp.documents) == 1


def test_exhausted_attempts_fail_with_their_count(db, app, world, dmp, fast):
    app.config["DMP_MAX_ATTEMPTS"] = 3
    queued(db, world)
    dmp.fail_next(*(DmpUnavailable("Erreur 503 du DMP.", code="http_503") for _ in range(3)))
    assert outbox.send_due(dmp) == {"pending": 2, "failed": 1}
    [row] = rows(db)
    assert row.status == SubmissionStatus.FAILED
    assert row.status_reason == "Échec après 3 tentatives ; dernière erreur : Erreur 503 du DMP."
    assert row.attempts == 3 and dmp.documents == {}


def test_a_lost_answer_is_found_in_the_dmp_and_never_sent_twice(db, world, dmp, fast):
    queued(db, world)
    dmp.lost_responses = 1
    counts = outbox.send_due(dmp)
    [row] = rows(db)
    assert counts == {"pending": 1, "filed": 1}
    assert row.status == SubmissionStatus.FILED
    assert attempts(db, row)[-1] == AttemptOutcome.ALREADY_FILED
    assert row.entry_uuid == dmp.documents[row.document_oid].entry_uuid
    assert len(dmp.documents) == 1 and len(dmp.received) == 1


def test_a_worker_whose_lease_expired_cannot_overwrite(db, app, world, dmp, fast):
    queued(db, world)
    [first] = outbox.claim_due(10, worker="worker-1")
    later = utcnow() + timedelta(seconds=float(app.config["DMP_LEASE_SECONDS"]) + 1)
    [second] = outbox.claim_due(10, now=later, worker="worker-2")
    assert first.row_id == second.row_id and first.token != second.token
    assert outbox.process(first, dmp) is None  # worker 1 woke up: the row is not its own
    assert dmp.received == []
    [row] = rows(db)
    assert (row.status, row.claimed_by) == (SubmissionStatus.IN_PROGRESS, "worker-2")
    assert outbox.process(second, dmp) == SubmissionStatus.FILED
    assert len(dmp.received) == 1


def test_versions_of_one_plan_go_in_order(db, world, dmp, fast):
    world.patient.identity_status = "validated"
    plan = validated_plan(world)
    db.session.commit()
    world.patient.identity_status = "qualified"  # qualified, but version 1 is not released
    validate_new_version(world, plan, "Rester chez elle avec son chat")
    db.session.commit()
    first, second = rows(db)
    assert (first.status, second.status) == (SubmissionStatus.BLOCKED, SubmissionStatus.PENDING)
    assert outbox.send_due(dmp) == {}  # version 2 waits behind the blocked version 1
    assert dmp.received == []
    services.release_filing(world.coord, first, ctx(world.coord))
    db.session.commit()
    assert outbox.send_due(dmp) == {"filed": 2}
    first, second = rows(db)
    assert [d.unique_id for d in dmp.documents.values()] == [
        first.document_oid,
        second.document_oid,
    ]
    assert first.filed_at <= second.filed_at
    cda = etree.fromstring(second.payload.cda)
    parent = cda.find(f"{HL7}relatedDocument/{HL7}parentDocument/{HL7}id")
    assert parent.get("root") == first.document_oid
