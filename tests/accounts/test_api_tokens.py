from datetime import timedelta

from ptap.accounts import services
from ptap.accounts.models import ApiToken
from ptap.audit.context import request_context
from ptap.core.models import utcnow
from tests.conftest import csrf_token
from tests.factories import PASSWORD, make_user, totp_code


def _token(user, scopes=("api:read",), days=30):
    _, plaintext = services.create_api_token(
        user, "test", list(scopes), days, request_context(user)
    )
    return plaintext


def _bearer(plaintext):
    return {"Authorization": f"Bearer {plaintext}"}


def test_me_with_a_bearer_token(client, db):
    user = make_user()
    response = client.get("/api/v1/me", headers=_bearer(_token(user)))
    assert response.status_code == 200
    assert response.json["email"] == user.email
    assert "password_hash" not in response.json


def test_token_is_stored_hashed_and_shown_once(db):
    user = make_user()
    plaintext = _token(user)
    stored = db.session.query(ApiToken).one()
    assert plaintext not in (stored.token_hash, stored.prefix)
    assert stored.prefix == plaintext[:12]


def test_revoked_token_is_refused(client, db):
    user = make_user()
    plaintext = _token(user)
    token = db.session.query(ApiToken).one()
    services.revoke_api_token(user, token.id, request_context(user))
    response = client.get("/api/v1/me", headers=_bearer(plaintext))
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert user.email not in response.get_data(as_text=True)


def test_expired_token_is_refused(client, db):
    user = make_user()
    plaintext = _token(user)
    db.session.query(ApiToken).one().expires_at = utcnow() - timedelta(seconds=1)
    response = client.get("/api/v1/me", headers=_bearer(plaintext))
    assert response.status_code == 401
    assert response.json["status"] == 401


def test_unknown_token_is_refused_and_audited(client, db):
    from ptap.audit.models import AuditEvent

    response = client.get("/api/v1/me", headers=_bearer("ptap_forged"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    event = db.session.query(AuditEvent).filter_by(action="auth.token").one()
    assert (event.outcome, event.reason) == ("failure", "unknown token")


def test_token_of_deactivated_user_is_refused(client, db):
    user = make_user()
    plaintext = _token(user)
    user.active = False
    assert client.get("/api/v1/me", headers=_bearer(plaintext)).status_code == 401


def test_read_only_token_cannot_write(client, db):
    user = make_user()
    plaintext = _token(user, scopes=("api:read",))
    token_id = db.session.query(ApiToken).one().id
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=_bearer(plaintext))
    assert response.status_code == 403
    assert response.json["field"] == "scope"


def test_token_cannot_mint_tokens(client, db):
    user = make_user()
    plaintext = _token(user, scopes=("api:read", "api:write"))
    response = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["api:read"]}, headers=_bearer(plaintext)
    )
    assert response.status_code == 403


def test_bearer_token_does_not_open_html_pages(client, db):
    user = make_user()
    response = client.get("/", headers=_bearer(_token(user)))
    assert response.status_code == 302


def test_create_token_through_the_api_with_a_session(client, auth, db):
    user = make_user()
    auth.login(user)
    token = csrf_token(client, "/account")
    db.session.refresh(user)
    response = client.post(
        "/api/v1/tokens",
        json={
            "name": "script",
            "scopes": ["api:read"],
            "days": 7,
            "password": PASSWORD,
            "code": totp_code(user),
        },
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201
    plaintext = response.json["token"]
    assert plaintext.startswith("ptap_")
    listed = client.get("/api/v1/tokens").json["items"]
    assert [t["name"] for t in listed] == ["script"]
    assert "token" not in listed[0]
    assert client.get("/api/v1/me", headers=_bearer(plaintext)).status_code == 200


def test_session_write_without_csrf_header_is_refused(client, auth, db):
    user = make_user()
    auth.login(user)
    response = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["api:read"]})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


def test_invalid_body_names_the_field(client, auth, db):
    user = make_user()
    auth.login(user)
    token = csrf_token(client, "/account")
    response = client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["root"], "days": 900},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    fields = {e["field"] for e in response.json["errors"]}
    assert {"scopes.0", "days"} <= fields
    not_json = client.post("/api/v1/tokens", data="nope", headers={"X-CSRFToken": token})
    assert not_json.status_code == 422
    assert not_json.json["field"] == "body"


def test_token_lifetime_is_bounded(db):
    import pytest

    from ptap.core.errors import InvalidInput

    user = make_user()
    with pytest.raises(InvalidInput) as exc:
        _token(user, days=1000)
    assert exc.value.field == "days"


def test_web_token_page_shows_the_token_once(client, auth, db):
    user = make_user()
    auth.login(user)
    db.session.refresh(user)
    response = auth.post(
        "/account/tokens",
        {
            "name": "Mon script",
            "scopes": ["api:read"],
            "days": "30",
            "password": PASSWORD,
            "code": totp_code(user),
        },
    )
    body = response.get_data(as_text=True)
    plaintext = body.split('<code class="secret">')[1].split("</code>")[0]
    assert plaintext.startswith("ptap_")
    assert plaintext not in client.get("/account").get_data(as_text=True)


def test_cannot_revoke_someone_elses_token(client, auth, db):
    owner, other = make_user(), make_user()
    _token(owner)
    token_id = db.session.query(ApiToken).one().id
    auth.login(other)
    response = auth.post(f"/account/tokens/{token_id}/revoke")
    assert response.status_code == 404
    assert db.session.get(ApiToken, token_id).revoked_at is None
