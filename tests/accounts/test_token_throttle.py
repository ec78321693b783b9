"""Failed bearer-token authentications: rate-limited per address, audited in aggregate."""

import pytest
import sqlalchemy as sa

from ptap.accounts import services
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.extensions import limiter
from tests.factories import make_user


@pytest.fixture(autouse=True)
def _fresh_counters(app):
    limiter.reset()
    yield
    limiter.reset()


def _token_failures(db):
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "auth.token").order_by(AuditEvent.id)
    ).all()


def _get(client, token, address="203.0.113.9"):
    return client.get(
        "/api/v1/me",
        headers={"Authorization": f"Bearer {token}"},
        environ_overrides={"REMOTE_ADDR": address},
    )


def test_300_bogus_tokens_write_a_bounded_number_of_rows_and_get_429(app, client, db):
    limit = app.config["API_TOKEN_FAILURE_LIMIT"]
    statuses = [_get(client, f"ptap_bogus{i}").status_code for i in range(300)]
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    rows = _token_failures(db)
    assert len(rows) == 2
    assert rows[0].reason == "unknown token"
    assert rows[1].reason.startswith(f"unknown token; {limit} failures in a minute")
    assert {r.ip_address for r in rows} == {"203.0.113.9"}


def test_429_is_a_french_problem_and_reveals_nothing(app, client, db):
    for i in range(app.config["API_TOKEN_FAILURE_LIMIT"]):
        _get(client, f"ptap_bogus{i}")
    response = _get(client, "ptap_bogus-again")
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    assert "Trop de jetons" in response.json["detail"]


def test_other_addresses_are_not_limited(app, client, db):
    user = make_user()
    _, plaintext = services.create_api_token(user, "t", ["api:read"], 30, request_context(user))
    for i in range(app.config["API_TOKEN_FAILURE_LIMIT"]):
        _get(client, f"ptap_bogus{i}")
    assert _get(client, plaintext).status_code == 429
    assert _get(client, plaintext, address="198.51.100.7").status_code == 200
    assert _get(client, "ptap_bogus", address="198.51.100.7").status_code == 401


def test_valid_tokens_are_not_counted(app, client, db):
    user = make_user()
    _, plaintext = services.create_api_token(user, "t", ["api:read"], 30, request_context(user))
    for _ in range(app.config["API_TOKEN_FAILURE_LIMIT"] + 5):
        assert _get(client, plaintext).status_code == 200
    assert _token_failures(db) == []


def test_sockets_share_the_limit_and_write_no_more_rows(app, client, db, socket_client):
    limit = app.config["API_TOKEN_FAILURE_LIMIT"]
    for i in range(limit):
        assert _get(client, f"ptap_bogus{i}", address="127.0.0.1").status_code == 401
    rows = len(_token_failures(db))
    for i in range(5):
        sock = socket_client(auth={"token": f"ptap_bogus-socket{i}"})
        assert not sock.is_connected()
    assert len(_token_failures(db)) == rows == 2
