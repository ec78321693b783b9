"""Patient and team pages: status codes, redirects, permissions, inline errors, audit."""

from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import Notification, notify
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_teams import circle
from ptap.care_teams.models import BreakGlassAccess, Enrolment, Patient, PatientContact
from ptap.core import clock
from ptap.core.models import utcnow
from tests.conftest import AuthActions
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir

TEST_NIR_OID = "1.2.250.1.213.1.4.10"


@pytest.fixture
def org(db):
    """A team with a coordinator and a member, and a clinician of another team."""
    team = make_team("Équipe Lyon Nord")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    other_team = make_team("Équipe Villeurbanne")
    outsider = make_user(profession="nurse")
    add_member(other_team, outsider)
    return SimpleNamespace(
        team=team, coord=coord, member=member, other_team=other_team, outsider=outsider
    )


def patient_form(team_id: int, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "team_id": str(team_id),
        "birth_name": "Dupré",
        "first_names": "Marie Louise",
        "used_name": "",
        "used_first_name": "",
        "birth_date-day": "12",
        "birth_date-month": "05",
        "birth_date-year": "1940",
        "sex": "F",
        "birthplace_code": "69381",
        "ins_matricule": valid_nir("F", 1940, 5),
        "ins_oid": TEST_NIR_OID,
        "identity_status": "validated",
        "identity_check_method": "passport",
        "requested_on": "2026-01-05",
        "requester_kind": "gp",
        "requester_name": "Dr Martin",
        "problem_categories": ["medical", "social"],
    }
    data.update(over)
    return data


def events(db, action: str, patient_id: int | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.action == action)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


# --- list and search -----------------------------------------------------------------------


def test_list_shows_only_visible_patients(db, client, auth, org):
    shared = make_patient(org.team, org.coord, birth_name="PARTAGE", search_birth_name="PARTAGE")
    make_patient(org.team, org.coord, consent=False, birth_name="SANSACCORD")
    make_patient(org.other_team, org.outsider, birth_name="AILLEURS")

    auth.login(org.member)
    body = client.get("/patients").get_data(as_text=True)
    assert "PARTAGE" in body
    assert f"/patients/{shared.id}" in body
    assert "SANSACCORD" not in body
    assert "AILLEURS" not in body


def test_list_enrolling_coordinator_sees_patient_before_consent(db, client, auth, org):
    make_patient(org.team, org.coord, consent=False, birth_name="SANSACCORD")
    auth.login(org.coord)
    assert "SANSACCORD" in client.get("/patients").get_data(as_text=True)


def test_team_coordinators_find_every_patient_the_team_page_counts(db, client, auth, org):
    """Bug: the team page counted N patients, "Voir mes patients" listed fewer (the ones
    whose sharing consent was not recorded yet were silently hidden)."""
    colleague = make_user(role="coordinator", profession="care_coordinator")
    add_member(org.team, colleague, "coordinator")
    make_patient(org.team, org.coord, birth_name="PARTAGE", search_birth_name="PARTAGE")
    waiting = make_patient(
        org.team, org.coord, consent=False, birth_name="SANSACCORD", search_birth_name="SANSACCORD"
    )
    db.session.commit()
    auth.login(colleague)
    team_page = client.get(f"/teams/{org.team.id}").get_data(as_text=True)
    assert "2 (dont 1 : consentement à recueillir)" in team_page
    refused = make_patient(org.team, org.coord, consent=False, birth_name="REFUS")
    circle.record_consent(org.coord, refused, "sharing", False, "oral", "", SYSTEM)
    db.session.commit()
    team_page = html.unescape(client.get(f"/teams/{org.team.id}").get_data(as_text=True))
    assert (
        "3 (dont 1 : consentement à recueillir ; 1 : partage refusé ou retiré, dossier "
        "visible du seul coordinateur qui a inscrit la personne)"
    ) in team_page
    body = client.get("/patients").get_data(as_text=True)
    assert "2 patients dans votre cercle de soins" in body  # not the refusal
    assert "SANSACCORD" in body and "Consentement à recueillir" in body
    assert f"/patients/{waiting.id}/consents" in body
    assert client.get(f"/patients/{waiting.id}/consents").status_code == 200
    # Only the consents page: the record itself stays closed until the choice is recorded.
    assert f'href="/patients/{waiting.id}"' not in body
    assert client.get(f"/patients/{waiting.id}").status_code == 404
    # A plain member keeps need-to-know, and is not told about the consent to collect.
    other = AuthActions(client.application.test_client())
    other.login(org.member)
    assert "consentement à recueillir" not in other.client.get(f"/teams/{org.team.id}").get_data(
        as_text=True
    )
    assert "SANSACCORD" not in other.client.get("/patients").get_data(as_text=True)


def test_list_outsider_sees_none(db, client, auth, org):
    make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(org.outsider)
    body = client.get("/patients").get_data(as_text=True)
    assert "PARTAGE" not in body
    assert "Aucun patient dans votre cercle de soins" in body


@pytest.mark.parametrize("role", ["admin", "ars_analyst"])
def test_list_refused_to_non_clinical_roles(db, client, auth, org, role):
    make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(make_user(role=role, profession="administrative"))
    response = client.get("/patients")
    assert response.status_code == 403
    assert "PARTAGE" not in response.get_data(as_text=True)


def test_search_by_name_ignores_accents_and_matches_used_name(db, client, auth, org):
    make_patient(org.team, org.coord, birth_name="DUPRÉ", search_birth_name="DUPRE")
    make_patient(
        org.team,
        org.coord,
        birth_name="MARTIN",
        search_birth_name="MARTIN",
        used_name="LEFÈVRE",
        search_used_name="LEFEVRE",
    )
    make_patient(org.team, org.coord, birth_name="BERNARD", search_birth_name="BERNARD")
    auth.login(org.member)

    body = client.get("/patients?name=dupre").get_data(as_text=True)
    assert "DUPRÉ" in body and "BERNARD" not in body
    body = client.get("/patients?name=Dupr%C3%A9").get_data(as_text=True)
    assert "DUPRÉ" in body and "BERNARD" not in body
    body = client.get("/patients?name=lef").get_data(as_text=True)
    assert "LEFÈVRE" in body and "DUPRÉ" not in body


def test_search_by_ins_and_birth_date(db, client, auth, org):
    first = make_patient(org.team, org.coord, birth_name="PREMIERE", birth_year=1940)
    make_patient(
        org.team,
        org.coord,
        birth_name="SECONDE",
        birth_year=1941,
        birth_month=5,
        birth_day=3,
        ins_matricule=valid_nir("F", 1941, 5),
    )
    auth.login(org.member)

    spaced = " ".join([first.ins_matricule[:7], first.ins_matricule[7:]])
    body = client.get("/patients", query_string={"ins": spaced}).get_data(as_text=True)
    assert "PREMIERE" in body and "SECONDE" not in body
    body = client.get("/patients", query_string={"birth_date": "03/05/1941"}).get_data(as_text=True)
    assert "SECONDE" in body and "PREMIERE" not in body
    body = client.get("/patients", query_string={"birth_date": "1940"}).get_data(as_text=True)
    assert "PREMIERE" in body and "SECONDE" not in body
    body = client.get("/patients", query_string={"birth_date": "05/1941"}).get_data(as_text=True)
    assert "SECONDE" in body and "PREMIERE" not in body


def test_search_invalid_birth_date_shows_error_next_to_field(db, client, auth, org):
    make_patient(org.team, org.coord, birth_name="PREMIERE")
    auth.login(org.member)
    response = client.get("/patients", query_string={"q": "pre 12-1940"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="error" id="q-error">Un matricule INS a 15 caractères' in body
    assert 'value="pre 12-1940"' in body  # what was typed is kept


def test_list_runs_a_constant_number_of_queries(db, client, auth, org, count_queries):
    def add(n: int) -> None:
        for _ in range(n):
            make_patient(org.team, org.coord)

    auth.login(org.member)
    add(5)
    with count_queries() as few:
        assert client.get("/patients").status_code == 200
    add(35)
    with count_queries() as many:
        body = client.get("/patients").get_data(as_text=True)
    assert "40 patients" in body
    assert len(many) == len(few)


# --- creation --------------------------------------------------------------------------------


def test_create_patient_enrols_and_audits(db, client, auth, org):
    auth.login(org.coord)
    assert client.get("/patients/new").status_code == 200
    response = auth.post("/patients/new", patient_form(org.team.id))

    patient = db.session.scalar(sa.select(Patient).where(Patient.search_birth_name == "DUPRE"))
    assert patient is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/patients/{patient.id}"
    assert patient.first_names == "MARIE LOUISE" and patient.identity_status == "validated"
    enrolment = db.session.scalar(sa.select(Enrolment).where(Enrolment.patient_id == patient.id))
    assert enrolment.team_id == org.team.id
    assert enrolment.enrolled_by_id == org.coord.id
    assert enrolment.categories == ["medical", "social"]
    assert events(db, "patient.create", patient.id)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dossier de DUPRE Marie créé." in page


def test_create_patient_with_unknown_day_and_month(db, client, auth, org):
    auth.login(org.coord)
    data = patient_form(
        org.team.id,
        **{"birth_date-day": "", "birth_date-month": ""},
        ins_matricule="",
        ins_oid="",
        identity_status="provisional",
        identity_check_method="",
    )
    assert auth.post("/patients/new", data).status_code == 302
    patient = db.session.scalar(sa.select(Patient).where(Patient.search_birth_name == "DUPRE"))
    assert (patient.birth_day, patient.birth_month, patient.birth_year) == (None, None, 1940)


def test_create_patient_invalid_ins_key_keeps_what_was_typed(db, client, auth, org):
    auth.login(org.coord)
    nir = valid_nir("F", 1940, 5)
    wrong = nir[:13] + f"{(int(nir[13:]) % 96) + 1:02d}"
    response = auth.post("/patients/new", patient_form(org.team.id, ins_matricule=wrong))
    body = response.get_data(as_text=True)

    assert response.status_code == 422
    assert (
        '<p class="error" id="ins_matricule-error">'
        "La clé de contrôle du matricule INS est incorrecte.</p>" in body
    )
    assert 'value="Dupré"' in body and f'value="{wrong}"' in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Patient)) == 0


def test_create_patient_invalid_birth_date_shows_error_on_date(db, client, auth, org):
    auth.login(org.coord)
    data = patient_form(org.team.id, **{"birth_date-day": "31", "birth_date-month": "02"})
    body = auth.post("/patients/new", data).get_data(as_text=True)
    assert '<p class="error" id="birth_date-error">Date de naissance invalide.</p>' in body
    assert 'name="birth_date-day" value="31"' in body


def test_create_patient_duplicate_ins_links_to_existing_record(db, client, auth, org):
    existing = make_patient(org.team, org.coord)
    auth.login(org.coord)
    data = patient_form(org.team.id, ins_matricule=existing.ins_matricule)
    response = auth.post("/patients/new", data)
    body = response.get_data(as_text=True)

    assert response.status_code == 409
    assert "Ce matricule INS est déjà enregistré" in body
    assert f'href="/patients/{existing.id}">Voir la fiche existante</a>' in body


def test_create_patient_duplicate_ins_of_an_unseen_record_gives_no_link(db, client, auth, org):
    elsewhere = make_team("Équipe Vaise")
    other_coord = make_user(role="coordinator", profession="nurse")
    add_member(elsewhere, other_coord, "coordinator")
    existing = make_patient(elsewhere, other_coord)
    auth.login(org.coord)
    response = auth.post(
        "/patients/new", patient_form(org.team.id, ins_matricule=existing.ins_matricule)
    )
    body = response.get_data(as_text=True)

    assert response.status_code == 409
    assert "Cette identité (matricule INS) est déjà enregistrée" in body
    assert "Équipe Vaise (DAC du Rhône)" in body
    assert "Voir la fiche existante" not in body
    assert f"/patients/{existing.id}" not in body


def test_create_patient_flags_possible_duplicate(db, client, auth, org):
    make_patient(
        org.team,
        org.coord,
        birth_name="DUPRÉ",
        search_birth_name="DUPRE",
        birth_year=1940,
        birth_month=5,
        birth_day=12,
    )
    auth.login(org.coord)
    response = auth.post("/patients/new", patient_form(org.team.id))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Un doublon potentiel a été signalé" in page


def test_create_patient_refused_to_professional(db, client, auth, org):
    auth.login(org.member)
    assert client.get("/patients/new").status_code == 403
    assert auth.post("/patients/new", patient_form(org.team.id)).status_code == 403


def test_create_patient_in_a_team_not_coordinated_is_refused(db, client, auth, org):
    auth.login(org.coord)
    response = auth.post("/patients/new", patient_form(org.other_team.id))
    assert response.status_code == 422
    assert "Choix invalide." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Patient)) == 0


# --- record page -----------------------------------------------------------------------------


def test_record_page_for_member_is_audited(db, client, auth, org):
    patient = make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(org.member)
    response = client.get(f"/patients/{patient.id}")
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "PARTAGE" in body and "Équipe Lyon Nord" in body
    assert "Création du dossier" in body  # the timeline
    assert "Modifier l'identité" not in body  # members do not manage the record
    reads = events(db, "patient.read", patient.id)
    assert reads and reads[-1].reason.startswith("member")
    assert reads[-1].actor_id == org.member.id


def test_record_page_for_outsider_is_404_and_audited(db, client, auth, org):
    patient = make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(org.outsider)
    response = client.get(f"/patients/{patient.id}")

    assert response.status_code == 404
    assert "PARTAGE" not in response.get_data(as_text=True)
    denied = events(db, "patient.read", patient.id)
    assert [e.outcome for e in denied] == ["denied"]


def test_record_page_for_admin_reveals_nothing(db, client, auth, org):
    patient = make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(make_user(role="admin", profession="administrative"))
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code in (403, 404)
    assert "PARTAGE" not in response.get_data(as_text=True)


def test_record_page_shows_missing_consent_to_enrolling_coordinator(db, client, auth, org):
    patient = make_patient(org.team, org.coord, consent=False)
    auth.login(org.coord)
    body = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Consentement au partage non recueilli" in body
    assert "Modifier l'identité" in body


def test_record_page_shows_break_glass_banner(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    db.session.add(
        BreakGlassAccess(
            patient_id=patient.id,
            user_id=org.outsider.id,
            reason="Appel du SAMU, patient inconscient à domicile",
            expires_at=utcnow().replace(year=utcnow().year + 1),
        )
    )
    auth.login(org.outsider)
    body = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Accès en urgence en cours, tracé et signalé à l'équipe" in body
    reads = events(db, "patient.read", patient.id)
    assert reads[-1].reason.startswith("break_glass")


def test_unknown_patient_is_404(db, client, auth, org):
    auth.login(org.member)
    assert client.get("/patients/999999").status_code == 404


# --- identity, details, contacts -------------------------------------------------------------


def test_edit_identity_updates_and_downgrades_status(db, client, auth, org):
    patient = make_patient(org.team, org.coord, birth_name="ANCIEN", status="qualified")
    auth.login(org.coord)
    page = client.get(f"/patients/{patient.id}/identity").get_data(as_text=True)
    assert 'value="ANCIEN"' in page  # prefilled
    data = {
        "birth_name": "Nouveau",
        "first_names": "Jeanne Marie",
        "birth_date-day": "12",
        "birth_date-month": "5",
        "birth_date-year": "1940",
        "sex": "F",
        "birthplace_code": "69381",
        "ins_matricule": patient.ins_matricule,
        "ins_oid": patient.ins_oid,
        "identity_status": "qualified",
        "identity_check_method": "insi_and_document",
    }
    response = auth.post(f"/patients/{patient.id}/identity", data)
    body = client.get(response.headers["Location"]).get_data(as_text=True)

    db.session.refresh(patient)
    assert patient.birth_name == "NOUVEAU"
    assert patient.identity_status == "provisional"
    assert "l&#39;identité repasse au statut « provisoire »" in body
    assert events(db, "patient.update_identity", patient.id)


def test_edit_identity_error_keeps_typed_values(db, client, auth, org):
    patient = make_patient(org.team, org.coord, birth_name="ANCIEN", status="provisional")
    auth.login(org.coord)
    data = {
        "birth_name": "N0uveau",
        "first_names": "Jeanne",
        "birth_date-year": "1940",
        "sex": "F",
        "identity_status": "provisional",
    }
    response = auth.post(f"/patients/{patient.id}/identity", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="birth_name-error"' in body and 'value="N0uveau"' in body


def test_edit_identity_refused_to_plain_member(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    auth.login(org.member)
    assert client.get(f"/patients/{patient.id}/identity").status_code == 404
    response = auth.post(f"/patients/{patient.id}/identity", {"birth_name": "X"})
    assert response.status_code == 404
    assert [e.outcome for e in events(db, "patient.manage", patient.id)] == ["denied", "denied"]


def test_add_and_remove_contact(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    auth.login(org.coord)
    data = {"kind": "caregiver", "name": "Paul Durand", "relationship_label": "Fils"}
    response = auth.post(f"/patients/{patient.id}/contacts", data)
    assert response.status_code == 302
    contact = db.session.scalar(sa.select(PatientContact))
    assert contact.name == "Paul Durand"
    assert "Paul Durand" in client.get(f"/patients/{patient.id}").get_data(as_text=True)

    response = auth.post(f"/patients/{patient.id}/contacts/{contact.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientContact)) == 0


def test_add_contact_error_is_inline(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    auth.login(org.coord)
    data = {"kind": "caregiver", "name": "", "phone": "06 12 34 56 78"}
    response = auth.post(f"/patients/{patient.id}/contacts", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Le nom du contact est obligatoire." in body
    assert 'value="06 12 34 56 78"' in body


def test_member_cannot_add_contact(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    auth.login(org.member)
    response = auth.post(f"/patients/{patient.id}/contacts", {"kind": "other", "name": "X"})
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientContact)) == 0


def test_update_details_with_gp_and_invalid_postal_code(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    gp = make_user(profession="physician", last_name="Généraliste")
    auth.login(org.coord)
    data = {"address": "3 rue des Lilas", "postal_code": "6900", "city": "Lyon", "gp_user_id": ""}
    response = auth.post(f"/patients/{patient.id}/details", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Code postal invalide (5 chiffres)." in body and 'value="3 rue des Lilas"' in body

    data.update(postal_code="69004", gp_user_id=str(gp.id), gp_person="Généraliste")
    assert auth.post(f"/patients/{patient.id}/details", data).status_code == 302
    db.session.refresh(patient)
    assert (patient.postal_code, patient.gp_user_id) == ("69004", gp.id)
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Prénom" in page
    # The GP is chosen by name (autocompletion), not from a list of every physician.
    assert 'data-autocomplete-url="/api/v1/professionals?profession=physician"' in page
    assert f'<option value="{gp.id}"' not in page


def test_gp_by_typed_name_without_javascript_and_removal(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    gp = make_user(profession="physician", last_name="Lefebvre")
    make_user(profession="nurse", last_name="Lefebvre")  # not a physician: not offered
    auth.login(org.coord)
    data = {"address": "", "postal_code": "", "city": "", "gp_user_id": ""}
    assert (
        auth.post(f"/patients/{patient.id}/details", data | {"gp_person": "lefeb"}).status_code
        == 302
    )
    db.session.refresh(patient)
    assert patient.gp_user_id == gp.id
    unknown = auth.post(f"/patients/{patient.id}/details", data | {"gp_person": "Zorglub"})
    assert unknown.status_code == 422
    assert "Aucun professionnel actif ne correspond" in unknown.get_data(as_text=True)
    # Emptying the name removes the GP, even with the old id still in the hidden field.
    cleared = data | {"gp_person": "", "gp_user_id": str(gp.id)}
    assert auth.post(f"/patients/{patient.id}/details", cleared).status_code == 302
    db.session.refresh(patient)
    assert patient.gp_user_id is None


# --- enrolments ------------------------------------------------------------------------------


def test_end_enrolment_removes_member_access_at_once(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    enrolment = db.session.scalar(sa.select(Enrolment).where(Enrolment.patient_id == patient.id))
    auth.login(org.member)
    assert client.get(f"/patients/{patient.id}").status_code == 200
    auth.post("/logout")

    auth.login(org.coord)
    data = {f"end{enrolment.id}-end_reason": "goals_met", f"end{enrolment.id}-end_note": ""}
    response = auth.post(f"/enrolments/{enrolment.id}/end", data)
    assert response.status_code == 302
    db.session.refresh(enrolment)
    assert enrolment.ended_at is not None and enrolment.end_reason == "goals_met"

    auth.post("/logout")
    auth.login(org.member)
    assert client.get(f"/patients/{patient.id}").status_code == 404


def test_end_enrolment_needs_a_reason(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    enrolment = db.session.scalar(sa.select(Enrolment).where(Enrolment.patient_id == patient.id))
    auth.login(org.coord)
    data = {f"end{enrolment.id}-end_reason": "other", f"end{enrolment.id}-end_note": ""}
    response = auth.post(f"/enrolments/{enrolment.id}/end", data)
    assert response.status_code == 422
    assert "Précisez le motif de sortie." in response.get_data(as_text=True)
    db.session.refresh(enrolment)
    assert enrolment.ended_at is None


def test_end_enrolment_refused(db, client, auth, org):
    patient = make_patient(org.team, org.coord)
    enrolment = db.session.scalar(sa.select(Enrolment).where(Enrolment.patient_id == patient.id))
    data = {f"end{enrolment.id}-end_reason": "goals_met"}
    auth.login(org.outsider)
    assert auth.post(f"/enrolments/{enrolment.id}/end", data).status_code == 404
    auth.post("/logout")
    auth.login(org.member)  # sees the record, may not close the follow-up
    assert auth.post(f"/enrolments/{enrolment.id}/end", data).status_code == 403
    db.session.refresh(enrolment)
    assert enrolment.ended_at is None


# --- teams -----------------------------------------------------------------------------------


def test_teams_page_for_admin_shows_teams_without_patients(db, client, auth, org):
    make_patient(org.team, org.coord, birth_name="PARTAGE")
    auth.login(make_user(role="admin", profession="administrative"))
    listing = client.get("/teams").get_data(as_text=True)
    assert "Équipe Lyon Nord" in listing and "Équipe Villeurbanne" in listing
    assert "PARTAGE" not in listing
    page = client.get(f"/teams/{org.team.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"{org.coord.last_name} {org.coord.first_name}" in body and "Coordination" in body
    assert "PARTAGE" not in body


def test_teams_page_for_member_lists_own_teams_with_counts(db, client, auth, org):
    make_patient(org.team, org.coord)
    make_patient(org.team, org.coord)
    auth.login(org.member)
    body = client.get("/teams").get_data(as_text=True)
    assert "Équipe Lyon Nord" in body and "Équipe Villeurbanne" not in body
    assert '<td class="num">2</td>' in body
    assert client.get(f"/teams/{org.other_team.id}").status_code == 403
    assert client.get("/teams/999999").status_code == 404


def test_teams_list_runs_one_count_query(db, client, auth, org, count_queries):
    admin = make_user(role="admin", profession="administrative")
    auth.login(admin)
    with count_queries() as few:
        client.get("/teams")
    for _ in range(5):
        make_team()
    with count_queries() as many:
        client.get("/teams")
    assert len(many) == len(few)


# --- notifications ---------------------------------------------------------------------------


def test_notifications_page_lists_and_marks_read(db, client, auth, org):
    notify(org.coord.id, "break_glass", "Accès en urgence à examiner", "/break-glass/reviews")
    notify(org.coord.id, "other", "Lien externe ignoré", "https://example.test/")
    auth.login(org.coord)
    body = client.get("/notifications").get_data(as_text=True)
    assert '<a href="/break-glass/reviews">Accès en urgence à examiner</a>' in body
    assert "example.test" not in body
    assert "2 non lues" in body

    assert auth.post("/notifications/read").status_code == 302
    unread = sa.select(sa.func.count()).where(Notification.read_at.is_(None))
    assert db.session.scalar(unread) == 0


def test_navigation_links(db, client, auth, org):
    auth.login(org.coord)
    response = client.get("/")
    while response.status_code == 302:  # coordinators land on their dashboard
        response = client.get(response.headers["Location"])
    body = response.get_data(as_text=True)
    for href in ("/patients", "/teams", "/notifications", "/dashboard"):
        assert f'href="{href}"' in body


def test_requested_on_default_is_today(db, client, auth, org):
    auth.login(org.coord)
    body = client.get("/patients/new").get_data(as_text=True)
    assert f'value="{clock.paris_today().isoformat()}"' in body


def test_create_page_for_coordinator_without_team(db, client, auth):
    auth.login(make_user(role="coordinator", profession="nurse"))
    body = client.get("/patients/new").get_data(as_text=True)
    assert "Vous ne coordonnez aucune équipe" in body
    assert "Créer le dossier" not in body
