import logging

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM, record_event
from ptap.scheduler import JOBS, Job, run_job


def _count(db):
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def test_job_table_runs_the_audit_verification(app, db, caplog):
    job = next(j for j in JOBS if j.id == "verify_audit_chain")
    record_event(SYSTEM, "auth.login")
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="ptap"):
        run_job(app, job)
    assert "audit chain OK (1 rows)" in caplog.text


def test_job_commits_once_when_it_succeeds(app, db):
    run_job(app, Job("write", lambda: record_event(SYSTEM, "job.test"), JOBS[0].trigger))
    assert _count(db) == 1


def test_failed_job_rolls_back_and_is_logged(app, db, caplog):
    def crash() -> None:
        record_event(SYSTEM, "job.test")
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="ptap"):
        run_job(app, Job("crash", crash, JOBS[0].trigger))
    assert _count(db) == 0
    assert "job crash failed" in caplog.text
