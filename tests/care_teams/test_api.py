"""JSON API of care teams: status codes, need-to-know, problem fields, audit, query counts."""

import pytest
import sqlalchemy as sa

from ptap.accounts import services as account_services
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_teams import circle
from ptap.care_teams.models import Patient
from ptap.core.ins import InsOid
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir

TEST_OID = str(InsOid.TEST_NIR)


def _headers(user, scopes=("api:read", "api:write")):
    _, plaintext = account_services.create_api_token(
        user, "t", list(scopes), 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def world(db):
    """A team with its coordinator and a member, a consented patient, and another team."""
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="physiotherapist")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    other_team = make_team("Équipe Vaise")
    outsider = make_user()
    add_member(other_team, outsider)
    # Strict traits the identity rules accept (the factory's names carry digits).
    patient = make_patient(team, coord, birth_name="BERNARD", search_birth_name="BERNARD")
    return {
        "team": team,
        "coord": coord,
        "member": member,
        "other_team": other_team,
        "outsider": outsider,
        "patient": patient,
    }


def _identity(**over):
    identity = {
        "birth_name": "Dupont",
        "first_names": "Marie Louise",
        "birth_date": {"year": 1940, "month": 5, "day": 12},
        "sex": "F",
        "birthplace_code": "69381",
        "ins_matricule": valid_nir("F", 1940, 5),
        "ins_oid": TEST_OID,
        "identity_status": "validated",
        "identity_check_method": "passport",
    }
    return identity | over


def _create_body(team, **identity):
    return {
        "team_id": team.id,
        "identity": _identity(**identity),
        "request": {
            "requested_on": "2026-01-05",
            "requester_kind": "gp",
            "requester_name": "Dr Martin",
            "problem_categories": ["medical", "social"],
        },
    }


def _create(client, world, **identity):
    return client.post(
        "/api/v1/patients",
        json=_create_body(world["team"], **identity),
        headers=_headers(world["coord"]),
    )


def _reads_audited(db, patient_id, outcome="success"):
    return (
        db.session.query(AuditEvent)
        .filter_by(action="patient.read", patient_id=patient_id, outcome=outcome)
        .count()
    )


# --- Teams -----------------------------------------------------------------------------------


def test_teams_lists_my_teams_with_my_role(client, world):
    response = client.get("/api/v1/teams", headers=_headers(world["coord"]))
    assert response.status_code == 200
    [team] = response.json["items"]
    assert team["id"] == world["team"].id
    assert team["my_role"] == "coordinator"
    assert team["structure"]["kind"] == "dac"
    assert team["territory"] == {"region_code": "84", "department_code": "69", "name": "Rhône"}
    member_view = client.get("/api/v1/teams", headers=_headers(world["member"])).json
    assert [t["my_role"] for t in member_view["items"]] == ["member"]


def test_teams_admin_sees_every_team_and_analyst_is_refused(client, world):
    admin = make_user(role="admin", profession="administrative")
    response = client.get("/api/v1/teams", headers=_headers(admin))
    assert response.status_code == 200
    assert {t["id"] for t in response.json["items"]} == {
        world["team"].id,
        world["other_team"].id,
    }
    assert {t["my_role"] for t in response.json["items"]} == {None}
    analyst = make_user(role="ars_analyst", profession="public_health")
    assert client.get("/api/v1/teams", headers=_headers(analyst)).status_code == 403


# --- Patient list ----------------------------------------------------------------------------


def test_list_shows_only_visible_patients(client, world):
    unconsented = make_patient(world["team"], world["coord"], consent=False)
    make_patient(world["other_team"], world["outsider"])

    def ids(user):
        response = client.get("/api/v1/patients", headers=_headers(user))
        assert response.status_code == 200
        return {p["id"] for p in response.json["items"]}

    assert ids(world["member"]) == {world["patient"].id}
    assert ids(world["coord"]) == {world["patient"].id, unconsented.id}
    assert world["patient"].id not in ids(world["outsider"])


def test_list_summary_fields(client, world):
    response = client.get("/api/v1/patients", headers=_headers(world["member"]))
    [item] = response.json["items"]
    patient = world["patient"]
    assert item["birth_date"] == {"year": 1940, "month": 5, "day": 12}
    assert item["ins"] == {"matricule": patient.ins_matricule, "oid": TEST_OID}
    assert item["teams"] == [world["team"].id]
    assert item["identity_status"] == "qualified"
    assert response.json["page"]["next_cursor"] is None


def test_list_with_a_session(client, auth, world):
    auth.login(world["member"])
    response = client.get("/api/v1/patients")
    assert response.status_code == 200
    assert [p["id"] for p in response.json["items"]] == [world["patient"].id]


def test_list_search_and_invalid_birth_date(client, world):
    headers = _headers(world["coord"])
    make_patient(world["team"], world["coord"], birth_name="MARTIN", search_birth_name="MARTIN")
    found = client.get("/api/v1/patients?name=mart", headers=headers).json["items"]
    assert [p["birth_name"] for p in found] == ["MARTIN"]
    by_ins = client.get(
        f"/api/v1/patients?ins={world['patient'].ins_matricule}", headers=headers
    ).json["items"]
    assert [p["id"] for p in by_ins] == [world["patient"].id]
    assert len(client.get("/api/v1/patients?birth_date=12/05/1940", headers=headers).json["items"])
    assert client.get("/api/v1/patients?birth_date=1941", headers=headers).json["items"] == []
    bad = client.get("/api/v1/patients?birth_date=hier", headers=headers)
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"
    assert bad.json["field"] == "birth_date"


def test_list_paginates_with_a_cursor(client, world):
    for _ in range(4):
        make_patient(world["team"], world["coord"])
    headers = _headers(world["member"])
    first = client.get("/api/v1/patients?limit=3", headers=headers).json
    assert len(first["items"]) == 3
    second = client.get(
        f"/api/v1/patients?limit=3&cursor={first['page']['next_cursor']}", headers=headers
    ).json
    assert len(second["items"]) == 2
    assert second["page"]["next_cursor"] is None
    seen = [p["id"] for p in first["items"] + second["items"]]
    assert len(set(seen)) == 5


def test_list_runs_a_constant_number_of_queries(client, world, count_queries):
    headers = _headers(world["member"])

    def queries_for_list():
        with count_queries() as queries:
            response = client.get("/api/v1/patients", headers=headers)
        assert response.status_code == 200
        return len(response.json["items"]), len(queries)

    # Warm-up: the token's first use writes last_used_at (once a minute), the audit commits it.
    queries_for_list()
    for _ in range(4):
        make_patient(world["team"], world["coord"])
    few, few_queries = queries_for_list()
    for _ in range(25):
        make_patient(world["team"], world["coord"])
    many, many_queries = queries_for_list()
    assert (few, many) == (5, 30)
    assert many_queries == few_queries


@pytest.mark.parametrize(
    ("role", "profession"), [("admin", "administrative"), ("ars_analyst", "public_health")]
)
def test_admin_and_analyst_never_see_patients(client, world, role, profession):
    user = make_user(role=role, profession=profession)
    headers = _headers(user)
    assert client.get("/api/v1/patients", headers=headers).status_code == 403
    pid = world["patient"].id
    for path in ("", "/consents", "/circle", "/access-log"):
        response = client.get(f"/api/v1/patients/{pid}{path}", headers=headers)
        assert response.status_code == 403, path
        assert world["patient"].birth_name not in response.get_data(as_text=True)


# --- Patient record --------------------------------------------------------------------------


def test_record_shows_details_and_audits_the_read(client, db, world):
    patient = world["patient"]
    patient.city = "Lyon"
    response = client.get(f"/api/v1/patients/{patient.id}", headers=_headers(world["member"]))
    assert response.status_code == 200
    body = response.json
    assert body["contact_details"]["city"] == "Lyon"
    assert body["consent"] == {"sharing": True, "dmp_opposition": False}
    [enrolment] = body["enrolments"]
    assert enrolment["team"] == {"id": world["team"].id, "name": "Équipe Croix-Rousse"}
    assert enrolment["problem_categories"] == ["medical"]
    assert enrolment["ended_at"] is None
    assert _reads_audited(db, patient.id) == 1


def test_other_teams_patient_answers_404_without_name_or_ins(client, db, world):
    patient = world["patient"]
    headers = _headers(world["outsider"])
    for path in ("", "/consents", "/circle", "/access-log"):
        response = client.get(f"/api/v1/patients/{patient.id}{path}", headers=headers)
        assert response.status_code == 404, path
        assert response.content_type == "application/problem+json"
        text = response.get_data(as_text=True)
        assert patient.birth_name not in text
        assert patient.ins_matricule not in text
    missing = client.get("/api/v1/patients/999999", headers=headers)
    assert missing.status_code == 404
    assert missing.json["detail"] == response.json["detail"]
    assert _reads_audited(db, patient.id, "denied") == 3
    assert _reads_audited(db, patient.id) == 0


# --- Creation --------------------------------------------------------------------------------


def test_coordinator_creates_a_patient_seen_by_members_after_consent(client, db, world):
    response = _create(client, world)
    assert response.status_code == 201
    body = response.json
    assert body["birth_name"] == "DUPONT"
    assert body["teams"] == [world["team"].id]
    assert body["ins"]["oid"] == TEST_OID
    pid = body["id"]
    member = _headers(world["member"])
    assert client.get(f"/api/v1/patients/{pid}", headers=member).status_code == 404
    assert (
        client.get(f"/api/v1/patients/{pid}", headers=_headers(world["coord"])).status_code == 200
    )
    enrolment = db.session.get(Patient, pid)
    assert enrolment.identity_checked_by_id == world["coord"].id


@pytest.mark.parametrize(
    ("status", "method", "field"),
    [
        ("qualified", "insi_and_document", "identity.identity_status"),
        ("recovered", "insi", "identity.identity_status"),
        ("provisional", "insi", "identity.identity_check_method"),
    ],
)
def test_create_refuses_a_status_only_insi_gives(client, db, world, status, method, field):
    before = db.session.scalar(sa.select(sa.func.count(Patient.id)))
    body = _create_body(world["team"], identity_status=status, identity_check_method=method)
    response = client.post("/api/v1/patients", json=body, headers=_headers(world["coord"]))
    assert response.status_code == 422
    assert response.json["field"] == field
    assert "INSi" in response.json["detail"]
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == before


def test_patch_cannot_qualify_by_hand(client, db, world):
    patient = make_patient(world["team"], world["coord"], status="validated")
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={"identity": {"identity_status": "qualified"}},
        headers=_headers(world["coord"]),
    )
    assert response.status_code == 422
    assert response.json["field"] == "identity.identity_status"
    db.session.refresh(patient)
    assert patient.identity_status == "validated"


def test_create_with_a_session_needs_the_csrf_header(client, auth, world):
    auth.login(world["coord"])
    body = _create_body(world["team"])
    assert client.post("/api/v1/patients", json=body).status_code == 400
    token = csrf_token(client, "/account")
    response = client.post("/api/v1/patients", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 201


def test_invalid_ins_key_names_the_nested_field(client, world):
    nir = valid_nir("F", 1940, 5)
    wrong_key = nir[:13] + f"{(int(nir[13:]) % 97) + 1:02d}"
    response = _create(client, world, ins_matricule=wrong_key)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["field"] == "identity.ins_matricule"
    assert response.json["errors"][0]["field"] == "identity.ins_matricule"


def test_unknown_oid_names_the_nested_field(client, world):
    response = _create(client, world, ins_oid="1.2.3.4")
    assert response.status_code == 422
    assert response.json["field"] == "identity.ins_oid"


def test_service_errors_are_named_under_the_body(client, world):
    response = _create(client, world, birth_date={"year": 1940, "month": 13, "day": None})
    assert response.json["field"] == "identity.birth_date"
    body = _create_body(world["team"])
    body["request"]["problem_categories"] = []
    response = client.post("/api/v1/patients", json=body, headers=_headers(world["coord"]))
    assert response.status_code == 422
    assert response.json["field"] == "request.problem_categories"


def test_duplicate_ins_answers_409_with_a_link_to_the_record(client, db, world):
    existing = world["patient"]
    response = _create(client, world, ins_matricule=existing.ins_matricule)
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.json["field"] == "identity.ins_matricule"
    assert response.json["existing"] == {
        "id": existing.id,
        "href": f"/api/v1/patients/{existing.id}",
    }
    assert db.session.query(Patient).count() == 1


def test_duplicate_ins_hidden_from_an_outsider_names_the_teams_not_the_record(client, db, world):
    existing = world["patient"]
    outsider = make_user(role="coordinator", profession="nurse")
    add_member(world["other_team"], outsider, "coordinator")
    body = _create_body(world["other_team"], ins_matricule=existing.ins_matricule)
    response = client.post("/api/v1/patients", json=body, headers=_headers(outsider))
    assert response.status_code == 409
    assert response.json["field"] == "identity.ins_matricule"
    assert "existing" not in response.json
    assert response.json["contacts"] == ["Équipe Croix-Rousse (DAC du Rhône)"]
    assert "déjà enregistrée" in response.json["detail"]
    assert "Équipe Croix-Rousse" in response.json["detail"]
    assert f"/patients/{existing.id}" not in response.get_data(as_text=True)
    assert db.session.query(Patient).count() == 1


def test_malformed_bodies_name_each_field(client, world):
    headers = _headers(world["coord"])
    not_json = client.post("/api/v1/patients", data="{nope", headers=headers)
    assert not_json.status_code == 422
    assert not_json.json["field"] == "body"
    missing = client.post("/api/v1/patients", json={"team_id": world["team"].id}, headers=headers)
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json["errors"]} == {"identity", "request"}
    body = _create_body(world["team"])
    body["team_id"] = "équipe"
    body["identity"]["birth_date"]["year"] = "mil neuf cent"
    body["identity"]["sex"] = "X"
    body["request"]["requester_kind"] = "voisin"
    body["identity"]["nickname"] = "Mamie"
    wrong = client.post("/api/v1/patients", json=body, headers=headers)
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json["errors"]} == {
        "team_id",
        "identity.birth_date.year",
        "identity.sex",
        "identity.nickname",
        "request.requester_kind",
    }


def test_plain_member_cannot_create(client, world):
    # A platform coordinator who is only a member of this team.
    member_coord = make_user(role="coordinator")
    add_member(world["team"], member_coord)
    body = _create_body(world["team"])
    response = client.post("/api/v1/patients", json=body, headers=_headers(member_coord))
    assert response.status_code == 403
    response = client.post("/api/v1/patients", json=body, headers=_headers(world["member"]))
    assert response.status_code == 403


def test_create_in_a_team_i_do_not_belong_to_is_404(client, world):
    stranger = make_user(role="coordinator")
    add_member(world["other_team"], stranger, "coordinator")
    for team_id in (world["team"].id, 999999):
        body = _create_body(world["team"]) | {"team_id": team_id}
        response = client.post("/api/v1/patients", json=body, headers=_headers(stranger))
        assert response.status_code == 404
        assert response.json["field"] == "team_id"
        assert "Croix-Rousse" not in response.get_data(as_text=True)


def test_read_only_token_cannot_create(client, world):
    headers = _headers(world["coord"], scopes=("api:read",))
    response = client.post("/api/v1/patients", json=_create_body(world["team"]), headers=headers)
    assert response.status_code == 403
    assert response.json["field"] == "scope"


# --- Update ----------------------------------------------------------------------------------


def test_patch_merges_only_the_fields_sent(client, world):
    patient = world["patient"]
    patient.city, patient.gp_name = "Lyon", "Dr Martin"
    headers = _headers(world["coord"])
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={"identity": {"used_name": "Durand"}, "contact_details": {"phone": "0601020304"}},
        headers=headers,
    )
    assert response.status_code == 200
    body = response.json
    assert body["used_name"] == "Durand"  # the used name keeps its spelling (display)
    assert body["identity_status"] == "qualified"  # the used name is not a strict trait
    assert body["ins"]["matricule"] == patient.ins_matricule
    assert body["contact_details"]["phone"] == "0601020304"
    assert body["contact_details"]["city"] == "Lyon"
    assert body["contact_details"]["gp_name"] == "Dr Martin"


def test_patch_of_a_strict_trait_sends_the_identity_back_to_provisional(client, world):
    pid = world["patient"].id
    response = client.patch(
        f"/api/v1/patients/{pid}",
        json={"identity": {"first_names": "Marie Jeanne"}},
        headers=_headers(world["coord"]),
    )
    assert response.status_code == 200
    assert response.json["identity_status"] == "provisional"
    assert response.json["identity_check_method"] == ""


def test_patch_errors_are_named_under_the_body(client, world):
    pid, headers = world["patient"].id, _headers(world["coord"])
    bad_postal = client.patch(
        f"/api/v1/patients/{pid}",
        json={"contact_details": {"postal_code": "6900"}},
        headers=headers,
    )
    assert bad_postal.status_code == 422
    assert bad_postal.json["field"] == "contact_details.postal_code"
    bad_oid = client.patch(
        f"/api/v1/patients/{pid}", json={"identity": {"ins_oid": "1.2"}}, headers=headers
    )
    assert bad_oid.json["field"] == "identity.ins_oid"
    empty = client.patch(f"/api/v1/patients/{pid}", json={}, headers=headers)
    assert empty.status_code == 422
    assert empty.json["field"] == "body"
    assert empty.json["detail"].startswith("Indiquez l'identité")


def test_patch_to_an_ins_already_taken_is_409(client, world):
    other = make_patient(world["team"], world["coord"])
    response = client.patch(
        f"/api/v1/patients/{world['patient'].id}",
        json={"identity": {"ins_matricule": other.ins_matricule}},
        headers=_headers(world["coord"]),
    )
    assert response.status_code == 409
    assert response.json["field"] == "identity.ins_matricule"
    assert response.json["existing"]["id"] == other.id


def test_plain_member_cannot_patch(client, db, world):
    patient = world["patient"]
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={"identity": {"used_name": "Durand"}},
        headers=_headers(world["member"]),
    )
    assert response.status_code == 404
    db.session.refresh(patient)
    assert patient.used_name == ""


# --- Consents --------------------------------------------------------------------------------


def test_consent_given_then_withdrawn_opens_and_closes_the_record(client, world):
    pid = _create(client, world).json["id"]
    coord, member = _headers(world["coord"]), _headers(world["member"])
    assert client.get(f"/api/v1/patients/{pid}", headers=member).status_code == 404
    given = client.post(
        f"/api/v1/patients/{pid}/consents",
        json={"kind": "sharing", "given": True, "method": "oral", "note": "Au domicile"},
        headers=coord,
    )
    assert given.status_code == 201
    assert given.json["recorded_by"] == {"id": world["coord"].id, "name": world["coord"].full_name}
    assert given.json["has_document"] is False
    assert client.get(f"/api/v1/patients/{pid}", headers=member).status_code == 200
    consents = client.get(f"/api/v1/patients/{pid}/consents", headers=member).json
    assert consents["sharing"] is True
    assert [e["note"] for e in consents["history"]] == ["Au domicile"]
    withdrawn = client.post(
        f"/api/v1/patients/{pid}/consents",
        json={"kind": "sharing", "given": False, "method": "oral"},
        headers=coord,
    )
    assert withdrawn.status_code == 201
    assert client.get(f"/api/v1/patients/{pid}", headers=member).status_code == 404
    history = client.get(f"/api/v1/patients/{pid}/consents", headers=coord).json["history"]
    assert [e["given"] for e in history] == [False, True]


def test_signed_form_cannot_come_over_json(client, world):
    response = client.post(
        f"/api/v1/patients/{world['patient'].id}/consents",
        json={"kind": "sharing", "given": True, "method": "signed_form"},
        headers=_headers(world["coord"]),
    )
    assert response.status_code == 422
    assert response.json["field"] == "method"


def test_member_cannot_record_a_consent(client, world):
    response = client.post(
        f"/api/v1/patients/{world['patient'].id}/consents",
        json={"kind": "sharing", "given": False, "method": "oral"},
        headers=_headers(world["member"]),
    )
    assert response.status_code == 404
    bad = client.post(
        f"/api/v1/patients/{world['patient'].id}/consents",
        json={"kind": "everything", "given": "perhaps", "method": "oral"},
        headers=_headers(world["coord"]),
    )
    assert {e["field"] for e in bad.json["errors"]} == {"kind", "given"}


# --- Circle and access log -------------------------------------------------------------------


def test_circle_lists_members_and_invitations(client, world):
    from datetime import timedelta

    from ptap.core.models import utcnow

    guest = make_user(profession="pharmacist")
    circle.invite_to_circle(
        world["coord"], world["patient"], guest, utcnow() + timedelta(days=10), "", SYSTEM
    )
    response = client.get(
        f"/api/v1/patients/{world['patient'].id}/circle", headers=_headers(world["member"])
    )
    assert response.status_code == 200
    items = {m["user_id"]: m for m in response.json["items"]}
    assert set(items) == {world["coord"].id, world["member"].id, guest.id}
    assert items[world["coord"].id]["team_role"] == "coordinator"
    assert items[world["member"].id]["profession"] == "Masseur-kinésithérapeute"
    assert items[guest.id]["until"] is not None
    assert items[guest.id]["basis"] == "Invité pour ce patient"


def test_access_log_lists_reads_with_professions(client, db, world):
    patient, other = world["patient"], make_patient(world["team"], world["coord"])
    member, coord = _headers(world["member"]), _headers(world["coord"])
    client.get(f"/api/v1/patients/{patient.id}", headers=member)
    client.get(f"/api/v1/patients/{patient.id}/consents", headers=coord)
    client.get(f"/api/v1/patients/{other.id}", headers=member)
    client.get(f"/api/v1/patients/{patient.id}", headers=_headers(world["outsider"]))
    response = client.get(f"/api/v1/patients/{patient.id}/access-log", headers=coord)
    assert response.status_code == 200
    reads = [
        (e["who"], e["profession"])
        for e in response.json["items"]
        if e["action"] == "Consultation du dossier"
    ]
    assert reads == [  # newest first
        (world["coord"].full_name, "Infirmier·ère"),
        (world["member"].full_name, "Masseur-kinésithérapeute"),
    ]
    # This consultation is itself in the log, and the outsider's denied read is not.
    assert response.json["items"][0]["action"] == "Consultation de l'historique des accès"
    assert world["outsider"].full_name not in response.get_data(as_text=True)
    logged = db.session.query(AuditEvent).filter_by(action="patient.access_log").one()
    assert (logged.patient_id, logged.actor_id) == (patient.id, world["coord"].id)


def test_access_log_paginates_and_is_for_coordinators(client, world):
    patient = world["patient"]
    member = _headers(world["member"])
    for _ in range(3):
        client.get(f"/api/v1/patients/{patient.id}", headers=member)
    assert (
        client.get(f"/api/v1/patients/{patient.id}/access-log", headers=member).status_code == 404
    )
    coord = _headers(world["coord"])
    first = client.get(f"/api/v1/patients/{patient.id}/access-log?limit=2", headers=coord).json
    assert len(first["items"]) == 2
    # Newest first: this consultation of the log, then the member's last read.
    assert first["items"][0]["action"] == "Consultation de l'historique des accès"
    assert first["items"][1]["action"] == "Consultation du dossier"
    cursor = first["page"]["next_cursor"]
    rest = client.get(
        f"/api/v1/patients/{patient.id}/access-log?limit=50&cursor={cursor}", headers=coord
    ).json
    assert rest["page"]["next_cursor"] is None
    assert len(rest["items"]) == 2  # the two earlier reads
    times = [e["at"] for e in first["items"] + rest["items"]]
    assert times == sorted(times, reverse=True)


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_documents_the_care_team_endpoints(client, db):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    paths = doc["paths"]
    assert set(paths["/api/v1/patients"]) == {"get", "post"}
    assert set(paths["/api/v1/patients/{patient_id}"]) == {"get", "patch"}
    assert set(paths["/api/v1/patients/{patient_id}/consents"]) == {"get", "post"}
    for path in ("/api/v1/teams", "/api/v1/patients/{patient_id}/circle"):
        assert paths[path]["get"]["tags"]
    log = paths["/api/v1/patients/{patient_id}/access-log"]["get"]
    assert {p["name"] for p in log["parameters"]} >= {"patient_id", "cursor", "limit"}
    listing = paths["/api/v1/patients"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"name", "ins", "birth_date", "cursor"}
    assert listing["tags"] == ["Patients"]
    for schema in ("PatientCreate", "PatientDetail", "PatientUpdate", "ConsentCreate", "TeamList"):
        assert schema in doc["components"]["schemas"]
