"""Identity vigilance by the rules (RNIV): strict traits, INSi, qualification, unmerge."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import AuditContext
from ptap.care_teams import qualification, services
from ptap.care_teams.dmp import dmp_patient
from ptap.care_teams.identity import normalise_trait
from ptap.care_teams.insi import (
    InsiAnswer,
    InsiCode,
    InsIdentity,
    InsiNotConfigured,
    InsiUnavailable,
    InsTraits,
    identity_service,
)
from ptap.care_teams.merges import unmerge_records
from ptap.care_teams.models import (
    ConsentRecord,
    DuplicateFlag,
    Enrolment,
    Patient,
    PatientContact,
    PatientMerge,
)
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.ins import InsOid
from ptap.devtools.insi_simulator import SimulatedInsi, simulated_ins
from ptap.dmp_bridge import gates
from ptap.settings import check
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user

# --- 17. strict traits --------------------------------------------------------------------

NORMALISATION = [
    ("dupont", "DUPONT"),
    ("Élodie", "ELODIE"),
    ("  marie   louise  ", "MARIE LOUISE"),
    ("Françoise", "FRANCOISE"),
    ("Noël Chloé", "NOEL CHLOE"),
    ("Œuvray", "OEUVRAY"),
    ("cœur", "COEUR"),
    ("Lætitia", "LAETITIA"),
    ("ÆLIS", "AELIS"),
    ("Straße", "STRASSE"),
    ("d'Artagnan", "D'ARTAGNAN"),
    ("d’Artagnan", "D'ARTAGNAN"),  # typographic apostrophe
    ("D ' ARTAGNAN", "D'ARTAGNAN"),
    ("'Oneil'", "ONEIL"),  # leading and trailing apostrophes dropped
    ("O''Neil", "O'NEIL"),
    ("Jean-Pierre", "JEAN-PIERRE"),
    ("jean - pierre", "JEAN-PIERRE"),
    ("Jean–Pierre", "JEAN-PIERRE"),  # en dash
    ("-Martin-", "MARTIN"),
    ("Dupont--Durand", "DUPONT--DURAND"),  # double family name of civil status: kept
    ("Dupont---Durand", "DUPONT--DURAND"),
    ("Müller", "MULLER"),
    ("Ñúñez", "NUNEZ"),
    ("Ångström", "ANGSTROM"),
    ("ÇAĞLAR", "CAGLAR"),
    ("zoé\tmarie", "ZOE MARIE"),
]


@pytest.mark.parametrize(("typed", "stored"), NORMALISATION)
def test_strict_traits_normalise_as_the_ins_rules_write_them(typed, stored):
    assert normalise_trait(typed) == stored


@pytest.fixture
def world(db):
    team = make_team()
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    return {"team": team, "coord": coord, "member": member}


def ctx(user):
    return AuditContext(actor_id=user.id, actor_label=user.email)


def _new(world, **over):
    data = services.IdentityData(
        birth_name=over.pop("birth_name", "Lefèvre"),
        first_names=over.pop("first_names", "élodie  marie-thérèse"),
        birth_year=1950,
        birth_month=3,
        birth_day=14,
        sex="F",
        birthplace_code=over.pop("birthplace_code", "69381"),
        used_name=over.pop("used_name", "de La Fontaine"),
        **over,
    )
    request = services.EnrolmentRequest(clock.paris_today(), "gp", "", ("medical",))
    return services.create_patient(
        world["coord"], world["team"], data, request, ctx(world["coord"])
    )


def test_patient_stores_normalised_traits_and_keeps_the_used_name(world):
    patient = _new(world)
    assert (patient.birth_name, patient.first_names) == ("LEFEVRE", "ELODIE MARIE-THERESE")
    assert patient.used_name == "de La Fontaine"
    assert patient.identity_status == "provisional"


def test_a_character_outside_the_ins_alphabet_is_refused(world):
    with pytest.raises(InvalidInput) as error:
        _new(world, birth_name="Dupont2")
    assert error.value.field == "birth_name"


# --- 18. the INSi port and its simulator ------------------------------------------------------

TRAITS = InsTraits("LEFEVRE", "ELODIE MARIE-THERESE", 1950, 3, 14, "F", "69381")


def test_simulator_answers_00_with_a_stable_valid_test_ins():
    answer = SimulatedInsi().retrieve(TRAITS)
    assert answer.code == InsiCode.FOUND
    assert answer.identity.oid == InsOid.TEST_NIR
    assert answer.identity.matricule == simulated_ins(TRAITS)
    assert answer.identity.matricule.startswith("2500369381")
    assert SimulatedInsi().verify(answer.identity.matricule, InsOid.TEST_NIR, TRAITS).code == "00"


def test_simulator_answers_01_02_and_can_be_down():
    sim = SimulatedInsi()
    unknown = InsTraits("INCONNU", "PAUL", 1950, 3, 14, "M", "69381")
    several = InsTraits("HOMONYME", "PAUL", 1950, 3, 14, "M", "")
    assert sim.retrieve(unknown).code == InsiCode.NONE
    assert sim.retrieve(several).code == InsiCode.SEVERAL
    assert sim.retrieve(InsTraits("HOMONYME", "PAUL", 1950, 3, 14, "M", "69381")).code == "00"
    assert sim.verify(simulated_ins(TRAITS), InsOid.TEST_NIR, unknown).code == InsiCode.NONE
    with pytest.raises(InsiUnavailable):
        SimulatedInsi(down=True).retrieve(TRAITS)
    with pytest.raises(InsiUnavailable):
        sim.retrieve(InsTraits("PANNE", "PAUL", 1950, 3, 14, "M", ""))


def test_retrieve_00_records_the_ins_and_the_status_becomes_recovered(db, world):
    patient = _new(world)
    outcome = qualification.query_insi(
        world["coord"], patient, SimulatedInsi(), "retrieve", ctx(world["coord"])
    )
    assert outcome.answer.code == InsiCode.FOUND
    assert patient.ins_matricule == simulated_ins(TRAITS)
    assert patient.identity_status == "recovered"
    assert (patient.insi_operation, patient.insi_checked_by_id) == ("retrieve", world["coord"].id)
    assert not patient.is_qualified
    qualification.query_insi(
        world["coord"], patient, SimulatedInsi(), "verify", ctx(world["coord"])
    )
    assert patient.insi_operation == "verify"


@pytest.mark.parametrize(
    ("birth_name", "birthplace", "code"), [("Inconnu", "69381", "01"), ("Homonyme", "", "02")]
)
def test_insi_01_and_02_change_nothing_but_are_audited(db, world, birth_name, birthplace, code):
    patient = _new(world, birth_name=birth_name, birthplace_code=birthplace)
    outcome = qualification.query_insi(
        world["coord"], patient, SimulatedInsi(), "retrieve", ctx(world["coord"])
    )
    assert outcome.answer.code == code
    assert outcome.message.startswith(f"Réponse {code}")
    assert (patient.ins_matricule, patient.insi_checked_at) == (None, None)
    assert patient.identity_status == "provisional"
    reasons = db.session.scalars(
        sa.select(AuditEvent.reason).where(AuditEvent.action == "patient.insi_query")
    ).all()
    assert reasons == [f"retrieve: {code}; status: provisional"]


def test_insi_down_raises_a_french_error_and_changes_nothing(db, world):
    patient = _new(world)
    with pytest.raises(InsiUnavailable) as error:
        qualification.query_insi(
            world["coord"], patient, SimulatedInsi(down=True), "retrieve", ctx(world["coord"])
        )
    assert "ne répond pas" in error.value.message and "rien n'a été modifié" in error.value.message
    assert (patient.ins_matricule, patient.identity_status) == (None, "provisional")


def test_verify_needs_an_ins(db, world):
    patient = _new(world)
    with pytest.raises(InvalidInput):
        qualification.query_insi(
            world["coord"], patient, SimulatedInsi(), "verify", ctx(world["coord"])
        )


def test_qualification_needs_insi_and_a_document(db, world):
    # An INS typed from a card is not an INSi answer: the identity is only validated.
    patient = _new(world, ins_matricule=simulated_ins(TRAITS), ins_oid=InsOid.TEST_NIR)
    qualification.record_document_check(world["coord"], patient, "passport", ctx(world["coord"]))
    assert patient.identity_status == "validated"  # no INSi: not qualified
    assert gates.blocking_reason(dmp_patient(patient.id), "file") == gates.NOT_QUALIFIED
    other = _new(world, birth_name="Martin")
    qualification.query_insi(
        world["coord"], other, SimulatedInsi(), "retrieve", ctx(world["coord"])
    )
    assert other.identity_status == "recovered"  # no document: not qualified
    qualification.query_insi(
        world["coord"], patient, SimulatedInsi(), "retrieve", ctx(world["coord"])
    )
    assert patient.identity_status == "qualified" and patient.is_qualified
    assert patient.identity_check_method == "insi_and_document"
    assert gates.blocking_reason(dmp_patient(patient.id), "file") != gates.NOT_QUALIFIED


def test_a_strict_trait_change_drops_the_insi_answer_and_the_document(db, world):
    patient = _new(world)
    qualification.record_document_check(world["coord"], patient, "passport", ctx(world["coord"]))
    qualification.query_insi(
        world["coord"], patient, SimulatedInsi(), "retrieve", ctx(world["coord"])
    )
    data = services.IdentityData(
        birth_name="LEFEVRE",
        first_names="ELODIE",
        birth_year=1950,
        birth_month=3,
        birth_day=14,
        sex="F",
        birthplace_code="69381",
        ins_matricule=patient.ins_matricule or "",
        ins_oid=patient.ins_oid or "",
        identity_status="qualified",
        identity_check_method="insi_and_document",
    )
    services.update_identity(world["coord"], patient, data, ctx(world["coord"]))
    assert patient.identity_status == "provisional"
    assert (patient.insi_checked_at, patient.document_checked_at) == (None, None)


def test_unknown_document_and_plain_member_are_refused(db, world):
    patient = _new(world)
    with pytest.raises(InvalidInput) as error:
        qualification.record_document_check(
            world["coord"], patient, "library_card", ctx(world["coord"])
        )
    assert error.value.field == "document_type"
    with pytest.raises(PermissionDenied):
        qualification.record_document_check(
            world["member"], patient, "passport", ctx(world["member"])
        )


def test_hand_qualification_is_refused_by_the_service(db, world):
    with pytest.raises(InvalidInput) as error:
        _new(world, identity_status="qualified", identity_check_method="insi_and_document")
    assert error.value.field == "identity_status"
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == 0


def test_production_refuses_the_simulator(app):
    cfg = dict(app.config) | {"ENV": "production", "INSI_CONNECTOR": "simulator"}
    assert any("INSI_CONNECTOR" in p.message for p in check(cfg))
    assert not any("INSI" in p.message for p in check(dict(app.config)))
    bad = dict(app.config) | {"INSI_CONNECTOR": "bogus", "INSI_TIMEOUT_SECONDS": 0}
    assert len([p for p in check(bad) if "INSI" in p.message]) == 2
    with app.test_request_context():
        app.config["ENV"] = "production"
        try:
            with pytest.raises(InsiNotConfigured):
                identity_service()
        finally:
            app.config["ENV"] = "testing"
        app.config["INSI_CONNECTOR"] = "none"
        with pytest.raises(InsiNotConfigured):
            identity_service()
        app.config["INSI_CONNECTOR"] = "simulator"
        assert isinstance(identity_service(), SimulatedInsi)


# --- 18. the identity page --------------------------------------------------------------------


def test_identity_page_buttons_qualify(client, auth, db, world):
    patient = _new(world)
    auth.login(world["coord"])
    page = client.get(f"/patients/{patient.id}/identity")
    assert "Interroger INSi" in page.text and "Contrôle de la pièce d'identité" in page.text
    token = csrf_token(client, f"/patients/{patient.id}/identity")
    base = f"/patients/{patient.id}/identity"
    response = client.post(f"{base}/insi", data={"op": "retrieve", "csrf_token": token})
    assert response.status_code == 302
    response = client.post(
        f"{base}/document-check", data={"document_type": "identity_card", "csrf_token": token}
    )
    assert "Identité qualifiée" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).is_qualified


def test_identity_page_shows_insi_down_in_french(client, auth, db, world):
    patient = _new(world, birth_name="Panne")
    auth.login(world["coord"])
    token = csrf_token(client, f"/patients/{patient.id}/identity")
    response = client.post(
        f"/patients/{patient.id}/identity/insi", data={"op": "retrieve", "csrf_token": token}
    )
    assert "Le téléservice INSi ne répond pas" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).identity_status == "provisional"


def test_identity_form_cannot_qualify_by_hand(client, auth, db, world):
    patient = _new(world)
    auth.login(world["coord"])
    token = csrf_token(client, f"/patients/{patient.id}/identity")
    response = client.post(
        f"/patients/{patient.id}/identity",
        data={
            "csrf_token": token,
            "birth_name": "LEFEVRE",
            "first_names": "ELODIE MARIE-THERESE",
            "birth_date-day": "14",
            "birth_date-month": "03",
            "birth_date-year": "1950",
            "sex": "F",
            "birthplace_code": "69381",
            "identity_status": "qualified",
            "identity_check_method": "passport",
        },
    )
    assert response.status_code == 422
    assert 'id="identity_status"' in response.text and "Choix invalide" in response.text
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).identity_status == "provisional"


def test_member_cannot_use_the_insi_button(client, auth, db, world):
    patient = _new(world)
    auth.login(world["member"])
    token = csrf_token(client, "/account")
    response = client.post(
        f"/patients/{patient.id}/identity/insi", data={"op": "retrieve", "csrf_token": token}
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).insi_checked_at is None


# --- 19. unmerge ------------------------------------------------------------------------------


def _merged(db, world):
    older = make_patient(world["team"], world["coord"], ins_matricule=None, ins_oid=None)
    newer = make_patient(world["team"], world["coord"], status="provisional")
    db.session.add(PatientContact(patient_id=newer.id, kind="caregiver", name="Paul"))
    flag = DuplicateFlag(patient_id=newer.id, other_patient_id=older.id)
    db.session.add(flag)
    db.session.flush()
    ins = newer.ins_matricule
    services.resolve_duplicate(world["coord"], flag, "merge", ctx(world["coord"]))
    merge = db.session.scalar(sa.select(PatientMerge))
    return older, newer, flag, merge, ins


def test_unmerge_restores_both_records_and_their_links(db, world):
    older, newer, flag, merge, ins = _merged(db, world)
    assert older.ins_matricule == ins and newer.merged_into_id == older.id
    assert merge.moved["ins_moved"] is True and merge.moved["ended_enrolments"]
    unmerge_records(world["coord"], merge, ctx(world["coord"]))
    db.session.expire_all()
    older, newer = db.session.get(Patient, older.id), db.session.get(Patient, newer.id)
    assert newer.merged_into_id is None and newer.ins_matricule == ins
    assert older.ins_matricule is None
    assert [c.name for c in newer.contacts] == ["Paul"] and older.contacts == []
    open_enrolments = db.session.scalars(
        sa.select(Enrolment.patient_id).where(Enrolment.ended_at.is_(None))
    ).all()
    assert sorted(open_enrolments) == sorted([older.id, newer.id])
    consents = db.session.scalars(sa.select(ConsentRecord.patient_id)).all()
    assert all(pid in (older.id, newer.id) for pid in consents)
    assert db.session.get(DuplicateFlag, flag.id).status == "open"
    assert merge.undone_by_id == world["coord"].id
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "patient.duplicate_unmerge" in actions
    with pytest.raises(Conflict):
        unmerge_records(world["coord"], merge, ctx(world["coord"]))


def test_unmerge_is_refused_after_30_days(db, world):
    older, newer, _flag, merge, _ins = _merged(db, world)
    merge.merged_at = clock.now() - timedelta(days=31)
    with pytest.raises(Conflict) as error:
        unmerge_records(world["coord"], merge, ctx(world["coord"]))
    assert "plus de 30 jours" in error.value.message
    assert db.session.get(Patient, newer.id).merged_into_id == older.id


def test_unmerge_refused_to_a_plain_member(db, world):
    _older, newer, _flag, merge, _ins = _merged(db, world)
    with pytest.raises(PermissionDenied):
        unmerge_records(world["member"], merge, ctx(world["member"]))
    assert db.session.get(Patient, newer.id).merged_into_id is not None


def test_unmerge_button_on_the_duplicates_page(client, auth, db, world):
    _older, newer, _flag, merge, _ins = _merged(db, world)
    db.session.commit()
    auth.login(world["coord"])
    page = client.get("/duplicates")
    assert "Annuler la fusion" in page.text
    token = csrf_token(client, "/duplicates")
    response = client.post(f"/duplicates/merges/{merge.id}/undo", data={"csrf_token": token})
    assert "Fusion annulée" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(Patient, newer.id).merged_into_id is None
    auth.post("/logout")
    auth.login(world["member"])
    assert auth.post(f"/duplicates/merges/{merge.id}/undo").status_code == 403


# --- INSi traits that differ from those typed -------------------------------------------------


class _OtherTraitsInsi:
    """An INSi answering 00 with other traits (a first name added, another birth name)."""

    def __init__(self, traits: InsTraits) -> None:
        self.traits = traits

    def _found(self) -> InsiAnswer:
        identity = InsIdentity(simulated_ins(self.traits), InsOid.TEST_NIR, self.traits)
        return InsiAnswer(InsiCode.FOUND, identity)

    def retrieve(self, traits: InsTraits) -> InsiAnswer:
        return self._found()

    def verify(self, matricule: str, oid: str, traits: InsTraits) -> InsiAnswer:
        return self._found()


INSI_TRAITS = InsTraits("LEFEBVRE", "ELODIE MARIE-THERESE ANNE", 1950, 3, 14, "F", "69381")


def test_insi_traits_that_differ_clear_the_document_check(db, world):
    patient = _new(world)
    qualification.record_document_check(world["coord"], patient, "passport", ctx(world["coord"]))
    qualification.query_insi(
        world["coord"], patient, _OtherTraitsInsi(INSI_TRAITS), "retrieve", ctx(world["coord"])
    )
    assert (patient.birth_name, patient.first_names) == ("LEFEBVRE", "ELODIE MARIE-THERESE ANNE")
    # Nobody compared the passport with INSi's traits: recovered, not qualified.
    assert patient.identity_status == "recovered" and not patient.is_qualified
    assert (patient.document_checked_at, patient.document_type) == (None, "")
    reason = db.session.scalar(
        sa.select(AuditEvent.reason).where(AuditEvent.action == "patient.insi_query")
    )
    assert "birth_name, first_names" in reason and "document check cleared" in reason
    qualification.record_document_check(world["coord"], patient, "passport", ctx(world["coord"]))
    assert patient.identity_status == "qualified"


def test_insi_same_traits_keep_the_document_check(db, world):
    patient = _new(world)
    qualification.record_document_check(world["coord"], patient, "passport", ctx(world["coord"]))
    same = InsTraits("LEFEVRE", "ELODIE MARIE-THERESE", 1950, 3, 14, "F", "69381")
    qualification.query_insi(
        world["coord"], patient, _OtherTraitsInsi(same), "retrieve", ctx(world["coord"])
    )
    assert patient.identity_status == "qualified"


def test_insi_names_refresh_the_search_keys_and_flag_duplicates(db, world):
    twin = _new(world, birth_name="Lefebvre", used_name="")
    patient = _new(world)
    assert db.session.scalar(sa.select(sa.func.count(DuplicateFlag.id))) == 0
    qualification.query_insi(
        world["coord"], patient, _OtherTraitsInsi(INSI_TRAITS), "retrieve", ctx(world["coord"])
    )
    assert patient.search_birth_name == "LEFEBVRE"
    assert " ANNE " in patient.search_names and " LEFEBVRE " in patient.search_names
    assert patient.search_used_name == "DE LA FONTAINE"
    pairs = db.session.execute(sa.select(DuplicateFlag.patient_id, DuplicateFlag.other_patient_id))
    assert [tuple(p) for p in pairs] == [(patient.id, twin.id)]


def test_unmerge_taking_the_ins_back_unqualifies_the_survivor(db, world):
    older, newer, _flag, merge, ins = _merged(db, world)
    assert merge.moved["ins_matricule"] == ins
    unmerge_records(world["coord"], merge, ctx(world["coord"]))
    db.session.expire_all()
    older = db.session.get(Patient, older.id)
    assert older.ins_matricule is None and older.insi_checked_at is None
    assert older.identity_status == "validated" and not older.is_qualified
    assert db.session.get(Patient, newer.id).ins_matricule == ins


def test_unmerge_keeps_an_ins_changed_since_the_merge(db, world):
    older, newer, _flag, merge, ins = _merged(db, world)
    other = simulated_ins(TRAITS)
    older.ins_matricule = other
    db.session.flush()
    unmerge_records(world["coord"], merge, ctx(world["coord"]))
    db.session.expire_all()
    assert db.session.get(Patient, older.id).ins_matricule == other
    assert db.session.get(Patient, newer.id).ins_matricule is None


class _SimulatorSubclass(SimulatedInsi):
    """The simulator under another name: still invented identities."""


@pytest.mark.parametrize(
    "spelling",
    [
        "ptap.devtools.insi_simulator.SimulatedInsi",
        "ptap.care_teams.insi:SIMULATOR_ALIAS",
        "tests.care_teams.test_rniv:_SimulatorSubclass",
    ],
)
def test_production_refuses_the_simulator_however_spelt(app, monkeypatch, spelling):
    import ptap.care_teams.insi as insi

    monkeypatch.setattr(insi, "SIMULATOR_ALIAS", SimulatedInsi, raising=False)
    cfg = dict(app.config) | {"ENV": "production", "INSI_CONNECTOR": spelling}
    assert any("INSI_CONNECTOR" in p.message for p in check(cfg))
    with app.test_request_context():
        monkeypatch.setitem(app.config, "INSI_CONNECTOR", spelling)
        monkeypatch.setitem(app.config, "ENV", "production")
        with pytest.raises(InsiNotConfigured):
            identity_service()


def test_production_accepts_a_certified_connector_path(app):
    cfg = dict(app.config) | {
        "ENV": "production",
        "INSI_CONNECTOR": "tests.care_teams.test_rniv:_OtherTraitsInsi",
    }
    assert not any("simulator" in p.message for p in check(cfg))
