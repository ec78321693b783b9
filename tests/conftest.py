"""Fixtures: app, db, client, auth, socket_client, count_queries (Flask tutorial, Indico)."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ptap import create_app
from ptap.accounts.models import User
from ptap.core import clock
from ptap.extensions import db as _db
from ptap.extensions import socketio
from tests.factories import PASSWORD, totp_code

PG_URL = os.environ.get("PTAP_TEST_DATABASE_URL", "")
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") == "true" and PG_URL:
        # In CI a PostgreSQL run that cannot reach its server is a failure, never a skip.
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[None]:
    """On PostgreSQL, create the tables once per session."""
    if not PG_URL:
        yield
        return
    app = create_app({"ENV": "testing", "DATABASE_URL": PG_URL, "SECRET_KEY": "t" * 32})
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield
    with app.app_context():
        _db.drop_all()
        _db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose requests run as in production, in their own app context.

    The test holds an app context for factories and assertions; a request run inside it would
    share `g` and the database session with the test. Each request runs in an empty
    contextvars context instead; the test's session is committed before and expired after.
    """

    def open(self, *args, **kwargs):
        _db.session.commit()
        try:
            return contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            _db.session.expire_all()


@pytest.fixture
def database_url(tmp_path: Path, _pg_schema: None) -> str:
    return PG_URL or f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(
        {"ENV": "testing", "DATABASE_URL": database_url, "SECRET_KEY": "test-secret-" + "x" * 32}
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        if PG_URL:
            tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
            _db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            _db.session.commit()
        else:
            _db.create_all()
        yield app
        _db.session.remove()
        if not PG_URL:
            # care_plans.current_version_id closes a foreign-key cycle SQLite cannot untie.
            with _db.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                _db.metadata.drop_all(conn)
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _system_clock_after_each_test() -> Iterator[None]:
    """Every test ends on the system clock: a test that froze it from several threads could
    leave it frozen (a race restoring it), and every later login, session and VIHF then ran in
    the past (a CI run lost 400 tests that way)."""
    yield
    clock.set_source(None)


@pytest.fixture
def db(app: Flask):
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """Fetch a page and return the CSRF token of the client's session."""
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class AuthActions:
    """Log a user in through the real forms (password, then TOTP)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, user: User, password: str = PASSWORD):
        _db.session.commit()
        token = csrf_token(self.client)
        self.client.post(
            "/login", data={"email": user.email, "password": password, "csrf_token": token}
        )
        _db.session.refresh(user)
        return self.client.post(
            "/login/second-factor",
            data={
                "code": totp_code(user),
                "csrf_token": csrf_token(self.client, "/login/second-factor"),
            },
        )

    def post(self, path: str, data: dict | None = None, **kwargs):
        token = csrf_token(self.client, "/account")
        return self.client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def socket_client(app: Flask, client: FlaskClient):
    def connect(auth: dict | None = None, flask_client: FlaskClient | None = None):
        return socketio.test_client(app, flask_test_client=flask_client or client, auth=auth)

    return connect


@pytest.fixture
def count_queries(app: Flask):
    """Count the SQL statements run inside a `with count_queries() as counter:` block."""
    from contextlib import contextmanager

    @contextmanager
    def counter():
        queries: list[str] = []

        def before(conn, cursor, statement, *args):  # noqa: ANN001
            queries.append(statement)

        sa.event.listen(_db.engine, "before_cursor_execute", before)
        try:
            yield queries
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", before)

    return counter


@pytest.fixture
def dmp(monkeypatch: pytest.MonkeyPatch):
    """A fresh in-memory DMP (FakeDmpTransport) behind DMP_TRANSPORT = "fake"."""
    from ptap.dmp_bridge import runtime
    from ptap.dmp_bridge.fake import FakeDmpTransport

    fake = FakeDmpTransport()
    monkeypatch.setitem(runtime.TRANSPORTS, "fake", lambda: fake)
    return fake
