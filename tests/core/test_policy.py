import pytest
from flask import Flask

from ptap.core import policy
from ptap.core.policy import PUBLIC, declared_access
from tests.factories import make_user

ROLES = ["admin", "coordinator", "professional", "ars_analyst"]
ADMIN_ONLY_PAGES = ["/admin/users", "/admin/users/new", "/admin/security-log"]


def test_every_endpoint_declares_its_access_rule(app: Flask):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and declared_access(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []


def test_every_declared_action_has_a_rule(app: Flask):
    actions = {declared_access(v) for v in app.view_functions.values()} - {None, PUBLIC}
    assert actions <= set(policy.registered_actions())


def test_unknown_action_is_denied(db):
    user = make_user(role="admin")
    assert not policy.can(user, "no.such.action")


def test_inactive_user_may_do_nothing(db):
    user = make_user(role="admin", active=False)
    assert not policy.can(user, "accounts.manage")


def test_undeclared_endpoint_is_refused(app: Flask, client, auth, db):
    @app.get("/undeclared")
    def undeclared():
        return "secret data"

    auth.login(make_user(role="admin"))
    response = client.get("/undeclared")
    assert response.status_code == 403
    assert "secret data" not in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["coordinator", "professional", "ars_analyst"])
@pytest.mark.parametrize("page", ADMIN_ONLY_PAGES)
def test_non_admins_are_refused_admin_pages(client, auth, db, role, page):
    target = make_user(email="target-person@example.test")
    auth.login(make_user(role=role))
    response = client.get(page)
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Accès refusé" in body
    assert "target-person@example.test" not in body
    assert target.last_name not in body


@pytest.mark.parametrize("role", ["coordinator", "professional", "ars_analyst"])
def test_non_admins_are_refused_the_users_api(client, auth, db, role):
    make_user(email="target-person@example.test")
    auth.login(make_user(role=role))
    response = client.get("/api/v1/users")
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert "target-person" not in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["coordinator", "professional", "ars_analyst"])
def test_non_admins_cannot_reset_passwords(client, auth, db, role):
    target = make_user()
    auth.login(make_user(role=role))
    response = auth.post(f"/admin/users/{target.id}/reset-password")
    assert response.status_code == 403
    db.session.refresh(target)
    assert not target.must_change_password


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/users")


def test_anonymous_api_gets_401_problem(client, db):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json["title"] == "Authentification requise"


def test_admin_is_not_a_clinician(db):
    assert not policy.is_clinician(make_user(role="admin"))
    assert not policy.is_clinician(make_user(role="ars_analyst"))
    assert policy.is_clinician(make_user(role="coordinator"))


def test_security_log_shows_no_patient_events(client, auth, db):
    from ptap.audit.services import AuditContext, record_event

    record_event(AuditContext(actor_label="x"), "auth.login", reason="visible-auth-event")
    record_event(
        AuditContext(actor_label="x"), "patient.read", patient_id=42, reason="hidden-clinical-event"
    )
    auth.login(make_user(role="admin"))
    body = client.get("/admin/security-log").get_data(as_text=True)
    assert "visible-auth-event" in body
    assert "hidden-clinical-event" not in body
