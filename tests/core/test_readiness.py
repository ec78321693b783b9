"""/healthz is liveness, /readyz checks the database, Redis and the scheduler heartbeat."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap import create_app
from ptap.core import clock
from ptap.core.heartbeat import SchedulerHeartbeat, find_last_beat, record_heartbeat
from ptap.scheduler import JOBS, run_job

CLOSED_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def beat(app, db):
    """Write a fresh scheduler heartbeat, as the scheduler process does."""

    def write():
        record_heartbeat()
        db.session.commit()

    return write


def test_readyz_is_ready_when_everything_answers(client, beat):
    beat()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["checks"] == {"database": "ok", "scheduler": "ok"}


def test_readyz_checks_redis_when_configured(app, client, beat):
    beat()
    app.config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:6379/11"
    response = client.get("/readyz")
    if response.status_code != 200:
        pytest.skip("no Redis on 127.0.0.1:6379")
    assert response.json["checks"]["redis_rate_limits"] == "ok"


def test_readyz_is_503_when_redis_is_unreachable(app, client, beat):
    beat()
    app.config["SOCKETIO_MESSAGE_QUEUE"] = CLOSED_REDIS
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["redis_message_queue"]
    assert response.json["checks"]["database"] == "ok"
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_readyz_is_503_when_the_heartbeat_is_stale(app, client, db):
    assert client.get("/readyz").json["checks"]["scheduler"] == "stale (no heartbeat yet)"
    with clock.frozen(clock.now() - timedelta(minutes=10)):
        record_heartbeat()
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["scheduler"]
    assert response.json["checks"]["scheduler"].startswith("stale (last heartbeat 6")
    # The balancer's variant leaves the scheduler to monitoring.
    balancer = client.get("/readyz?skip=scheduler")
    assert balancer.status_code == 200
    assert "scheduler" not in balancer.json["checks"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    missing = tmp_path / "no-such-folder" / "ptap.sqlite3"
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{missing}"})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["database", "scheduler"]
    assert response.json["checks"]["database"] == "unreachable"
    # Liveness stays up: restarting the process would not bring the database back.
    assert client.get("/healthz").status_code == 200


def test_the_heartbeat_job_writes_the_beat(app, db):
    job = next(j for j in JOBS if j.id == "scheduler_heartbeat")
    assert find_last_beat() is None
    run_job(app, job)
    beat_at = find_last_beat()
    assert beat_at is not None
    assert clock.now() - beat_at < timedelta(minutes=1)
    assert db.session.get(SchedulerHeartbeat, "scheduler").process


def test_readyz_goes_503_and_back_when_redis_comes_and_goes(app, client, beat):
    beat()
    assert client.get("/readyz").status_code == 200
    app.config["RATELIMIT_STORAGE_URI"] = CLOSED_REDIS
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json["failing"] == ["redis_rate_limits"]
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    back = client.get("/readyz")
    assert back.status_code == 200
    assert back.json["checks"] == {"database": "ok", "scheduler": "ok"}


def test_readyz_goes_503_and_back_when_the_database_is_unreachable(app, client, db, beat, tmp_path):
    """Every new connection goes to a closed port (PostgreSQL) or a missing folder (SQLite)."""
    beat()
    assert client.get("/readyz").status_code == 200

    def unreachable(dialect, conn_rec, cargs, cparams):  # noqa: ANN001, ANN202
        if db.engine.dialect.name == "postgresql":
            cparams.update(host="127.0.0.1", port=1, connect_timeout=1)
        else:
            cargs[:] = [str(tmp_path / "no-such-folder" / "ptap.sqlite3")]

    db.session.remove()
    db.engine.dispose()
    sa.event.listen(db.engine, "do_connect", unreachable)
    try:
        down = client.get("/readyz")
    finally:
        sa.event.remove(db.engine, "do_connect", unreachable)
    assert down.status_code == 503
    assert down.json["failing"] == ["database", "scheduler"]
    assert down.json["checks"]["database"] == "unreachable"
    assert "no-such-folder" not in down.get_data(as_text=True)
    db.engine.dispose()
    back = client.get("/readyz")
    assert back.status_code == 200
    assert back.json["checks"]["database"] == "ok"
