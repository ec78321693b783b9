"""Pro Santé Connect login against a local OpenID provider started by the tests."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ptap import create_app
from ptap.accounts.models import UserSession
from ptap.accounts.psc import EXTENSION_KEY, NO_RPPS, PSC_FAILED, rpps_from_subject
from ptap.audit.models import AuditEvent
from ptap.extensions import db as _db
from tests.conftest import PG_URL
from tests.factories import make_user, valid_rpps

CLIENT_ID = "ptap-test"
CLIENT_SECRET = "s3cret"
NO_ACCOUNT = "Aucun compte PTAP actif"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LocalOP:
    """A minimal OpenID provider shaped like PSC's Keycloak realm; it approves every request."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.issuer = ""
        self.subject_name_id = "8" + valid_rpps(1)
        self.sub = "f:550dc1c8-psc-sub"
        self.given_name = "Camille"
        self.family_name = "Martin"
        self.nonce_override: str | None = None
        self.claim_overrides: dict[str, Any] = {}
        self.send_id_token = True
        self.metadata_status = 200
        self.authorize_params: list[dict[str, str]] = []
        self.token_calls = 0
        self._codes: dict[str, dict[str, str]] = {}
        self._access_tokens: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        routes = {
            "/.well-known/openid-configuration": self.metadata,
            "/jwks": self.jwks,
            "/authorize": self.authorize,
            "/token": self.token,
            "/userinfo": self.userinfo,
        }
        path = request.path.removeprefix(urlsplit(self.issuer).path)
        handler = routes.get(path)
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def metadata(self, request: Request) -> Response:
        if self.metadata_status != 200:
            return _json({"error": "unavailable"}, self.metadata_status)
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "userinfo_endpoint": self.issuer + "/userinfo",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "acr_values_supported": ["eidas1"],
            }
        )

    def jwks(self, request: Request) -> Response:
        return _json({"keys": [self.key.as_dict(private=False)]})

    def authorize(self, request: Request) -> Response:
        params = request.args.to_dict()
        self.authorize_params.append(params)
        code = secrets.token_urlsafe(16)
        self._codes[code] = params
        query = urlencode({"code": code, "state": params["state"]})
        return Response(status=302, headers={"Location": f"{params['redirect_uri']}?{query}"})

    def token(self, request: Request) -> Response:
        self.token_calls += 1
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return _json({"error": "invalid_client"}, 401)
        form = request.form
        params = self._codes.pop(form.get("code", ""), None)
        if (
            params is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != params["redirect_uri"]
        ):
            return _json({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if params.get("code_challenge_method") != "S256" or challenge != params["code_challenge"]:
            return _json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        access_token = secrets.token_urlsafe(24)
        self._access_tokens.add(access_token)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": self.sub,
            "nonce": self.nonce_override or params["nonce"],
            "acr": params.get("acr_values", ""),
            "iat": now,
            "exp": now + 300,
            **self.claim_overrides,
        }
        answer = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300}
        if self.send_id_token:
            answer["id_token"] = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return _json(answer)

    def userinfo(self, request: Request) -> Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._access_tokens:
            return _json({"error": "invalid_token"}, 401)
        return _json(
            {
                "sub": self.sub,
                "SubjectNameID": self.subject_name_id,
                "SubjectRefPro": {"exercices": [{"codeProfession": "10", "activities": []}]},
                "given_name": self.given_name,
                "family_name": self.family_name,
            }
        )


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


@pytest.fixture
def op() -> Iterator[LocalOP]:
    """Serve a fresh LocalOP on 127.0.0.1 (random port) in a daemon thread."""
    provider = LocalOP()
    server = make_server("127.0.0.1", 0, provider, request_handler=_QuietHandler)
    provider.issuer = f"http://127.0.0.1:{server.server_port}/realms/esante-wallet"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def app_overrides(op: LocalOP) -> dict[str, Any]:
    return {
        "PSC_ENABLED": True,
        "PSC_ISSUER": op.issuer,
        "PSC_CLIENT_ID": CLIENT_ID,
        "PSC_CLIENT_SECRET": CLIENT_SECRET,
    }


@pytest.fixture
def app(database_url: str, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The conftest app, with PSC pointed at the local provider."""
    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-" + "x" * 32,
            **app_overrides,
        }
    )
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
            _db.drop_all()
        _db.engine.dispose()


def _start(client) -> str:
    """GET /login/psc and return the provider's authorize URL it redirects to."""
    response = client.get("/login/psc")
    assert response.status_code == 302
    return response.headers["Location"]


def _approve(authorize_url: str) -> str:
    """Play the browser at the provider; return the callback path and query it redirects to."""
    assert authorize_url.startswith("http://127.0.0.1:")  # never an outside host
    with requests.Session() as browser:
        browser.trust_env = False
        response = browser.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    callback = urlsplit(response.headers["Location"])
    return f"{callback.path}?{callback.query}"


def _psc_login(client):
    return client.get(_approve(_start(client)))


def _audit(db) -> list[tuple[str, str, str]]:
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
    return [(e.action, e.outcome, e.reason) for e in rows]


def _assert_logged_out(client) -> None:
    home = client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"].startswith("/login")


def test_psc_login_with_matching_rpps_reaches_home_without_totp(client, db, op):
    user = make_user(rpps=valid_rpps(1))
    op.subject_name_id = "8" + user.rpps

    response = _psc_login(client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert f"Bonjour {user.first_name}" in home.get_data(as_text=True)
    assert ("auth.login", "success", "psc") in _audit(db)
    db.session.refresh(user)
    assert user.last_login_at is not None
    # The server-side session remembers it was opened with PSC (the DMP consultation needs it).
    methods = db.session.scalars(
        sa.select(UserSession.auth_method).where(UserSession.user_id == user.id)
    ).all()
    assert methods == ["psc"]


def test_psc_login_with_unknown_rpps_is_refused(client, db, op):
    make_user(rpps=valid_rpps(2))
    op.subject_name_id = "8" + valid_rpps(3)

    response = _psc_login(client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert NO_ACCOUNT in client.get("/login").get_data(as_text=True)
    _assert_logged_out(client)
    assert ("auth.login", "failure", "psc: no active account") in _audit(db)


def test_psc_login_of_inactive_account_is_refused(client, db, op):
    user = make_user(rpps=valid_rpps(4), active=False)
    op.subject_name_id = "8" + user.rpps

    response = _psc_login(client)

    assert response.headers["Location"] == "/login"
    _assert_logged_out(client)
    assert ("auth.login", "failure", "psc: no active account") in _audit(db)
    assert ("auth.login", "success", "psc") not in _audit(db)


def test_psc_callback_with_wrong_state_is_refused(client, db, op):
    user = make_user(rpps=valid_rpps(5))
    op.subject_name_id = "8" + user.rpps
    callback = urlsplit(_approve(_start(client)))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    query["state"] = "forged-state"

    response = client.get(f"{callback.path}?{urlencode(query)}")

    assert response.headers["Location"] == "/login"
    assert html.escape(PSC_FAILED) in client.get("/login").get_data(as_text=True)
    assert op.token_calls == 0  # refused before the code was exchanged
    _assert_logged_out(client)
    reasons = [r for a, o, r in _audit(db) if a == "auth.login" and o == "failure"]
    assert reasons == [
        "psc: mismatching_state: CSRF Warning! State not equal in request and response."
    ]


def test_psc_id_token_with_wrong_nonce_is_refused(client, db, op):
    user = make_user(rpps=valid_rpps(6))
    op.subject_name_id = "8" + user.rpps
    op.nonce_override = "not-the-nonce-we-sent"

    response = _psc_login(client)

    assert response.headers["Location"] == "/login"
    assert op.token_calls == 1
    _assert_logged_out(client)
    reasons = [r for a, o, r in _audit(db) if a == "auth.login" and o == "failure"]
    assert len(reasons) == 1
    assert reasons[0].startswith("psc: invalid_claim")
    assert "nonce" in reasons[0]


def test_psc_authorize_redirect_uses_pkce_nonce_and_eidas1(client, op):
    authorize_url = _start(client)

    split = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    assert f"{split.scheme}://{split.netloc}{split.path}" == op.issuer + "/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "http://localhost/login/psc/callback"
    assert query["scope"] == "openid scope_all"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url SHA-256, no padding
    assert len(query["nonce"]) >= 16
    assert query["state"]
    assert query["acr_values"] == "eidas1"


@pytest.mark.parametrize(
    ("claims", "refused_claim"),
    [
        ({"aud": "another-client", "azp": CLIENT_ID}, "aud"),
        ({"iss": "http://127.0.0.1:9/realms/other"}, "iss"),
        ({"acr": "eidas-low"}, "acr"),
        ({"exp": int(time.time()) - 3600}, "expired_token"),
    ],
)
def test_psc_id_token_claims_are_checked(client, db, op, claims, refused_claim):
    user = make_user(rpps=valid_rpps(9))
    op.subject_name_id = "8" + user.rpps
    op.claim_overrides = claims

    response = _psc_login(client)

    assert response.headers["Location"] == "/login"
    _assert_logged_out(client)
    reasons = [r for a, o, r in _audit(db) if a == "auth.login" and o == "failure"]
    assert len(reasons) == 1
    assert refused_claim in reasons[0]


def test_psc_token_without_id_token_is_refused(client, db, op):
    user = make_user(rpps=valid_rpps(10))
    op.subject_name_id = "8" + user.rpps
    op.send_id_token = False

    response = _psc_login(client)

    assert response.headers["Location"] == "/login"
    _assert_logged_out(client)
    assert ("auth.login", "failure", "psc: no id_token") in _audit(db)


def test_psc_unreachable_provider_sends_back_to_login(client, op):
    op.metadata_status = 503

    response = client.get("/login/psc")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert html.escape(PSC_FAILED) in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{}])
def test_psc_routes_absent_when_disabled(client, app):
    assert app.config["PSC_ENABLED"] is False
    assert client.get("/login/psc").status_code == 404
    assert client.get("/login/psc/callback?code=x&state=y").status_code == 404
    assert "Pro Santé Connect" not in client.get("/login").get_data(as_text=True)


def test_psc_provider_error_is_refused(client, db, op):
    _start(client)

    response = client.get("/login/psc/callback?error=access_denied&state=whatever")

    assert response.headers["Location"] == "/login"
    _assert_logged_out(client)
    assert ("auth.login", "failure", "psc: access_denied") in _audit(db)


def test_psc_identity_without_rpps_is_refused(client, db, op):
    op.subject_name_id = "0" + "123456789"  # an ADELI-style identifier, no RPPS

    response = _psc_login(client)

    assert response.headers["Location"] == "/login"
    assert html.escape(NO_RPPS) in client.get("/login").get_data(as_text=True)
    assert ("auth.login", "failure", "psc: no RPPS in SubjectNameID") in _audit(db)


def test_login_page_links_to_psc_when_enabled(client):
    assert "/login/psc" in client.get("/login").get_data(as_text=True)


def test_each_app_gets_its_own_psc_client(app, client, db, database_url, op):
    """Tests build many apps in one process: a later one must not take over the client."""
    user = make_user(rpps=valid_rpps(8))
    op.subject_name_id = "8" + user.rpps
    other = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "y" * 32,
            "PSC_ENABLED": True,
            "PSC_ISSUER": "http://127.0.0.1:9/other",
            "PSC_CLIENT_ID": "other",
        }
    )
    with other.app_context():
        _db.engine.dispose()
    mine, theirs = app.extensions[EXTENSION_KEY], other.extensions[EXTENSION_KEY]
    assert mine is not theirs
    assert (mine.client_id, theirs.client_id) == (CLIENT_ID, "other")

    response = _psc_login(client)

    assert response.headers["Location"] == "/"
    assert ("auth.login", "success", "psc") in _audit(db)


def _bad_check_digit(rpps: str) -> str:
    return rpps[:-1] + str((int(rpps[-1]) + 1) % 10)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("8" + valid_rpps(7), valid_rpps(7)),
        (valid_rpps(7), valid_rpps(7)),
        ("8" + _bad_check_digit(valid_rpps(7)), None),
        ("0123456789", None),
        ("", None),
        (None, None),
    ],
)
def test_rpps_from_subject(subject, expected):
    assert rpps_from_subject(subject) == expected
