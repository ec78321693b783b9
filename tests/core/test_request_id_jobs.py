"""An outbox row keeps the X-Request-ID of the request that queued it; the job logs with it."""

import logging

import pytest

from ptap.core import mail
from ptap.core.logs import RequestIdFilter, _start_request, current_request_id
from ptap.core.mail import queue_mail
from ptap.scheduler import JOBS, run_job


class Capture(logging.Handler):
    """A handler like production's: its filter gives each record its request id."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture():
    handler = Capture()
    logger = logging.getLogger("ptap")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_mail_job_logs_with_the_request_id_of_the_request_that_queued_it(app, db, capture):
    app.config["MAIL_TRANSPORT"] = "memory"
    mail.MEMORY_RELAY.sent.clear()
    with app.test_request_context("/", headers={"X-Request-ID": "proxy-req-42"}):
        _start_request()  # the first before_request hook, as in a real request
        row = queue_mail("soignant@example.test", "Sujet", "Corps")
        db.session.commit()
    assert row.request_id == "proxy-req-42"
    job = next(j for j in JOBS if j.id == "send_queued_mail")
    run_job(app, job)
    sent = [r for r in capture.records if "handed to the relay" in r.getMessage()]
    assert [r.request_id for r in sent] == ["proxy-req-42"]  # type: ignore[attr-defined]
    # The job's own summary line is outside the row: it carries no request id.
    job_line = next(r for r in capture.records if getattr(r, "job_id", "") == job.id)
    assert job_line.request_id == "-"  # type: ignore[attr-defined]
    assert current_request_id() is None
    mail.MEMORY_RELAY.sent.clear()


def test_rows_queued_outside_a_request_have_no_request_id(app, db):
    app.config["MAIL_TRANSPORT"] = "memory"
    row = queue_mail("soignant@example.test", "Sujet", "Corps")
    db.session.commit()
    assert row.request_id == ""
