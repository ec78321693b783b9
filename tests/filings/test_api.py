"""JSON API of DMP filings: need-to-know lists, 404 vs 403, exact downloads, actions, problems."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core.models import utcnow
from ptap.dmp_bridge import gates
from ptap.dmp_bridge.models import AttemptOutcome, DmpAttempt, DmpSubmission, SubmissionStatus
from tests.factories import make_patient
from tests.filings.conftest import CDA, REQUEST, REQUEST_TYPE, add_payload, api_headers, make_row

API = "/api/v1/dmp/submissions"


def url(row, tail: str = "") -> str:
    return f"{API}/{row.id}{tail}"


# --- Lists -----------------------------------------------------------------------------------


def test_list_shows_only_rows_of_patients_the_user_sees(client, db, org):
    mine = [make_row(org.patient, org.team) for _ in range(2)]
    theirs = make_row(org.other_patient, org.other_team)
    body = client.get(API, headers=api_headers(org.nurse)).json
    assert [item["id"] for item in body["items"]] == [mine[1].id, mine[0].id]
    item = body["items"][0]
    assert item["status"] == "pending" and item["status_label"] == "En attente d'envoi"
    assert item["set_oid"] == mine[1].document_set.set_oid
    assert item["href"] == url(mine[1])
    # Filtering on another team's patient or team never reveals their rows.
    for query in ({"patient_id": org.other_patient.id}, {"team_id": org.other_team.id}):
        assert (
            client.get(API, query_string=query, headers=api_headers(org.nurse)).json["items"] == []
        )
    other = client.get(API, headers=api_headers(org.other_coord)).json
    assert [item["id"] for item in other["items"]] == [theirs.id]


def test_list_filters_and_pages_with_a_cursor(client, db, org):
    failed = [make_row(org.patient, org.team, status="failed") for _ in range(3)]
    make_row(org.patient, org.team)
    headers = api_headers(org.coord)
    first = client.get(API, query_string={"status": "failed", "limit": 2}, headers=headers).json
    assert [i["id"] for i in first["items"]] == [failed[2].id, failed[1].id]
    cursor = first["page"]["next_cursor"]
    second = client.get(
        API, query_string={"status": "failed", "limit": 2, "cursor": cursor}, headers=headers
    ).json
    assert [i["id"] for i in second["items"]] == [failed[0].id]
    assert second["page"]["next_cursor"] is None
    by_patient = client.get(API, query_string={"patient_id": org.patient.id}, headers=headers)
    assert len(by_patient.json["items"]) == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"patient_id": "abc"}, "patient_id"),
        ({"team_id": "-1"}, "team_id"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_bad_filters_are_problems_naming_the_parameter(client, db, org, query, field):
    response = client.get(API, query_string=query, headers=api_headers(org.coord))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["field"] == field


@pytest.mark.parametrize("who", ["admin"])
def test_non_clinicians_are_refused(client, db, org, who):
    make_row(org.patient, org.team)
    response = client.get(API, headers=api_headers(getattr(org, who)))
    assert response.status_code == 403


def test_list_runs_a_constant_number_of_queries(client, db, org, count_queries):
    headers = api_headers(org.coord)
    counts = []
    for n in (1, 8):
        for _ in range(n):
            make_row(make_patient(org.team, org.coord), org.team)
        # Warm-up: the token's first use writes last_used_at, which the audit commit keeps.
        client.get(API, headers=headers)
        with count_queries() as seen:
            assert client.get(API, headers=headers).status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1]


# --- One row ---------------------------------------------------------------------------------


def test_detail_has_ids_attempts_and_payload_links(client, db, org):
    row = make_row(
        org.patient,
        org.team,
        status=SubmissionStatus.FILED,
        filed_at=utcnow(),
        attempts=2,
        entry_uuid="urn:uuid:6f1d0a3e-0000-4000-8000-000000000001",
        submission_set_oid="1.2.250.1.999.1.1.2.1.2",
    )
    started = utcnow()
    db.session.add_all(
        [
            DmpAttempt(
                submission_id=row.id,
                number=1,
                worker="w:1",
                started_at=started,
                finished_at=started,
                outcome=AttemptOutcome.TRANSIENT_ERROR,
                error_code="timeout",
                message="Le DMP ne répond pas.",
            ),
            DmpAttempt(submission_id=row.id, number=2, outcome=AttemptOutcome.FILED),
        ]
    )
    add_payload(row)
    body = client.get(url(row), headers=api_headers(org.nurse)).json
    assert body["status_label"] == "Déposé dans le DMP"
    assert body["document_oid"] == row.document_oid
    assert body["set_oid"] == row.document_set.set_oid
    assert body["entry_uuid"] == row.entry_uuid
    assert body["submission_set_oid"] == row.submission_set_oid
    assert body["operation"] == "file" and body["kind"] == "ppcs" and body["version_number"] == 1
    assert body["requested_at"] and body["filed_at"]
    assert body["attempt_count"] == 2
    first, second = body["attempts"]
    assert (first["number"], first["outcome"], first["error_code"], first["message"]) == (
        1,
        "transient_error",
        "timeout",
        "Le DMP ne répond pas.",
    )
    assert first["started_at"] and first["finished_at"] and first["worker"] == "w:1"
    assert second["outcome_label"] == "Réussi"
    assert body["payload"] == {
        "cda_href": url(row, "/cda"),
        "cda_size": len(CDA),
        "request_href": url(row, "/request"),
        "request_size": len(REQUEST),
        "request_content_type": REQUEST_TYPE,
    }


def test_rows_outside_the_circle_are_404_and_the_refusal_is_audited(client, db, org):
    theirs = make_row(org.other_patient, org.other_team, status=SubmissionStatus.FAILED)
    add_payload(theirs)
    headers = api_headers(org.coord)
    missing = client.get(f"{API}/999999", headers=headers)
    for method, tail in (("get", ""), ("get", "/cda"), ("get", "/request"), ("post", "/retry")):
        response = getattr(client, method)(url(theirs, tail), headers=headers)
        assert response.status_code == 404, tail
        assert response.json["detail"] == missing.json["detail"]  # nothing tells them apart
    denied = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.outcome == "denied", AuditEvent.actor_id == org.coord.id
        )
    ).all()
    assert {e.object_id for e in denied} == {str(theirs.id)}
    assert db.session.get(DmpSubmission, theirs.id).status == SubmissionStatus.FAILED


@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [
        ("get", "/cda", None),
        ("get", "/request", None),
        ("post", "/retry", None),
        ("post", "/release", None),
        ("post", "/cancel", {"reason": "Doublon"}),
        ("post", "/dmp-changes", {"operation": "archive"}),
    ],
)
def test_members_who_see_the_row_but_may_not_act_get_403(client, db, org, method, tail, body):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    add_payload(row)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(url(row, tail), headers=api_headers(org.nurse), **kwargs)
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert db.session.get(DmpSubmission, row.id).status == SubmissionStatus.FAILED


def test_downloads_return_the_exact_stored_bytes_and_type(client, db, org):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    add_payload(row)
    headers = api_headers(org.coord)
    cda = client.get(url(row, "/cda"), headers=headers)
    assert cda.status_code == 200
    assert cda.data == CDA
    assert cda.headers["Content-Type"] == "application/xml"
    assert cda.headers["Content-Disposition"] == f'attachment; filename="dmp-{row.id}-cda.xml"'
    request = client.get(url(row, "/request"), headers=headers)
    assert request.data == REQUEST
    assert request.headers["Content-Type"] == REQUEST_TYPE
    assert request.headers["Content-Disposition"].startswith("attachment;")
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.actor_id == org.coord.id)
    ).all()
    assert {"dmp_submission.download_cda", "dmp_submission.download_request"} <= set(actions)


def test_download_of_nothing_stored_is_404(client, db, org):
    row = make_row(org.patient, org.team)
    response = client.get(url(row, "/cda"), headers=api_headers(org.coord))
    assert response.status_code == 404


# --- Actions ---------------------------------------------------------------------------------


def test_retry_cancel_release_and_changes(client, db, org):
    headers = api_headers(org.coord)
    failed = make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    response = client.post(url(failed, "/retry"), headers=headers)
    assert response.status_code == 200 and response.json["status"] == "pending"

    response = client.post(url(failed, "/cancel"), json={"reason": "Doublon"}, headers=headers)
    assert response.status_code == 200
    assert (response.json["status"], response.json["status_reason"]) == ("cancelled", "Doublon")

    blocked = make_row(
        org.patient, org.team, status=SubmissionStatus.BLOCKED, status_reason=gates.NO_CONSENT
    )
    response = client.post(url(blocked, "/release"), headers=headers)
    assert response.status_code == 200 and response.json["status"] == "pending"

    filed = make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    response = client.post(
        url(filed, "/dmp-changes"),
        json={"operation": "update_visibility", "confidentiality": ["hidden_from_patient"]},
        headers=headers,
    )
    assert response.status_code == 201
    change = response.json
    assert (change["operation"], change["target_id"], change["status"]) == (
        "update_visibility",
        filed.id,
        "pending",
    )
    assert change["confidentiality"] == ["hidden_from_patient"]
    assert change["operation_label"] == "Changement de visibilité"


def test_release_when_the_cause_remains_stays_blocked_with_why(client, db, org):
    org.patient.dmp_opposition = True
    row = make_row(org.patient, org.team)
    response = client.post(url(row, "/release"), headers=api_headers(org.coord))
    assert response.status_code == 200
    assert (response.json["status"], response.json["status_reason"]) == (
        "blocked",
        gates.OPPOSITION,
    )


@pytest.mark.parametrize(
    ("tail", "status", "message"),
    [
        ("/retry", SubmissionStatus.PENDING, "Seul un envoi en échec peut être relancé."),
        ("/release", SubmissionStatus.FILED, "Seul un envoi bloqué peut être débloqué."),
        ("/cancel", SubmissionStatus.FILED, "Cet envoi ne peut plus être annulé."),
        ("/dmp-changes", SubmissionStatus.FAILED, "Seul un document déposé dans le DMP peut "),
    ],
)
def test_wrong_states_are_409_with_the_french_message(client, db, org, tail, status, message):
    row = make_row(org.patient, org.team, status=status)
    body = {"/cancel": {"reason": "Doublon"}, "/dmp-changes": {"operation": "delete"}}.get(tail)
    response = client.post(url(row, tail), json=body, headers=api_headers(org.coord))
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.json["detail"].startswith(message)
    assert response.json["field"] == "status"


@pytest.mark.parametrize(
    ("tail", "body", "field"),
    [
        ("/cancel", {}, "reason"),
        ("/cancel", {"reason": ""}, "reason"),
        ("/cancel", {"reason": "   "}, "reason"),
        ("/cancel", {"reason": "x" * 501}, "reason"),
        ("/cancel", {"reason": "Doublon", "force": True}, "force"),
        ("/cancel", ["Doublon"], "body"),
        ("/dmp-changes", {"operation": "shred"}, "operation"),
        ("/dmp-changes", {"operation": "file"}, "operation"),
        ("/dmp-changes", {"operation": "update_visibility"}, "confidentiality"),
        (
            "/dmp-changes",
            {"operation": "update_visibility", "confidentiality": ["top"]},
            "confidentiality.0",
        ),
    ],
)
def test_malformed_payloads_are_problems_naming_the_field(client, db, org, tail, body, field):
    status = SubmissionStatus.FILED if tail == "/dmp-changes" else SubmissionStatus.PENDING
    row = make_row(org.patient, org.team, status=status)
    response = client.post(url(row, tail), json=body, headers=api_headers(org.coord))
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert response.json["field"] == field
    assert db.session.get(DmpSubmission, row.id).status == status


def test_a_body_that_is_not_json_is_a_problem(client, db, org):
    row = make_row(org.patient, org.team)
    response = client.post(
        url(row, "/cancel"), data="reason=Doublon", headers=api_headers(org.coord)
    )
    assert response.status_code == 422
    assert response.json["field"] == "body"


def test_a_read_only_token_cannot_act(client, db, org):
    row = make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    response = client.post(url(row, "/retry"), headers=api_headers(org.coord, ("api:read",)))
    assert response.status_code == 403
    assert response.json["field"] == "scope"


def test_the_endpoints_are_in_the_openapi_document(client, db):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert set(paths[API]) == {"get"}
    for tail in ("", "/cda", "/request"):
        assert "get" in paths[f"{API}/{{submission_id}}{tail}"]
    for tail in ("/retry", "/cancel", "/release", "/dmp-changes"):
        assert "post" in paths[f"{API}/{{submission_id}}{tail}"]
    listed = {p["name"] for p in paths[API]["get"]["parameters"]}
    assert {"patient_id", "status", "team_id", "cursor", "limit"} <= listed
