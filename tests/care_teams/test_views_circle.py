"""Consent, circle, break-the-glass, duplicate and access-log pages: status, access, failures."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.care_teams.access import access_basis
from ptap.care_teams.models import (
    BreakGlassAccess,
    CircleInvitation,
    ConsentRecord,
    DuplicateFlag,
    Enrolment,
    Patient,
)
from ptap.core import clock
from ptap.core.models import utcnow
from tests.conftest import AuthActions
from tests.factories import add_member, make_patient, make_team, make_user

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LONG_REASON = "Patiente inconsciente aux urgences, traitement habituel inconnu."


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")


@pytest.fixture
def login(app):
    """Log a user in on a client of their own (several people act in one test)."""

    def _login(user) -> AuthActions:
        actions = AuthActions(app.test_client())
        actions.login(user)
        return actions

    return _login


@pytest.fixture
def world(db):
    """A team with a coordinator (who enrolled the patient) and a plain member; an outsider."""
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="physician")
    outsider = make_user(profession="physician")
    team = make_team()
    add_member(team, coord, "coordinator")
    add_member(team, member)
    patient = make_patient(team, coord)
    return {"coord": coord, "member": member, "outsider": outsider, "team": team, "p": patient}


def _consent(auth: AuthActions, patient_id: int, data: dict, **kwargs):
    return auth.post(f"/patients/{patient_id}/consents", data, **kwargs)


# --- consents ----------------------------------------------------------------------------------


def test_consents_page_shows_state_and_form_to_coordinator(world, login):
    coord, patient = world["coord"], world["p"]
    page = login(coord).client.get(f"/patients/{patient.id}/consents")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Accord donné" in text
    assert 'enctype="multipart/form-data"' in text
    assert "Enregistrer le choix" in text


def test_consents_page_has_no_form_for_plain_member(world, login):
    page = login(world["member"]).client.get(f"/patients/{world['p'].id}/consents")
    assert page.status_code == 200
    assert "Enregistrer le choix" not in page.get_data(as_text=True)


def test_withdrawing_sharing_removes_member_access_at_once(world, login):
    patient, member = world["p"], world["member"]
    member_auth = login(member)
    assert member_auth.client.get(f"/patients/{patient.id}").status_code == 200
    coord_auth = login(world["coord"])
    response = _consent(
        coord_auth, patient.id, {"choice": "sharing:0", "method": "oral", "note": "Au domicile"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/patients/{patient.id}/consents")
    assert member_auth.client.get(f"/patients/{patient.id}").status_code == 404
    assert member_auth.client.get(f"/patients/{patient.id}/consents").status_code == 404
    assert access_basis(member.id, patient) is None
    history = coord_auth.client.get(f"/patients/{patient.id}/consents").get_data(as_text=True)
    assert "Accord retiré" in history and "Au domicile" in history


def test_signed_form_without_file_is_an_inline_error(world, login):
    auth = login(world["coord"])
    response = _consent(
        auth, world["p"].id, {"choice": "dmp_opposition:1", "method": "signed_form", "note": "Vu"}
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Joignez le formulaire signé (PDF)." in text
    assert re.search(r'<input checked[^>]*value="dmp_opposition:1"', text)
    assert "Vu</textarea>" in text
    assert ledger_kinds(world["p"].id) == ["sharing"]  # only the factory's entry


def ledger_kinds(patient_id: int) -> list[str]:
    from ptap.extensions import db

    stmt = sa.select(ConsentRecord.kind).where(ConsentRecord.patient_id == patient_id)
    return list(db.session.scalars(stmt))


def test_non_pdf_upload_is_refused(world, login):
    auth = login(world["coord"])
    data = {
        "choice": "sharing:1",
        "method": "signed_form",
        "document": (BytesIO(b"GIF89a not a pdf"), "formulaire.pdf"),
    }
    response = _consent(auth, world["p"].id, data)
    assert response.status_code == 422
    assert "Le formulaire signé doit être un PDF." in response.get_data(as_text=True)
    assert ledger_kinds(world["p"].id) == ["sharing"]


def test_signed_form_is_served_to_members_only(world, login, db):
    patient = world["p"]
    data = {
        "choice": "sharing:1",
        "method": "signed_form",
        "document": (BytesIO(PDF_BYTES), "f.pdf"),
    }
    assert _consent(login(world["coord"]), patient.id, data).status_code == 302
    record = db.session.scalar(sa.select(ConsentRecord).where(ConsentRecord.document_path != ""))
    url = f"/patients/{patient.id}/consents/{record.id}/document"

    assert login(world["outsider"]).client.get(url).status_code == 404
    response = login(world["member"]).client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data == PDF_BYTES


def test_document_route_refuses_a_record_of_another_patient(world, login, db):
    other = make_patient(world["team"], world["coord"])
    db.session.add(
        ConsentRecord(
            patient_id=other.id,
            kind="sharing",
            given=True,
            method="signed_form",
            document_path="consents/../../secret.pdf",
            recorded_by_id=world["coord"].id,
        )
    )
    db.session.flush()
    record_id = db.session.scalar(sa.select(sa.func.max(ConsentRecord.id)))
    client = login(world["coord"]).client
    assert client.get(f"/patients/{world['p'].id}/consents/{record_id}/document").status_code == 404
    assert client.get(f"/patients/{other.id}/consents/{record_id}/document").status_code == 404


# --- circle ------------------------------------------------------------------------------------


def _invite(auth: AuthActions, patient_id: int, user_id: int, days: int = 10):
    until = (clock.paris_today() + timedelta(days=days)).isoformat()
    return auth.post(
        f"/patients/{patient_id}/circle/invitations",
        {"user_id": str(user_id), "expires_on": until, "reason": "Soins infirmiers"},
    )


def test_invited_professional_sees_the_patient_until_revoked(world, login, db):
    patient, guest = world["p"], world["outsider"]
    guest_client = login(guest).client
    assert guest_client.get(f"/patients/{patient.id}").status_code == 404
    coord_auth = login(world["coord"])
    assert _invite(coord_auth, patient.id, guest.id).status_code == 302
    assert guest_client.get(f"/patients/{patient.id}").status_code == 200
    circle_page = coord_auth.client.get(f"/patients/{patient.id}/circle").get_data(as_text=True)
    assert guest.full_name in circle_page and "Mettre fin à l'invitation" in circle_page

    invitation = db.session.scalar(sa.select(CircleInvitation))
    revoked = coord_auth.post(f"/patients/{patient.id}/circle/invitations/{invitation.id}/revoke")
    assert revoked.status_code == 302
    assert guest_client.get(f"/patients/{patient.id}").status_code == 404


def test_expired_invitation_gives_no_access(world, login, db):
    patient, guest = world["p"], world["outsider"]
    assert _invite(login(world["coord"]), patient.id, guest.id).status_code == 302
    invitation = db.session.scalar(sa.select(CircleInvitation))
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    assert login(guest).client.get(f"/patients/{patient.id}").status_code == 404


def test_invitation_errors_are_inline(world, login):
    auth = login(world["coord"])
    response = _invite(auth, world["p"].id, world["member"].id)  # already in the circle
    assert response.status_code == 422
    assert "fait déjà partie du cercle" in response.get_data(as_text=True)
    response = _invite(auth, world["p"].id, world["outsider"].id, days=-1)
    assert response.status_code == 422
    assert "La date de fin doit être dans le futur." in response.get_data(as_text=True)
    assert "Soins infirmiers" in response.get_data(as_text=True)


def test_plain_member_cannot_invite(world, login, db):
    auth = login(world["member"])
    page = auth.client.get(f"/patients/{world['p'].id}/circle").get_data(as_text=True)
    assert "Inviter un professionnel" not in page
    assert _invite(auth, world["p"].id, world["outsider"].id).status_code in (403, 404)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CircleInvitation)) == 0


# --- break-the-glass ---------------------------------------------------------------------------


TICKET_RE = re.compile(r'name="ticket" type="hidden" value="([^"]+)"')


def _search(auth: AuthActions, **criteria):
    return auth.post("/break-glass", criteria)


def _ticket(auth: AuthActions, patient_id: int) -> str:
    patient = auth.client.application.extensions["sqlalchemy"].session.get(Patient, patient_id)
    page = _search(auth, ins_matricule=patient.ins_matricule if patient else "")
    match = TICKET_RE.search(page.get_data(as_text=True))
    return match.group(1) if match else ""


def _break_glass(auth: AuthActions, patient_id: int, reason: str = LONG_REASON):
    """Search the person by INS, then open the access with the ticket the search gave."""
    return auth.post("/break-glass/open", {"ticket": _ticket(auth, patient_id), "reason": reason})


def test_outsider_opens_break_glass_and_coordinator_is_told(world, login, db):
    patient, outsider, coord = world["p"], world["outsider"], world["coord"]
    auth = login(outsider)
    form = auth.client.get("/break-glass").get_data(as_text=True)
    assert "tracé" in form and "3 accès sur 24 heures" in form
    page = _search(auth, ins_matricule=patient.ins_matricule).get_data(as_text=True)
    assert "exceptionnel" in page and "examinent" in page
    assert f"/patients/{patient.id}" not in page  # no record id before the access

    response = _break_glass(auth, patient.id)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/patients/{patient.id}")
    assert auth.client.get(f"/patients/{patient.id}").status_code == 200
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "patient.break_glass")
    )
    assert (event.actor_id, event.patient_id, event.reason) == (
        outsider.id,
        patient.id,
        LONG_REASON,
    )
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == coord.id))
    assert note is not None and note.kind == "break_glass"
    reviews = login(coord).client.get("/break-glass/reviews").get_data(as_text=True)
    assert outsider.full_name in reviews and LONG_REASON in reviews


def test_break_glass_refuses_a_short_reason_and_keeps_it(world, login, db):
    response = _break_glass(login(world["outsider"]), world["p"].id, "urgence")
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Décrivez l&#39;urgence (au moins 20 caractères)." in text
    assert "urgence</textarea>" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BreakGlassAccess)) == 0


@pytest.mark.parametrize("role", ["admin", "ars_analyst"])
def test_break_glass_is_refused_to_non_clinicians(world, login, role):
    auth = login(make_user(role=role, profession="administrative"))
    # Refused before any patient is looked up: nothing revealed.
    assert auth.client.get("/break-glass").status_code == 403
    response = _search(auth, ins_matricule=world["p"].ins_matricule)
    assert response.status_code == 403
    assert world["p"].birth_name not in response.get_data(as_text=True)


def test_break_glass_by_record_id_no_longer_exists(world, login):
    auth = login(world["outsider"])
    assert auth.client.get(f"/patients/{world['p'].id}/break-glass").status_code == 404
    assert (
        auth.post(f"/patients/{world['p'].id}/break-glass", {"reason": LONG_REASON}).status_code
        == 404
    )


def test_break_glass_search_misses_say_nothing_and_are_audited(world, login, db):
    auth = login(world["outsider"])
    unknown = _search(auth, ins_matricule="299999999999999")
    assert unknown.status_code in (404, 422)
    partial = _search(
        auth, birth_name=world["p"].birth_name[:-1], birth_date="1940-05-12"
    )  # exact names only
    assert partial.status_code == 404
    assert "Aucun dossier accessible en urgence" in partial.get_data(as_text=True)
    denied = db.session.scalars(
        sa.select(AuditEvent.outcome).where(AuditEvent.action == "patient.break_glass_search")
    ).all()
    assert denied and all(outcome == "denied" for outcome in denied)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BreakGlassAccess)) == 0


def test_break_glass_search_by_name_and_birth_date(world, login, db):
    names = {"birth_name": "BERNARD", "search_birth_name": "BERNARD"}
    make_patient(world["team"], world["coord"], **names)
    auth = login(world["outsider"])
    page = _search(auth, birth_name="Bernard", birth_date="1940-05-12")
    assert page.status_code == 200
    assert TICKET_RE.search(page.get_data(as_text=True))
    assert _search(auth, birth_name="Bernard", birth_date="1940-05-13").status_code == 404
    # Two people with that name and birth date: the INS is asked for.
    make_patient(world["team"], world["coord"], **names)
    twice = _search(auth, birth_name="Bernard", birth_date="1940-05-12")
    assert twice.status_code == 422
    assert "indiquez le matricule INS" in twice.get_data(as_text=True)


def test_break_glass_ticket_is_personal_signed_and_short_lived(world, login, db):
    outsider, other = login(world["outsider"]), login(make_user(profession="nurse"))
    ticket = _ticket(outsider, world["p"].id)
    assert ticket
    stolen = other.post("/break-glass/open", {"ticket": ticket, "reason": LONG_REASON})
    assert stolen.status_code == 302 and stolen.headers["Location"].endswith("/break-glass")
    forged = outsider.post(
        "/break-glass/open", {"ticket": ticket[:-2] + "xx", "reason": LONG_REASON}
    )
    assert forged.headers["Location"].endswith("/break-glass")
    with clock.frozen(clock.now() + timedelta(minutes=11)):
        late = outsider.post("/break-glass/open", {"ticket": ticket, "reason": LONG_REASON})
    assert late.headers["Location"].endswith("/break-glass")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BreakGlassAccess)) == 0


def test_break_glass_redirects_someone_already_in_the_circle(world, login):
    response = _search(login(world["member"]), ins_matricule=world["p"].ins_matricule)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/patients/{world['p'].id}")


def test_break_glass_is_limited_per_user_over_24_hours(app, world, login, db):
    admin = make_user(role="admin", profession="administrative")
    auth = login(world["outsider"])
    patients = [make_patient(world["team"], world["coord"]) for _ in range(4)]
    for patient in patients[:3]:
        assert _break_glass(auth, patient.id).status_code == 302
    refused = _break_glass(auth, patients[3].id)
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    assert "ces dernières 24 heures" in text and "la limite (3)" in text
    assert access_basis(world["outsider"].id, patients[3]) is None
    # Each use alerted the security admins at once.
    alerts = db.session.scalars(
        sa.select(Notification.kind).where(Notification.user_id == admin.id)
    ).all()
    assert alerts == ["break_glass_alert"] * 3
    # Once the oldest is more than 24 hours old, it no longer counts.
    oldest = db.session.scalars(sa.select(BreakGlassAccess).order_by(BreakGlassAccess.id)).first()
    oldest.created_at = clock.now() - timedelta(hours=24, minutes=1)
    response = _break_glass(auth, patients[3].id)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/patients/{patients[3].id}")


def test_break_glass_access_ends_at_expiry(world, login, db):
    auth = login(world["outsider"])
    assert _break_glass(auth, world["p"].id).status_code == 302
    grant = db.session.scalar(sa.select(BreakGlassAccess))
    grant.expires_at = utcnow() - timedelta(seconds=1)
    assert auth.client.get(f"/patients/{world['p'].id}").status_code == 404


def test_coordinator_reviews_an_emergency_access(world, login, db):
    assert _break_glass(login(world["outsider"]), world["p"].id).status_code == 302
    grant = db.session.scalar(sa.select(BreakGlassAccess))
    coord = login(world["coord"])
    field = f"grant-{grant.id}-review_note"
    empty = coord.post(f"/break-glass/{grant.id}/review", {field: ""})
    assert empty.status_code == 422
    assert "Indiquez la conclusion de l&#39;examen." in empty.get_data(as_text=True)

    done = coord.post(f"/break-glass/{grant.id}/review", {field: "Urgence confirmée."})
    assert done.status_code == 302
    db.session.refresh(grant)
    assert grant.reviewed_by_id == world["coord"].id and grant.review_note == "Urgence confirmée."
    listing = coord.client.get("/break-glass/reviews").get_data(as_text=True)
    assert "Aucun accès en urgence en attente" in listing


def test_plain_professional_cannot_open_the_review_list(world, login):
    assert login(world["member"]).client.get("/break-glass/reviews").status_code == 403


# --- duplicates --------------------------------------------------------------------------------


@pytest.fixture
def duplicate(world, db):
    older = world["p"]
    other_team = make_team()
    add_member(other_team, world["coord"], "coordinator")
    newer = make_patient(
        other_team,
        world["coord"],
        birth_name=older.birth_name,
        search_birth_name=older.search_birth_name,
        ins_matricule=None,
    )
    flag = DuplicateFlag(patient_id=newer.id, other_patient_id=older.id)
    db.session.add(flag)
    db.session.flush()
    world["other_team"] = other_team
    return older, newer, flag


def test_duplicates_page_shows_both_records(world, duplicate, login):
    older, newer, _flag = duplicate
    page = login(world["coord"]).client.get("/duplicates")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"fiche n° {older.id}" in text and f"fiche n° {newer.id}" in text
    assert "Fusionner" in text and "Écarter" in text


def test_merge_moves_the_enrolment_and_hides_the_duplicate(world, duplicate, login, db):
    older, newer, flag = duplicate
    auth = login(world["coord"])
    response = auth.post(f"/duplicates/{flag.id}", {"action": "merge"})
    assert response.status_code == 302
    db.session.refresh(newer)
    db.session.refresh(flag)
    assert newer.merged_into_id == older.id and flag.status == "merged"
    teams = db.session.scalars(sa.select(Enrolment.team_id).where(Enrolment.patient_id == older.id))
    assert set(teams) == {world["team"].id, world["other_team"].id}
    assert auth.client.get(f"/patients/{newer.id}").status_code == 404
    assert auth.client.get(f"/patients/{older.id}").status_code == 200
    assert "Aucun doublon potentiel" in auth.client.get("/duplicates").get_data(as_text=True)


def test_dismiss_keeps_both_records(world, duplicate, login, db):
    older, newer, flag = duplicate
    response = login(world["coord"]).post(f"/duplicates/{flag.id}", {"action": "dismiss"})
    assert response.status_code == 302
    db.session.refresh(flag)
    assert flag.status == "dismissed"
    assert db.session.get(Patient, newer.id).merged_into_id is None


def test_unknown_duplicate_action_changes_nothing(world, duplicate, login, db):
    _older, _newer, flag = duplicate
    assert login(world["coord"]).post(f"/duplicates/{flag.id}", {"action": "x"}).status_code == 302
    db.session.refresh(flag)
    assert flag.status == "open"


def test_professional_cannot_review_duplicates(world, duplicate, login):
    auth = login(world["member"])
    assert auth.client.get("/duplicates").status_code == 403
    assert auth.post(f"/duplicates/{duplicate[2].id}", {"action": "merge"}).status_code == 403


# --- access log --------------------------------------------------------------------------------

ROW_RE = re.compile(r'<tr(?: class="row-emergency")?><td class="nowrap">')
#: Every read or write of a record (written here again, not imported: the test checks the query).
PREFIXES = ("patient.", "consent.", "circle.", "enrolment.", "break_glass.")


def test_access_log_lists_every_access_to_this_patient_only(world, login, db):
    patient, member, outsider = world["p"], world["member"], world["outsider"]
    pharmacist = make_user(profession="pharmacist")
    add_member(world["team"], pharmacist)
    other = make_patient(world["team"], world["coord"])
    member_client = login(member).client
    member_client.get(f"/patients/{patient.id}")
    member_client.get(f"/patients/{other.id}")  # another patient: not in this log
    login(pharmacist).client.get(f"/patients/{patient.id}/consents")
    assert login(outsider).client.get(f"/patients/{patient.id}").status_code == 404  # denied

    coord = login(world["coord"])
    page = coord.client.get(f"/patients/{patient.id}/access-log")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert member.full_name in text and pharmacist.full_name in text
    assert "Pharmacien·ne" in text and "Médecin" in text
    assert "Consultation du dossier" in text
    assert outsider.full_name not in text
    expected = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.patient_id == patient.id,
            AuditEvent.outcome == "success",
            sa.or_(*(AuditEvent.action.startswith(p) for p in PREFIXES)),
        )
    )
    reads_of_other = db.session.scalar(
        sa.select(sa.func.count()).where(
            AuditEvent.patient_id == other.id, AuditEvent.action == "patient.read"
        )
    )
    assert reads_of_other == 1
    assert len(ROW_RE.findall(text)) == expected


def test_viewing_the_access_log_is_logged(world, login, db):
    auth = login(world["coord"])
    auth.client.get(f"/patients/{world['p'].id}/access-log")
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "patient.access_log")
    )
    assert event.actor_id == world["coord"].id and event.patient_id == world["p"].id
    again = auth.client.get(f"/patients/{world['p'].id}/access-log").get_data(as_text=True)
    assert "Consultation de l&#39;historique des accès" in again


def test_plain_member_cannot_see_the_access_log(world, login):
    client = login(world["member"]).client
    assert client.get(f"/patients/{world['p'].id}/access-log").status_code == 404
    assert client.get(f"/patients/{world['p'].id}/access-log.pdf").status_code == 404


def test_access_log_pdf_is_a_pdf_attachment(world, login):
    patient = world["p"]
    response = login(world["coord"]).client.get(f"/patients/{patient.id}/access-log.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="historique-acces-{patient.id}.pdf"'
    )
    assert response.data.startswith(b"%PDF-")


# --- navigation --------------------------------------------------------------------------------


def test_navigation_links_follow_the_role(world, login):
    # Coordinators land on their dashboard: the navigation is the same on every page.
    coord_home = login(world["coord"]).client.get("/patients").get_data(as_text=True)
    assert "Doublons" in coord_home and "Accès en urgence" in coord_home
    member_home = login(world["member"]).client.get("/").get_data(as_text=True)
    assert "Doublons" not in member_home and "Accès en urgence" not in member_home


@pytest.mark.parametrize("backend", ["database", "filesystem"])
def test_signed_form_is_stored_and_streamed_from_each_backend(app, world, login, db, backend):
    from ptap.core import blobs

    app.config["STORAGE_BACKEND"] = backend
    patient = world["p"]
    data = {
        "choice": "sharing:1",
        "method": "signed_form",
        "document": (BytesIO(PDF_BYTES), "f.pdf"),
    }
    assert _consent(login(world["coord"]), patient.id, data).status_code == 302
    record = db.session.scalar(sa.select(ConsentRecord).where(ConsentRecord.document_path != ""))
    assert record.document_path.startswith("consents/") and record.document_path.endswith(".pdf")
    assert blobs.storage().exists(record.document_path)
    response = login(world["member"]).client.get(
        f"/patients/{patient.id}/consents/{record.id}/document"
    )
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=formulaire-consentement-{patient.id}-{record.id}.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == PDF_BYTES
