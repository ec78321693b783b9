"""JSON API of care plans: lifecycle permissions per role, failure paths, conflicts, task list."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts import services as account_services
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import Action, Objective
from ptap.care_plans.models import CarePlan, CarePlanVersion, PlanApproval
from ptap.care_teams.models import Enrolment
from ptap.core.models import utcnow
from tests.care_plans.test_services import (  # noqa: F401 - fixture
    active_plan,
    agreed_plan,
    build_world,
    drafted_plan,
    open_plan,
    published_plan,
    sample_content,
    save,
)
from tests.factories import add_member, make_patient, make_team

ROLES = ("coord", "nurse", "physician", "guest", "visitor", "outsider", "admin", "analyst")


def _headers(user, scopes=("api:read", "api:write")):
    _, plaintext = account_services.create_api_token(
        user, "t", list(scopes), 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}


def _url(world, tail=""):
    return f"/api/v1/patients/{world.patient.id}/care-plan{tail}"


def _json(content):
    return content.model_dump(mode="json")


@pytest.fixture
def world(db):
    return build_world()


# --- Lifecycle permissions per role ----------------------------------------------------------


def _edit_body(world, plan):
    content = sample_content(world, expectations="Rester chez elle avec son chat")
    return {"base_revision": plan.draft_revision, "content": _json(content)}


#: action: (state the plan is brought to, method, path, body builder, status on success)
ACTIONS = {
    "read": (drafted_plan, "GET", "", None, 200),
    "edit": (drafted_plan, "PUT", "/draft", _edit_body, 200),
    "publish": (drafted_plan, "POST", "/versions", lambda w, p: {"change_summary": "v1"}, 201),
    "gp_validation": (
        published_plan,
        "POST",
        "/approvals",
        lambda w, p: {"kind": "gp_validation", "method": "in_person"},
        201,
    ),
    "patient_agreement": (
        published_plan,
        "POST",
        "/approvals",
        lambda w, p: {"kind": "patient_agreement", "method": "signed_form", "note": "Signé"},
        201,
    ),
    "activate": (agreed_plan, "POST", "/activate", None, 200),
    "revise": (active_plan, "POST", "/revise", None, 200),
    "close": (active_plan, "POST", "/close", lambda w, p: {"reason": "Situation stable"}, 200),
}
OK, DENIED, HIDDEN, NOT_CLINICAL = "ok", 403, 404, 403
#: role: outcome of each action, in the order of ACTIONS.
EXPECTED = {
    # The patient's coordinator (a nurse, not a physician) leads the plan.
    "coord": (OK, OK, OK, DENIED, OK, OK, OK, OK),
    "nurse": (OK, OK, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED),
    "physician": (OK, OK, DENIED, OK, DENIED, DENIED, DENIED, DENIED),
    "guest": (OK, OK, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED),
    # Break-the-glass: a physician who may read in an emergency, nothing more.
    "visitor": (OK, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED),
    "outsider": (HIDDEN,) * 8,
    "admin": (NOT_CLINICAL,) * 8,
    "analyst": (NOT_CLINICAL,) * 8,
}
CASES = [
    pytest.param(role, action, EXPECTED[role][i], id=f"{role}-{action}")
    for role in ROLES
    for i, action in enumerate(ACTIONS)
]


def _state(db, plan_id):
    db.session.expire_all()
    plan = db.session.get(CarePlan, plan_id)
    versions = db.session.scalar(sa.select(sa.func.count()).select_from(CarePlanVersion))
    approvals = db.session.scalar(sa.select(sa.func.count()).select_from(PlanApproval))
    return (plan.status, plan.draft_revision, versions, approvals)


@pytest.mark.parametrize(("role", "action", "outcome"), CASES)
def test_lifecycle_permissions_per_role(client, db, world, role, action, outcome):
    setup, method, tail, body, success = ACTIONS[action]
    plan = setup(world)
    payload = body(world, plan) if body else None
    headers = _headers(getattr(world, role))
    before = _state(db, plan.id)
    response = client.open(_url(world, tail), method=method, json=payload, headers=headers)
    expected = success if outcome == OK else outcome
    assert response.status_code == expected, response.get_data(as_text=True)
    if outcome == OK:
        assert action == "read" or _state(db, plan.id) != before
        return
    assert response.content_type == "application/problem+json"
    assert world.patient.birth_name not in response.get_data(as_text=True)
    assert _state(db, plan.id) == before


# --- Reading ---------------------------------------------------------------------------------


def test_plan_shows_draft_status_version_and_approvals(client, db, world):
    plan = agreed_plan(world)
    response = client.get(_url(world), headers=_headers(world.nurse))
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "validated"
    assert body["status_label"] == "Validée et acceptée, à mettre en vigueur"
    assert body["current_version"] == 1
    assert body["next_review_on"] == "2026-06-01"
    assert body["unpublished_changes"] is False
    assert [(a["kind"], a["recorded_by"]["id"]) for a in body["approvals"]] == [
        ("gp_validation", world.physician.id),
        ("patient_agreement", world.coord.id),
    ]
    draft = body["draft"]
    assert draft["revision"] == plan.draft_revision
    assert draft["updated_by"] == {"id": world.coord.id, "name": world.coord.full_name}
    assert draft["content"]["objectives"][0]["actions"][0]["key"] == "kine"
    reads = db.session.scalars(
        sa.select(AuditEvent).filter_by(action="patient.read", actor_id=world.nurse.id)
    ).all()
    assert [e.reason for e in reads] == ["member: care_plan"]


def test_no_plan_answers_404(client, world):
    response = client.get(_url(world), headers=_headers(world.coord))
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert "Aucun plan" in response.json["detail"]


def test_outsider_gets_404_without_patient_data(client, db, world):
    published_plan(world)
    headers = _headers(world.outsider)
    for method, tail, body in [
        ("GET", "", None),
        ("GET", "/versions", None),
        ("GET", "/versions/1", None),
        ("PUT", "/draft", {"base_revision": 1, "content": {}}),
        ("POST", "/versions", {}),
        ("POST", "", {}),
    ]:
        response = client.open(_url(world, tail), method=method, json=body, headers=headers)
        assert response.status_code == 404, tail
        text = response.get_data(as_text=True)
        assert world.patient.birth_name not in text
        assert world.patient.ins_matricule not in text
        assert "Chutes" not in text
    denied = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .filter_by(patient_id=world.patient.id, actor_id=world.outsider.id, outcome="denied")
    )
    assert denied == 6


@pytest.mark.parametrize("role", ["admin", "analyst"])
def test_admin_and_analyst_get_403_everywhere(client, world, role):
    published_plan(world)
    headers = _headers(getattr(world, role))
    for method, tail in [("GET", ""), ("GET", "/versions"), ("GET", "/versions/1")]:
        response = client.open(_url(world, tail), method=method, headers=headers)
        assert response.status_code == 403
        assert world.patient.birth_name not in response.get_data(as_text=True)
    assert client.get("/api/v1/tasks", headers=headers).status_code == 403


def test_versions_list_and_one_version(client, world):
    plan = agreed_plan(world)
    save(plan, world.coord, sample_content(world, expectations="Autre"))
    services.publish_version(world.coord, plan, "Attentes revues", SYSTEM)
    headers = _headers(world.guest)
    listing = client.get(_url(world, "/versions"), headers=headers)
    assert listing.status_code == 200
    items = listing.json["items"]
    assert [v["number"] for v in items] == [2, 1]
    assert items[0]["change_summary"] == "Attentes revues"
    assert items[0]["created_by"] == {"id": world.coord.id, "name": world.coord.full_name}
    assert items[0]["approvals"] == []
    assert {a["kind"] for a in items[1]["approvals"]} == {"gp_validation", "patient_agreement"}
    assert "content" not in items[0]
    first = client.get(_url(world, "/versions/1"), headers=headers)
    assert first.status_code == 200
    assert first.json["content"]["expectations"] == "Rester à domicile"
    assert first.json["next_review_on"] == "2026-06-01"
    assert first.json["published"] is True
    missing = client.get(_url(world, "/versions/9"), headers=headers)
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"


# --- Creating and editing --------------------------------------------------------------------


def test_create_the_plan_then_refuse_a_second_one(client, db, world):
    # A plain member of the circle may not open the plan: the patient's coordinators do.
    refused = client.post(_url(world), json={}, headers=_headers(world.nurse))
    assert refused.status_code == 403
    headers = _headers(world.coord)
    response = client.post(_url(world), json={}, headers=headers)
    assert response.status_code == 201
    assert response.json["status"] == "draft"
    assert response.json["current_version"] is None
    assert response.json["unpublished_changes"] is True
    assert response.json["draft"]["content"]["lead_user_id"] == world.coord.id
    again = client.post(
        _url(world), json={"enrolment_id": world.enrolment.id}, headers=_headers(world.coord)
    )
    assert again.status_code == 409
    assert again.json["field"] == "enrolment_id"


def test_create_names_the_enrolment_when_it_is_ambiguous_or_wrong(client, db, world):
    headers = _headers(world.coord)
    wrong = client.post(_url(world), json={"enrolment_id": 999_999}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json["field"] == "enrolment_id"
    malformed = client.post(_url(world), json={"enrolment_id": "le mien"}, headers=headers)
    assert malformed.status_code == 422
    assert malformed.json["field"] == "enrolment_id"
    second_team = make_team("Équipe Part-Dieu")
    add_member(second_team, world.coord, "coordinator")
    second = Enrolment(
        patient_id=world.patient.id,
        team_id=second_team.id,
        requested_on=world.enrolment.requested_on,
        requester_kind="gp",
        problem_categories="social",
        enrolled_by_id=world.coord.id,
    )
    db.session.add(second)
    db.session.flush()
    ambiguous = client.post(_url(world), json={}, headers=headers)
    assert ambiguous.status_code == 422
    assert ambiguous.json["field"] == "enrolment_id"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarePlan)) == 0
    chosen = client.post(_url(world), json={"enrolment_id": second.id}, headers=headers)
    assert chosen.status_code == 201
    assert chosen.json["enrolment_id"] == second.id


def test_save_draft_returns_the_new_revision(client, world):
    plan = open_plan(world)
    body = {"base_revision": plan.draft_revision, "content": _json(sample_content(world))}
    response = client.put(_url(world, "/draft"), json=body, headers=_headers(world.nurse))
    assert response.status_code == 200
    assert response.json["draft"]["revision"] == body["base_revision"] + 1
    assert response.json["draft"]["updated_by"]["id"] == world.nurse.id
    assert response.json["draft"]["content"]["problems"][0]["description"] == "Chutes répétées"


def test_stale_revision_answers_409_with_the_others_content(client, db, world):
    plan = open_plan(world)
    base = plan.draft_revision
    mine = sample_content(world, expectations="Rester chez elle")
    theirs = sample_content(world, expectations="Aller en EHPAD")
    first = client.put(
        _url(world, "/draft"),
        json={"base_revision": base, "content": _json(mine)},
        headers=_headers(world.physician),
    )
    assert first.status_code == 200
    second = client.put(
        _url(world, "/draft"),
        json={"base_revision": base, "content": _json(theirs)},
        headers=_headers(world.nurse),
    )
    assert second.status_code == 409
    assert second.content_type == "application/problem+json"
    problem = second.json
    assert problem["field"] == "base_revision"
    assert world.physician.full_name in problem["detail"]
    assert problem["draft"]["revision"] == base + 1
    assert problem["draft"]["content"] == _json(mine)
    assert problem["draft"]["updated_by"] == {
        "id": world.physician.id,
        "name": world.physician.full_name,
    }
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).draft["expectations"] == "Rester chez elle"
    # The nurse was shown the record: that read stays in the audit log.
    reads = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .filter_by(action="patient.read", actor_id=world.nurse.id, outcome="success")
    )
    assert reads == 1


def test_malformed_drafts_name_each_field(client, world):
    plan = open_plan(world)
    headers = _headers(world.coord)
    not_json = client.put(_url(world, "/draft"), data="{nope", headers=headers)
    assert not_json.status_code == 422
    assert not_json.json["field"] == "body"
    content = _json(sample_content(world))
    content["objectives"][0]["actions"][1]["status"] = "finished"
    content["objectives"][0]["actions"][0]["due_on"] = "demain"
    content["problems"][0]["dimension"] = "spiritual"
    content["nickname"] = "Mamie"
    response = client.put(
        _url(world, "/draft"),
        json={"base_revision": "la dernière", "content": content},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert {e["field"] for e in response.json["errors"]} == {
        "base_revision",
        "content.objectives.0.actions.1.status",
        "content.objectives.0.actions.0.due_on",
        "content.problems.0.dimension",
        "content.nickname",
    }
    missing = client.put(_url(world, "/draft"), json={"content": {}}, headers=headers)
    assert {e["field"] for e in missing.json["errors"]} == {"base_revision"}
    content = _json(sample_content(world))
    content["objectives"][0]["actions"][1]["status"] = "not_achieved"
    no_reason = client.put(
        _url(world, "/draft"),
        json={"base_revision": plan.draft_revision, "content": content},
        headers=headers,
    )
    assert no_reason.status_code == 422
    assert no_reason.json["field"] == "content.objectives.0.actions.1"
    assert no_reason.json["detail"] == "Indiquez pourquoi l'action n'a pas été réalisée."


def test_service_errors_are_named_under_the_body(client, world):
    plan = open_plan(world)
    headers = _headers(world.coord)
    content = _json(sample_content(world))
    content["objectives"][0]["actions"][1]["assignee_user_id"] = world.outsider.id
    response = client.put(
        _url(world, "/draft"),
        json={"base_revision": plan.draft_revision, "content": content},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json["field"] == "content.objectives.0.actions.1.assignee_user_id"
    content["objectives"][0]["actions"][1]["assignee_user_id"] = 999_999
    unknown = client.put(
        _url(world, "/draft"),
        json={"base_revision": plan.draft_revision, "content": content},
        headers=headers,
    )
    assert unknown.json["field"] == "content.objectives.0.actions.1.assignee_user_id"
    undated = client.post(_url(world, "/versions"), json={}, headers=headers)
    assert undated.status_code == 422
    assert undated.json["field"] == "draft.content.next_review_on"


def test_other_malformed_bodies(client, world):
    published_plan(world)
    headers = _headers(world.coord)
    bad = client.post(
        _url(world, "/approvals"), json={"kind": "blessing", "method": "telepathy"}, headers=headers
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"kind", "method"}
    empty = client.post(_url(world, "/close"), json={}, headers=headers)
    assert empty.status_code == 422
    assert empty.json["field"] == "reason"
    extra = client.post(_url(world, "/versions"), json={"number": 7}, headers=headers)
    assert extra.status_code == 422
    assert extra.json["field"] == "number"


def test_read_only_token_cannot_write(client, db, world):
    plan = drafted_plan(world)
    headers = _headers(world.coord, scopes=("api:read",))
    assert client.get(_url(world), headers=headers).status_code == 200
    for method, tail, body in [
        ("PUT", "/draft", _edit_body(world, plan)),
        ("POST", "/versions", {"change_summary": "v1"}),
        ("POST", "/close", {"reason": "fin"}),
    ]:
        response = client.open(_url(world, tail), method=method, json=body, headers=headers)
        assert response.status_code == 403
        assert response.json["field"] == "scope"
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarePlanVersion)) == 0
    assert db.session.get(CarePlan, plan.id).status == "draft"


# --- Publication and lifecycle ---------------------------------------------------------------


def test_publish_then_publish_unchanged_answers_published_false(client, db, world):
    drafted_plan(world)
    headers = _headers(world.coord)
    created = client.post(_url(world, "/versions"), json={"change_summary": "v1"}, headers=headers)
    assert created.status_code == 201
    assert created.json["number"] == 1
    assert created.json["published"] is True
    assert created.json["content"]["next_review_on"] == "2026-06-01"
    again = client.post(_url(world, "/versions"), json={"change_summary": "v2"}, headers=headers)
    assert again.status_code == 200
    assert again.json["published"] is False
    assert again.json["reason"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarePlanVersion)) == 1


def test_the_whole_lifecycle_through_the_api(client, db, world):
    drafted_plan(world)
    coord, gp = _headers(world.coord), _headers(world.physician)
    assert client.post(_url(world, "/versions"), json={}, headers=coord).status_code == 201
    early = client.post(_url(world, "/activate"), headers=coord)
    assert early.status_code == 409
    assert early.json["field"] == "status"
    validated = client.post(
        _url(world, "/approvals"), json={"kind": "gp_validation", "method": "meeting"}, headers=gp
    )
    assert validated.status_code == 201
    assert validated.json["recorded_by"]["id"] == world.physician.id
    assert client.post(_url(world, "/activate"), headers=coord).status_code == 409
    client.post(
        _url(world, "/approvals"),
        json={"kind": "patient_agreement", "method": "in_person"},
        headers=coord,
    )
    active = client.post(_url(world, "/activate"), headers=coord)
    assert active.status_code == 200
    assert active.json["status"] == "active"
    assert client.post(_url(world, "/revise"), headers=coord).json["status"] == "under_revision"
    closed = client.post(_url(world, "/close"), json={"reason": "Déménagement"}, headers=coord)
    assert closed.status_code == 200
    assert closed.json["status"] == "closed"
    assert closed.json["close_reason"] == "Déménagement"
    late = client.post(
        _url(world, "/approvals"), json={"kind": "gp_validation", "method": "phone"}, headers=gp
    )
    assert late.status_code == 409  # the version is validated already, and the plan closed


# --- Tasks -----------------------------------------------------------------------------------


def test_tasks_lists_my_open_actions_overdue_first(client, world):
    today = utcnow().date()
    plan = open_plan(world)
    content = sample_content(world)
    content.objectives[0].actions = [
        Action(
            key="later",
            what="Plus tard",
            assignee_user_id=world.nurse.id,
            due_on=today + timedelta(days=9),
        ),
        Action(key="undated", what="Sans date", assignee_user_id=world.nurse.id),
        Action(
            key="late",
            what="En retard",
            assignee_user_id=world.nurse.id,
            due_on=today - timedelta(days=2),
        ),
        Action(
            key="done",
            what="Faite",
            assignee_user_id=world.nurse.id,
            due_on=today - timedelta(days=9),
            status="done",
        ),
        Action(key="other", what="Pas pour moi", assignee_user_id=world.physician.id),
    ]
    save(plan, world.coord, content)
    response = client.get("/api/v1/tasks", headers=_headers(world.nurse))
    assert response.status_code == 200
    items = response.json["items"]
    assert [t["action_key"] for t in items] == ["late", "later", "undated"]
    first = items[0]
    assert first["overdue"] is True
    assert first["patient"] == {"id": world.patient.id, "name": "BERNARD Jeanne"}
    assert first["plan_href"] == f"/api/v1/patients/{world.patient.id}/care-plan"
    assert first["objective"] == "Prévenir les chutes"
    assert first["status"] == "planned"
    assert [t["overdue"] for t in items] == [True, False, False]


def _patient_with_tasks(world, count):
    patient = make_patient(world.team, world.coord)
    enrolment = patient_enrolment(patient)
    plan = services.create_plan(world.coord, enrolment, SYSTEM)
    objective = Objective(
        title="Suivi",
        actions=[
            Action(what=f"Action {i}", assignee_user_id=world.nurse.id, due_on=utcnow().date())
            for i in range(count)
        ],
    )
    services.add_objective(world.coord, plan, objective, SYSTEM)


def patient_enrolment(patient):
    from ptap.extensions import db

    return db.session.scalars(sa.select(Enrolment).filter_by(patient_id=patient.id)).one()


def test_task_list_runs_a_constant_number_of_queries(client, world, count_queries):
    headers = _headers(world.nurse)

    def queries_for_list():
        with count_queries() as queries:
            response = client.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 200
        return len(response.json["items"]), len(queries)

    _patient_with_tasks(world, 3)
    # Warm-up: the token's first use writes last_used_at, which the audit commit keeps.
    queries_for_list()
    few, few_queries = queries_for_list()
    for _ in range(4):
        _patient_with_tasks(world, 3)
    many, many_queries = queries_for_list()
    assert (few, many) == (3, 15)
    assert many_queries == few_queries


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_documents_the_care_plan_endpoints(client, db):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    paths = doc["paths"]
    base = "/api/v1/patients/{patient_id}/care-plan"
    mine = {
        base: {"get", "post"},
        f"{base}/draft": {"put"},
        f"{base}/versions": {"get", "post"},
        f"{base}/versions/{{number}}": {"get"},
        f"{base}/approvals": {"post"},
        f"{base}/activate": {"post"},
        f"{base}/revise": {"post"},
        f"{base}/close": {"post"},
        "/api/v1/tasks": {"get"},
    }
    for path, methods in mine.items():
        assert set(paths[path]) == methods, path
        for operation in paths[path].values():
            assert operation["tags"] == ["Plans de coordination"]
    publish = paths[f"{base}/versions"]["post"]
    assert "201" in publish["responses"]
    assert '"published": false' in publish["summary"]
    schemas = doc["components"]["schemas"]
    # The PPCS "Problem" must not replace the problem+json schema of every error.
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert schemas["PlanProblem"]["properties"]["dimension"]
    for name in ("PlanContent", "PlanOut", "DraftUpdate", "VersionOut", "TaskOut"):
        assert name in schemas


def test_version_list_runs_a_constant_number_of_queries(client, db, world, count_queries):
    """Approvals of every version are loaded in one query, not one per version."""
    from ptap.care_plans.content import load_content

    coord = _headers(world.coord)
    client.post(_url(world), json={}, headers=coord)
    plan = db.session.query(CarePlan).one()

    def publish(n: int) -> None:
        for i in range(n):
            content = load_content(plan.draft)
            content.expectations = f"Rester à domicile ({plan.draft_revision}-{i})"
            content.next_review_on = date(2027, 1, 1)
            services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
            services.publish_version(world.coord, plan, f"v{i}", SYSTEM)
        db.session.commit()

    publish(2)
    with count_queries() as few:
        assert len(client.get(f"{_url(world)}/versions", headers=coord).json["items"]) == 2
    publish(8)
    with count_queries() as many:
        assert len(client.get(f"{_url(world)}/versions", headers=coord).json["items"]) == 10
    assert len(many) == len(few)


def test_task_list_pages_by_cursor_in_the_same_order(client, world):
    headers = _headers(world.nurse)
    _patient_with_tasks(world, 3)
    _patient_with_tasks(world, 2)
    whole = client.get("/api/v1/tasks", headers=headers).json
    assert whole["page"]["next_cursor"] is None
    expected = [(t["patient"]["id"], t["action_key"]) for t in whole["items"]]
    assert len(expected) == 5
    paged, cursor = [], None
    while True:
        url = "/api/v1/tasks?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).json
        paged += [(t["patient"]["id"], t["action_key"]) for t in body["items"]]
        cursor = body["page"]["next_cursor"]
        if cursor is None:
            break
    assert paged == expected
