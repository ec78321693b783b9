"""Reads of DMP filings: order, what needs attention, need-to-know, constant query counts."""

from __future__ import annotations

from datetime import timedelta

from ptap.core.models import utcnow
from ptap.dmp_bridge.models import AttemptOutcome, DmpAttempt, SubmissionStatus
from ptap.extensions import db as _db
from ptap.filings import queries
from tests.factories import make_patient
from tests.filings.conftest import add_payload, make_row


def test_patient_list_is_newest_first_with_attempts_and_last_error(db, org):
    first = make_row(org.patient, org.team, by=org.gp, status=SubmissionStatus.FILED)
    second = make_row(org.patient, org.team, status=SubmissionStatus.FAILED, attempts=2)
    db.session.add_all(
        [
            DmpAttempt(
                submission_id=second.id,
                number=1,
                outcome=AttemptOutcome.TRANSIENT_ERROR,
                message="Le DMP ne répond pas.",
            ),
            DmpAttempt(
                submission_id=second.id,
                number=2,
                outcome=AttemptOutcome.PERMANENT_ERROR,
                error_code="XDSPatientIdDoesNotMatch",
                message="INS inconnue du DMP.",
            ),
        ]
    )
    add_payload(first, request=None)
    make_row(org.other_patient, org.other_team)
    rows = queries.list_patient_submissions(org.patient.id)
    assert [r.submission.id for r in rows] == [second.id, first.id]
    assert rows[0].submission.attempts == 2
    assert rows[0].last_error == "INS inconnue du DMP."
    assert (rows[0].has_cda, rows[0].has_request) == (False, False)
    assert (rows[1].has_cda, rows[1].has_request) == (True, False)
    assert rows[1].requested_by == org.gp.full_name and rows[1].last_error == ""
    assert rows[1].set_oid == first.document_set.set_oid


def test_team_attention_lists_blocked_failed_late_and_retrying_rows(db, org):
    now = utcnow()
    blocked = make_row(org.patient, org.team, status=SubmissionStatus.BLOCKED)
    failed = make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    late = make_row(org.patient, org.team, next_attempt_at=now - timedelta(hours=1))
    retrying = make_row(
        org.patient, org.team, attempts=2, next_attempt_at=now + timedelta(minutes=5)
    )
    stuck = make_row(
        org.patient,
        org.team,
        status=SubmissionStatus.IN_PROGRESS,
        lease_until=now - timedelta(hours=1),
    )
    make_row(org.patient, org.team)  # due now: the sender takes it
    make_row(org.patient, org.team, attempts=1, next_attempt_at=now + timedelta(minutes=1))
    make_row(org.patient, org.team, status=SubmissionStatus.IN_PROGRESS, lease_until=now)
    make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    make_row(org.patient, org.team, status=SubmissionStatus.CANCELLED)
    make_row(org.other_patient, org.other_team, status=SubmissionStatus.FAILED)
    rows = queries.list_team_attention(org.team.id, org.coord.id, now=now)
    assert [r.submission.id for r in rows] == [
        blocked.id,
        failed.id,
        late.id,
        retrying.id,
        stuck.id,
    ]
    counts = queries.count_attention_by_team(
        [org.team.id, org.other_team.id], org.coord.id, now=now
    )
    # The other team's row is not counted for a coordinator without need-to-know on it.
    assert counts == {org.team.id: 5}
    other = queries.count_attention_by_team([org.other_team.id], org.other_coord.id, now=now)
    assert other == {org.other_team.id: 1}


def test_filter_query_keeps_to_need_to_know(db, org):
    mine = make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    make_row(org.patient, org.team)
    theirs = make_row(org.other_patient, org.other_team, status=SubmissionStatus.FAILED)

    def ids(user, **filters):
        stmt = queries.submissions_query(user.id, **filters)
        return sorted(db.session.scalars(stmt).all(), key=lambda r: r.id)

    assert [r.id for r in ids(org.nurse, status="failed")] == [mine.id]
    assert [r.id for r in ids(org.other_coord)] == [theirs.id]
    assert ids(org.nurse, patient_id=org.other_patient.id) == []
    assert ids(org.admin) == []
    assert len(ids(org.nurse, team_id=org.team.id)) == 2


def _bulk(org, n: int) -> None:
    for _ in range(n):
        patient = make_patient(org.team, org.coord)
        row = make_row(patient, org.team, by=org.gp, status=SubmissionStatus.FAILED, attempts=1)
        _db.session.add(DmpAttempt(submission_id=row.id, number=1, message="Refusé"))
        add_payload(row)
        mine = make_row(org.patient, org.team, by=org.gp, status=SubmissionStatus.BLOCKED)
        _db.session.add(DmpAttempt(submission_id=mine.id, number=1, message="Bloqué"))


def test_lists_run_a_constant_number_of_queries(db, org, count_queries):
    counts = []
    for n in (1, 6):
        _bulk(org, n)
        db.session.commit()
        db.session.expire_all()
        with count_queries() as seen:
            patient_rows = queries.list_patient_submissions(org.patient.id)
            team_rows = queries.list_team_attention(org.team.id, org.coord.id)
            for row in [*patient_rows, *team_rows]:
                # What the pages read of each row must already be loaded.
                _ = (row.submission.title, row.set_oid, row.last_error, row.patient.display_name)
            stmt = queries.submissions_query(org.coord.id)
            for row in db.session.scalars(stmt).all():
                _ = row.document_set.set_oid
        counts.append(len(seen))
    assert len(team_rows) == 14 and len(patient_rows) == 7
    assert counts[0] == counts[1]
