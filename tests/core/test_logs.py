"""Request ids, the access log, JSON lines and the scheduler's job log."""

import json
import logging

from ptap.core.logs import JsonFormatter, RequestIdFilter
from ptap.scheduler import JOBS, Job, run_job


def _access_records(caplog):
    return [r for r in caplog.records if r.name == "ptap.access"]


def test_request_id_is_echoed_and_logged(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="ptap.access"):
        response = client.get("/login", headers={"X-Request-ID": "abc-123.def"})
    assert response.headers["X-Request-ID"] == "abc-123.def"
    (record,) = _access_records(caplog)
    assert "GET /login 200" in record.getMessage()
    assert "request_id=abc-123.def" in record.getMessage()
    assert record.request_id == "abc-123.def"
    assert record.status == 200
    assert record.duration_ms >= 0


def test_an_insane_request_id_is_replaced(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="ptap.access"):
        response = client.get("/login", headers={"X-Request-ID": 'x" forged=1 <script>'})
    generated = response.headers["X-Request-ID"]
    assert "forged" not in generated
    assert len(generated) == 32
    (record,) = _access_records(caplog)
    assert record.request_id == generated


def test_each_request_gets_its_own_id_and_redirects_are_logged(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="ptap.access"):
        first = client.get("/")
        second = client.get("/")
    assert first.status_code == 302
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert [r.status for r in _access_records(caplog)] == [302, 302]


def test_health_checks_log_at_debug_unless_they_fail(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="ptap.access"):
        assert client.get("/healthz").headers["X-Request-ID"]
        client.get("/readyz")  # no heartbeat in tests: 503
    assert [r.path for r in _access_records(caplog)] == ["/readyz"]


def test_json_lines_carry_the_extras_and_the_traceback():
    record = logging.LogRecord("ptap.x", logging.ERROR, __file__, 1, "boom %s", ("now",), None)
    record.job_id = "send_dmp_submissions"
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RequestIdFilter().filter(record)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "boom now"
    assert data["level"] == "ERROR"
    assert data["job_id"] == "send_dmp_submissions"
    assert data["request_id"] == "-"
    assert "RuntimeError: kaput" in data["exc"]


def test_scheduler_logs_each_run_with_duration_and_outcome(app, db, caplog):
    with caplog.at_level(logging.INFO, logger="ptap"):
        run_job(app, Job("noop", lambda: None, JOBS[0].trigger))
    (record,) = [r for r in caplog.records if getattr(r, "job_id", None) == "noop"]
    assert record.outcome == "ok"
    assert record.duration_ms >= 0
    assert "job noop ok in" in record.getMessage()


def test_scheduler_logs_a_failure_with_its_traceback(app, db, caplog):
    def crash() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="ptap"):
        run_job(app, Job("crash", crash, JOBS[0].trigger))
    (record,) = [r for r in caplog.records if getattr(r, "job_id", None) == "crash"]
    assert record.outcome == "failed"
    assert record.exc_info is not None
    assert "RuntimeError: boom" in caplog.text


def test_the_invitation_token_never_reaches_the_access_log(client, db, caplog):
    secret = "s3cretTOKENabcdefghijklmnopqrstuvwxyz012345"
    with caplog.at_level(logging.INFO, logger="ptap.access"):
        client.get(f"/espace/invitation/{secret}")
    (record,) = _access_records(caplog)
    assert secret not in record.getMessage() and secret not in record.path
    assert "/espace/invitation/[redacted]" in record.getMessage()
    assert all(secret not in r.getMessage() for r in caplog.records)
