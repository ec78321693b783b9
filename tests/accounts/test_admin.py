from ptap.accounts.models import User
from tests.conftest import AuthActions, csrf_token
from tests.factories import PASSWORD, make_user


def test_admin_creates_an_account_with_inline_errors(client, auth, db):
    auth.login(make_user(role="admin"))
    form = {
        "first_name": "Jeanne",
        "last_name": "Exemple",
        "email": "jeanne@example.test",
        "profession": "nurse",
        "role": "professional",
        "rpps": "12345678901",
    }
    response = auth.post("/admin/users/new", form)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Numéro RPPS invalide" in body
    assert 'value="jeanne@example.test"' in body  # what was typed is kept
    form["rpps"] = "10000000025"  # valid Luhn
    response = auth.post("/admin/users/new", form)
    assert response.status_code == 200
    assert "lien d&#39;activation envoyé" in response.get_data(as_text=True)
    created = db.session.query(User).filter_by(email="jeanne@example.test").one()
    assert created.rpps == "10000000025"
    assert created.password_hash.startswith("$argon2id$")  # of a secret nobody knows
    assert created.password_changed_at is None
    assert created.totp_secret is None


def test_duplicate_email_is_refused(client, auth, db):
    existing = make_user()
    auth.login(make_user(role="admin"))
    response = auth.post(
        "/admin/users/new",
        {
            "first_name": "A",
            "last_name": "B",
            "email": existing.email.upper(),
            "profession": "nurse",
            "role": "professional",
        },
    )
    assert response.status_code == 422
    assert "Un compte existe déjà avec cette adresse e-mail." in response.get_data(as_text=True)


def test_admin_reset_sends_a_link_the_admin_cannot_use_as_a_password(app, client, auth, db):
    target = make_user()
    target_client = app.test_client()
    AuthActions(target_client).login(target)
    auth.login(make_user(role="admin"))
    page = auth.post(f"/admin/users/{target.id}/reset-password").get_data(as_text=True)
    link = page.split('<code class="secret">')[1].split("</code>")[0]
    assert "/activate/" in link  # a link, never a password
    assert target_client.get("/").status_code == 302  # their sessions ended

    fresh = app.test_client()
    path = link.split("127.0.0.1:5000")[1]
    token = csrf_token(fresh, path)
    response = fresh.post(
        path,
        data={
            "password": "nouveau-mot-de-passe",
            "confirm": "nouveau-mot-de-passe",
            "csrf_token": token,
        },
    )
    # The second factor was kept: the TOTP step comes next.
    assert response.headers["Location"] == "/login/second-factor"
    AuthActions(fresh).login(target, password="nouveau-mot-de-passe")
    assert fresh.get("/").status_code == 200
    # The old password no longer works.
    old = app.test_client()
    response = old.post(
        "/login", data={"email": target.email, "password": PASSWORD, "csrf_token": csrf_token(old)}
    )
    assert response.status_code == 401


def test_reset_can_clear_the_second_factor(client, auth, db):
    target = make_user()
    auth.login(make_user(role="admin"))
    auth.post(f"/admin/users/{target.id}/reset-password", {"reset_second_factor": "y"})
    db.session.refresh(target)
    assert target.totp_secret is None and target.recovery_codes == []


def test_deactivated_account_cannot_log_in(app, client, auth, db):
    target = make_user()
    auth.login(make_user(role="admin"))
    auth.post(f"/admin/users/{target.id}/active", {"active": "0"})
    db.session.refresh(target)
    assert not target.active
    other = app.test_client()
    response = other.post(
        "/login",
        data={"email": target.email, "password": PASSWORD, "csrf_token": csrf_token(other)},
    )
    assert response.status_code == 401


def test_admin_cannot_deactivate_themselves(client, auth, db):
    admin = make_user(role="admin")
    auth.login(admin)
    auth.post(f"/admin/users/{admin.id}/active", {"active": "0"})
    db.session.refresh(admin)
    assert admin.active


def test_users_api_paginates_with_a_cursor(client, auth, db):
    admin = make_user(role="admin")
    for _ in range(4):
        make_user()
    auth.login(admin)
    first = client.get("/api/v1/users?limit=2").json
    assert len(first["items"]) == 2
    second = client.get(f"/api/v1/users?limit=2&cursor={first['page']['next_cursor']}").json
    third = client.get(f"/api/v1/users?limit=2&cursor={second['page']['next_cursor']}").json
    ids = [u["id"] for page in (first, second, third) for u in page["items"]]
    assert len(ids) == 5 == len(set(ids))
    assert third["page"]["next_cursor"] is None
    bad = client.get("/api/v1/users?cursor=!!notacursor")
    assert bad.status_code == 422
    assert bad.json["field"] == "cursor"
    assert client.get("/api/v1/users?limit=0").json["field"] == "limit"
