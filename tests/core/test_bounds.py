"""Bad input never gives a 500: huge ids in paths, queries and bodies; deep or huge JSON."""

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ptap.accounts import services as account_services
from ptap.audit.context import request_context
from ptap.core.bounds import MAX_DB_INT, json_depth, out_of_range_integer
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user

HUGE = (2**31, 2**63, 2**64 + 7)


def _int_rules(app):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
    ]


def _path(rule, value):
    """Build the rule's path with `value` in every int argument (and "x" in the others)."""
    parts = []
    for is_dynamic, data in rule._trace:
        if not is_dynamic:
            parts.append(data)
        elif isinstance(rule._converters[data], IntegerConverter):
            parts.append(str(value))
        else:
            parts.append("x")
    return "".join(parts).split("|", 1)[1]


def test_every_int_route_is_bounded_to_the_column_range(app):
    rules = _int_rules(app)
    assert len(rules) > 40  # the walk sees the whole application
    adapter = app.url_map.bind("localhost")
    for rule in rules:
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        endpoint, _ = adapter.match(_path(rule, MAX_DB_INT), method=method)
        assert endpoint == rule.endpoint
        for value in HUGE:
            with pytest.raises(NotFound):
                adapter.match(_path(rule, value), method=method)


@pytest.fixture
def coordinator_client(client, auth, db):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    make_patient(team, coord)
    auth.login(coord)
    return client


def test_huge_ids_in_every_int_route_answer_404(app, coordinator_client):
    token = csrf_token(coordinator_client, "/account")
    headers = {"X-CSRFToken": token}
    for rule in _int_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for value in (2**31, 2**63):
                response = coordinator_client.open(
                    _path(rule, value), method=method, headers=headers, data={"csrf_token": token}
                )
                assert response.status_code == 404, (rule.rule, method, value)


def _api_headers(user):
    _, plaintext = account_services.create_api_token(
        user, "t", ["api:read", "api:write"], 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.mark.parametrize("value", [2**31, 2**63, -(2**63) - 1])
def test_huge_integer_in_json_body_is_a_422_naming_the_field(client, db, value):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    headers = _api_headers(coord)
    response = client.post(
        f"/api/v1/teams/{team.id}/members",
        json={"user_id": value, "role": "member", "starts_on": "2026-01-01"},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json()["field"] == "user_id"


def test_deeply_nested_json_is_refused_before_parsing(client, db):
    headers = _api_headers(make_user(role="admin", profession=""))
    body = "[" * 5000 + "]" * 5000
    response = client.post(
        "/api/v1/teams", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "imbriqué" in response.get_json()["detail"]


def test_oversized_json_is_refused_with_413(app, client, db):
    app.config["JSON_MAX_KB"] = 1
    headers = _api_headers(make_user(role="admin", profession=""))
    response = client.post(
        "/api/v1/teams", json={"name": "x" * 2000, "structure_id": 1}, headers=headers
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


def test_huge_query_parameter_is_a_problem_not_a_500(client, db):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    make_patient(team, coord)
    headers = _api_headers(coord)
    response = client.get("/api/v1/patients?limit=" + str(2**63), headers=headers)
    assert response.status_code == 422
    from ptap.core.api import encode_cursor

    cursor = encode_cursor({"after": 2**63})
    response = client.get(f"/api/v1/patients?cursor={cursor}", headers=headers)
    assert response.status_code == 422
    assert response.get_json()["field"] == "cursor"
    db.session.commit()


def test_huge_page_number_on_a_page_is_refused(client, auth, db):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord)
    auth.login(coord)
    response = client.get(f"/patients/{patient.id}/access-log?page={2**63}")
    assert response.status_code == 422
    assert "Donnée invalide" in response.get_data(as_text=True)


def test_huge_id_in_a_form_is_a_422_not_a_500(client, auth, db):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    auth.login(coord)
    for value in (2**31, 2**63):
        response = auth.post(
            f"/teams/{team.id}/members",
            data={"user_id": str(value), "role": "member", "starts_on": "2026-01-01"},
        )
        assert response.status_code == 422, value


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[[[", "b": [1, {"c": "]]]"}]}', 10) == 3
    assert json_depth(b'"\\"[[[["', 10) == 0
    assert json_depth(b"[" * 100, 5) == 6  # stops as soon as it passes the limit


def test_out_of_range_integer_names_the_path():
    assert out_of_range_integer({"a": [1, {"b": 2**40}]}) == "a.1.b"
    assert out_of_range_integer({"a": True, "b": MAX_DB_INT, "c": 1.5}) is None
    assert out_of_range_integer(2**63) == "body"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/letters?patient_id=²",
        "/api/v1/letters?team_id=¹⁰",
        "/requests?team=²",
        "/api/v1/messaging/conversations?after=²",
    ],
)
def test_superscript_digits_in_an_id_are_refused_never_a_500(coordinator_client, url):
    """`"²".isdigit()` is True and `int("²")` raises: ids are checked with isdecimal()."""
    assert coordinator_client.get(url).status_code < 500
