"""/metrics: refused without the bearer token; request, job, login and outbox metrics."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ptap.accounts.services import BAD_CREDENTIALS
from ptap.core import clock
from ptap.core.mail import MailKind, queue_mail
from ptap.scheduler import JOBS, Job, run_job
from tests.conftest import csrf_token
from tests.factories import make_user

TOKEN = "m" * 40
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def scrape(app, client):
    app.config["METRICS_TOKEN"] = TOKEN

    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", headers=BEARER)
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples
        }

    return read


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_configured_token(app, client, db):
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_metrics_are_refused_without_the_right_bearer_token(app, client, db, header):
    app.config["METRICS_TOKEN"] = TOKEN
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "ptap_" not in response.get_data(as_text=True)


def test_requests_are_counted_by_endpoint_and_status_never_by_url(client, db, scrape):
    before = scrape()
    client.get("/healthz")
    client.get("/healthz")
    client.get("/patients/123456/secret-looking-path")
    after = scrape()
    ok = {"endpoint": "core.healthz", "method": "GET", "status": "200"}
    assert _value(after, "ptap_http_requests_total", **ok) - _value(
        before, "ptap_http_requests_total", **ok
    ) == pytest.approx(2)
    missing = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    assert _value(after, "ptap_http_requests_total", **missing) > _value(
        before, "ptap_http_requests_total", **missing
    )
    assert _value(after, "ptap_http_request_duration_seconds_count", endpoint="core.healthz") >= 2
    labels = {dict(key[1]).get("endpoint", "") for key in after}
    assert not any("/" in label or "123456" in label for label in labels)


def test_login_failures_are_counted_by_step(client, db, scrape):
    user = make_user()
    before = _value(scrape(), "ptap_login_failures_total", step="password")
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": user.email, "password": "not-it", "csrf_token": token}
    )
    assert BAD_CREDENTIALS in response.get_data(as_text=True)
    after = _value(scrape(), "ptap_login_failures_total", step="password")
    assert after - before == pytest.approx(1)


def test_job_runs_and_failures_are_counted(app, db, scrape):
    def crash() -> None:
        raise RuntimeError("boom")

    trigger = JOBS[0].trigger
    before = scrape()
    run_job(app, Job("metrics_ok", lambda: None, trigger))
    run_job(app, Job("metrics_crash", crash, trigger))
    after = scrape()
    assert _value(after, "ptap_job_runs_total", job="metrics_ok", outcome="ok") - _value(
        before, "ptap_job_runs_total", job="metrics_ok", outcome="ok"
    ) == pytest.approx(1)
    assert _value(after, "ptap_job_runs_total", job="metrics_crash", outcome="failed") - _value(
        before, "ptap_job_runs_total", job="metrics_crash", outcome="failed"
    ) == pytest.approx(1)
    assert _value(after, "ptap_job_duration_seconds_count", job="metrics_ok") >= 1


def test_outbox_depth_and_oldest_age_per_kind(app, db, scrape):
    empty = scrape()
    assert _value(empty, "ptap_outbox_depth", kind="mail") == 0
    assert _value(empty, "ptap_outbox_depth", kind="dmp") == 0
    assert _value(empty, "ptap_outbox_oldest_age_seconds", kind="mail") == 0
    app.config["MAIL_TRANSPORT"] = "memory"
    with clock.frozen(clock.now() - timedelta(minutes=5)):
        queue_mail("a@example.org", "Sujet", "Corps", kind=MailKind.NOTIFICATION)
    queue_mail("b@example.org", "Sujet", "Corps", kind=MailKind.NOTIFICATION)
    db.session.commit()
    samples = scrape()
    assert _value(samples, "ptap_outbox_depth", kind="mail") == 2
    assert 290 < _value(samples, "ptap_outbox_oldest_age_seconds", kind="mail") < 400
    assert _value(samples, "ptap_outbox_depth", kind="dmp") == 0


def test_open_sockets_is_reported(scrape, db):
    assert ("ptap_open_sockets", ()) in scrape()
