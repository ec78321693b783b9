import pytest

from tests.factories import make_user


def test_security_headers_on_pages(client, db):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script(client, auth, db):
    auth.login(make_user(role="admin"))
    for path in ("/", "/account", "/admin/users", "/admin/users/new"):
        body = client.get(path).get_data(as_text=True)
        assert "<script>" not in body and "onclick=" not in body and "style=" not in body


def test_layout_is_french_and_accessible(client, db):
    body = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in body
    assert 'href="#contenu"' in body and 'id="contenu"' in body
    assert 'role="banner"' in body and "<main" in body and 'role="contentinfo"' in body
    assert '<label for="email">Adresse e-mail</label>' in body
    assert '<label for="password">Mot de passe</label>' in body


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (400, "Requête invalide"),
        (403, "Accès refusé"),
        (404, "Page introuvable"),
        (429, "Trop de tentatives"),
        (500, "Erreur interne"),
    ],
)
def test_french_error_pages(app, client, db, status, title):
    from flask import abort

    from ptap.core.policy import public

    @app.get(f"/boom-{status}")
    @public
    def boom():
        if status == 500:
            raise RuntimeError("unexpected")
        abort(status)

    response = client.get(f"/boom-{status}")
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert title in body
    assert "unexpected" not in body and "Traceback" not in body


def test_api_404_is_problem_json(client, db):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_login_is_rate_limited_per_address(app, client, db):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    from tests.conftest import csrf_token

    token = csrf_token(client)
    statuses = [
        client.post(
            "/login", data={"email": "a@b.fr", "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429


def test_healthz_is_public(client, db):
    assert client.get("/healthz").json == {"status": "ok"}


def test_integrity_error_escaping_a_view_is_a_french_409(app, client, db):
    import sqlalchemy as sa

    from ptap.core.policy import public

    @app.get("/boom-integrity")
    @public
    def boom_integrity():
        raise sa.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    @app.get("/api/v1/boom-integrity")
    @public
    def boom_integrity_api():
        raise sa.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    page = client.get("/boom-integrity")
    assert page.status_code == 409
    body = page.get_data(as_text=True)
    assert "Conflit" in body and "en même temps" in body and "duplicate key" not in body
    api = client.get("/api/v1/boom-integrity")
    assert api.status_code == 409
    assert api.content_type == "application/problem+json"
    assert "en même temps" in api.get_json()["detail"]
