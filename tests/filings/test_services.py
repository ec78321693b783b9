"""Coordinators' actions on DMP filings: who may act, wrong states, audit of each action."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent, Outcome
from ptap.audit.services import AuditContext
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.dmp_bridge import gates
from ptap.dmp_bridge.models import DmpSubmission, SubmissionStatus
from ptap.filings import services
from tests.filings.conftest import CDA, REQUEST, REQUEST_TYPE, add_payload, make_row

FAILED = {"status": SubmissionStatus.FAILED, "status_reason": "Le DMP a refusé le document."}
BLOCKED = {"status": SubmissionStatus.BLOCKED, "status_reason": gates.NOT_QUALIFIED}
FILED = {"status": SubmissionStatus.FILED}


def ctx(user) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


def events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def _retry(user, row):
    return services.retry_filing(user, row, ctx(user))


def _cancel(user, row):
    return services.cancel_filing(user, row, "Document remplacé par un envoi papier", ctx(user))


def _release(user, row):
    return services.release_filing(user, row, ctx(user))


def _archive(user, row):
    return services.request_dmp_change(user, row, "archive", (), ctx(user))


def _download(user, row):
    return services.download_payload(user, row, "cda", ctx(user))


#: action: (service call, columns of a row it applies to, audit action)
ACTIONS = {
    "retry": (_retry, FAILED, "dmp_submission.retry"),
    "cancel": (_cancel, BLOCKED, "dmp_submission.cancel"),
    "release": (_release, BLOCKED, "dmp_submission.release"),
    "archive": (_archive, FILED, "dmp_submission.archive"),
    "download": (_download, FAILED, "dmp_submission.download_cda"),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_the_patients_coordinator_acts_and_it_is_audited(db, org, action):
    call, columns, audited = ACTIONS[action]
    row = make_row(org.patient, org.team, by=org.gp, **columns)
    add_payload(row)
    call(org.coord, row)
    [event] = events(db, audited)
    assert (event.actor_id, event.object_type, event.object_id) == (
        org.coord.id,
        "dmp_submission",
        str(row.id),
    )
    assert event.patient_id == org.patient.id
    assert event.outcome == Outcome.SUCCESS


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("who", ["nurse", "gp", "other_coord", "admin"])
def test_members_other_teams_and_admins_are_denied(db, org, action, who):
    call, columns, audited = ACTIONS[action]
    row = make_row(org.patient, org.team, **columns)
    add_payload(row)
    with pytest.raises(PermissionDenied):
        call(getattr(org, who), row)
    assert db.session.get(DmpSubmission, row.id).status == columns["status"]
    assert events(db, audited) == []


def test_a_rows_team_coordinator_without_need_to_know_may_not_act(db, org):
    # The row belongs to team B (it queued it) but team B no longer follows the patient:
    # its coordinator may not act on the patient's documents; the patient's coordinators may.
    row = make_row(org.patient, org.other_team, **FAILED)
    with pytest.raises(PermissionDenied):
        services.retry_filing(org.other_coord, row, ctx(org.other_coord))
    add_payload(row)
    with pytest.raises(PermissionDenied):
        services.download_payload(org.other_coord, row, "cda", ctx(org.other_coord))
    services.retry_filing(org.coord, row, ctx(org.coord))
    assert row.status == SubmissionStatus.PENDING


def test_retry_gives_a_fresh_budget_and_sends_now(db, org):
    row = make_row(org.patient, org.team, budget_used=8, error_code="timeout", **FAILED)
    services.retry_filing(org.coord, row, ctx(org.coord))
    assert row.status == SubmissionStatus.PENDING
    assert (row.status_reason, row.error_code, row.budget_used) == ("", "", 0)


def test_release_while_the_gate_holds_keeps_the_row_blocked_with_why(db, org):
    org.patient.identity_status = "validated"
    row = make_row(org.patient, org.team)
    assert (row.status, row.status_reason) == (SubmissionStatus.BLOCKED, gates.NOT_QUALIFIED)
    services.release_filing(org.coord, row, ctx(org.coord))
    assert (row.status, row.status_reason) == (SubmissionStatus.BLOCKED, gates.NOT_QUALIFIED)
    org.patient.identity_status = "qualified"
    services.release_filing(org.coord, row, ctx(org.coord))
    assert (row.status, row.status_reason) == (SubmissionStatus.PENDING, "")
    reasons = [e.reason for e in events(db, "dmp_submission.release")]
    assert reasons == ["statut après déblocage : blocked", "statut après déblocage : pending"]


def test_cancel_keeps_the_motive(db, org):
    row = make_row(org.patient, org.team)
    services.cancel_filing(org.coord, row, "  Plan clos avant l'envoi ", ctx(org.coord))
    assert (row.status, row.status_reason) == (
        SubmissionStatus.CANCELLED,
        "Plan clos avant l'envoi",
    )
    [event] = events(db, "dmp_submission.cancel")
    assert event.reason == "Plan clos avant l'envoi"


def test_cancel_without_a_motive_is_refused(db, org):
    row = make_row(org.patient, org.team)
    with pytest.raises(InvalidInput) as caught:
        services.cancel_filing(org.coord, row, "   ", ctx(org.coord))
    assert caught.value.field == "reason"


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        ("retry", SubmissionStatus.PENDING, "Seul un envoi en échec peut être relancé."),
        ("retry", SubmissionStatus.FILED, "Seul un envoi en échec peut être relancé."),
        ("release", SubmissionStatus.FAILED, "Seul un envoi bloqué peut être débloqué."),
        ("cancel", SubmissionStatus.FILED, "Cet envoi ne peut plus être annulé."),
        ("cancel", SubmissionStatus.IN_PROGRESS, "Cet envoi ne peut plus être annulé."),
        ("cancel", SubmissionStatus.CANCELLED, "Cet envoi ne peut plus être annulé."),
        ("archive", SubmissionStatus.PENDING, "Seul un document déposé dans le DMP"),
    ],
)
def test_wrong_states_are_conflicts_with_the_french_message(db, org, action, status, message):
    call, _, audited = ACTIONS[action]
    row = make_row(org.patient, org.team, status=status)
    with pytest.raises(Conflict, match=message):
        call(org.coord, row)
    assert row.status == status
    assert events(db, audited) == []


def test_dmp_changes_queue_an_operation_on_the_filed_document(db, org):
    row = make_row(org.patient, org.team, **FILED)
    change = services.request_dmp_change(
        org.coord,
        row,
        "update_visibility",
        ("masked_from_professionals", "hidden_from_patient"),
        ctx(org.coord),
    )
    assert (change.operation, change.target_id, change.status) == (
        "update_visibility",
        row.id,
        SubmissionStatus.PENDING,
    )
    assert change.confidentiality == "masked_from_professionals,hidden_from_patient"
    assert change.document_oid == row.document_oid and change.requested_by_id == org.coord.id
    [event] = events(db, "dmp_submission.update_visibility")
    assert event.object_id == str(row.id)
    assert event.reason == (
        f"demande n° {change.id} : masked_from_professionals,hidden_from_patient"
    )


@pytest.mark.parametrize(
    ("operation", "codes", "field"),
    [
        ("update_visibility", (), "confidentiality"),
        ("update_visibility", ("secret",), "confidentiality"),
        ("file", (), "operation"),
        ("shred", (), "operation"),
    ],
)
def test_bad_dmp_changes_name_the_field(db, org, operation, codes, field):
    row = make_row(org.patient, org.team, **FILED)
    with pytest.raises(InvalidInput) as caught:
        services.request_dmp_change(org.coord, row, operation, codes, ctx(org.coord))
    assert caught.value.field == field


def test_downloads_return_the_exact_stored_bytes(db, org):
    row = make_row(org.patient, org.team, **FILED)
    add_payload(row)
    cda = services.download_payload(org.coord, row, "cda", ctx(org.coord))
    request = services.download_payload(org.coord, row, "request", ctx(org.coord))
    assert (cda.content, cda.content_type) == (CDA, "application/xml")
    assert (request.content, request.content_type) == (REQUEST, REQUEST_TYPE)
    assert request.filename == f"dmp-{row.id}-requete.mime"
    assert [e.reason for e in events(db, "dmp_submission.download_request")] == [request.filename]


def test_download_of_nothing_stored_is_not_found(db, org):
    row = make_row(org.patient, org.team)
    with pytest.raises(NotFound):
        services.download_payload(org.coord, row, "cda", ctx(org.coord))
    add_payload(row, cda=None)
    with pytest.raises(NotFound, match="Aucun document CDA"):
        services.download_payload(org.coord, row, "cda", ctx(org.coord))
