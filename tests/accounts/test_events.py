from ptap.accounts import services
from ptap.audit.context import request_context
from tests.factories import make_user


def _token(user, scopes):
    return services.create_api_token(user, "socket", scopes, 30, request_context(user))[1]


def test_anonymous_socket_is_refused(socket_client, db):
    client = socket_client()
    assert not client.is_connected()


def test_socket_with_session_cookie_connects(socket_client, auth, db):
    auth.login(make_user())
    client = socket_client()
    assert client.is_connected()


def test_socket_with_token_connects_and_joins_own_room(app, socket_client, db):
    from ptap.core.realtime import emit_after_commit

    user = make_user()
    client = socket_client(auth={"token": _token(user, ["socket"])})
    assert client.is_connected()
    emit_after_commit("notification", {"text": "bonjour"}, room=f"user:{user.id}")
    assert client.get_received() == []  # nothing before the commit
    db.session.commit()
    received = client.get_received()
    assert [(r["name"], r["args"][0]) for r in received] == [("notification", {"text": "bonjour"})]


def test_emit_is_dropped_on_rollback(socket_client, db):
    from ptap.core.realtime import emit_after_commit

    user = make_user()
    client = socket_client(auth={"token": _token(user, ["socket"])})
    emit_after_commit("notification", {"text": "jamais"}, room=f"user:{user.id}")
    db.session.rollback()
    db.session.commit()
    assert client.get_received() == []


def test_token_without_socket_scope_is_refused(socket_client, db):
    user = make_user()
    client = socket_client(auth={"token": _token(user, ["api:read"])})
    assert not client.is_connected()


def test_revoked_token_is_refused_on_socket(socket_client, db):
    from ptap.accounts.models import ApiToken

    user = make_user()
    plaintext = _token(user, ["socket"])
    services.revoke_api_token(user, db.session.query(ApiToken).one().id, request_context(user))
    client = socket_client(auth={"token": plaintext})
    assert not client.is_connected()


def test_logout_disconnects_the_users_sockets(socket_client, auth, db):
    user = make_user()
    auth.login(user)
    client = socket_client()
    assert client.is_connected()
    auth.post("/logout")
    assert not client.is_connected()


def test_logout_everywhere_disconnects_token_sockets_too(socket_client, auth, db):
    user = make_user()
    token_socket = socket_client(auth={"token": _token(user, ["socket"])})
    auth.login(user)
    assert token_socket.is_connected()
    auth.post("/account/logout-everywhere")
    assert not token_socket.is_connected()


def test_deactivation_disconnects_the_user(app, socket_client, auth, db):
    target = make_user()
    target_socket = socket_client(auth={"token": _token(target, ["socket"])})
    auth.login(make_user(role="admin"))
    auth.post(f"/admin/users/{target.id}/active", {"active": "0"})
    assert not target_socket.is_connected()
