"""Finding a patient: names in any order and part, INS, birth date, filters, need-to-know,
plan columns, the break-the-glass offer, a fixed number of queries."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.models import CarePlan
from ptap.care_teams.identity import names_search_key
from ptap.care_teams.models import Enrolment
from ptap.care_teams.search import PatientSearch, parse_terms, visible_patients_query
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.extensions import db
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir


@pytest.fixture
def world(db):
    """Two teams: a coordinating nurse in both, a member of the first, an outsider in a third;
    three patients of the first team, one of the second, one of the third."""
    team = make_team("Équipe Lyon Nord")
    second = make_team("Équipe Lyon Sud")
    coord = make_user(role="coordinator", profession="nurse", first_name="Claire")
    member = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    add_member(second, coord, "coordinator")
    add_member(team, member)
    third = make_team("Équipe Villeurbanne")
    outsider = make_user(profession="nurse")
    add_member(third, outsider)
    odette = make_patient(
        team, coord, birth_name="CROQUETIN", first_names="Odette Marie",
        search_birth_name="CROQUETIN", used_name="MARTIN",
        birth_year=1941, birth_month=3, birth_day=12, ins_matricule=valid_nir("F", 1941, 3),
    )  # fmt: skip
    legall = make_patient(team, coord, birth_name="LE GALL", first_names="Hélène")
    odile = make_patient(team, coord, birth_name="BERNARD", first_names="Odile")
    south = make_patient(second, coord, birth_name="SUDRE", first_names="Paule")
    elsewhere = make_patient(
        third, outsider, birth_name="CROQUETIN", first_names="Odette",
        search_birth_name="CROQUETIN",
        birth_year=1950, birth_month=1, birth_day=2, ins_matricule=valid_nir("F", 1950, 1),
    )  # fmt: skip
    db.session.commit()
    return SimpleNamespace(
        team=team, second=second, coord=coord, member=member, outsider=outsider,
        odette=odette, legall=legall, odile=odile, south=south, elsewhere=elsewhere,
    )  # fmt: skip


def found(user_id: int, **criteria: object) -> set[int]:
    stmt = visible_patients_query(user_id, PatientSearch(**criteria))  # type: ignore[arg-type]
    return {p.id for p in db.session.scalars(stmt)}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- the search key ---------------------------------------------------------------------------


def test_names_search_key_holds_every_word_without_accents_and_glued_compounds():
    key = names_search_key("", "Le Gall", "Hélène Marie-Œdile", "")
    assert key == " LE GALL LEGALL HELENE MARIE OEDILE HELENEMARIEOEDILE "
    assert names_search_key("", "", "", "") == ""


def test_the_search_key_follows_an_identity_change(db, world):
    from ptap.care_teams import services
    from ptap.care_teams.identity import IdentityData

    p = world.legall
    data = IdentityData(
        birth_name="Le Gall", first_names="Hélène", birth_year=1940, birth_month=5,
        birth_day=12, sex="F", birthplace_code="69381", used_name="Kerbrat",
        ins_matricule=p.ins_matricule or "", ins_oid=p.ins_oid or "",
        identity_status="provisional",
    )  # fmt: skip
    services.update_identity(world.coord, p, data, SYSTEM)
    assert " KERBRAT " in p.search_names and " HELENE " in p.search_names


# --- the matching table -----------------------------------------------------------------------

MATCHES = [
    ("croquetin odette", {"odette"}),
    ("odette croquetin", {"odette"}),
    ("Odette", {"odette"}),
    ("CROQUETIN", {"odette"}),
    ("odétte", {"odette"}),
    ("  Croquétin   ODETTE  ", {"odette"}),
    ("quetin", {"odette"}),  # a part of a name
    ("martin", {"odette"}),  # the used name
    ("marie", {"odette"}),  # a second first name
    ("legall", {"legall"}),
    ("le gall", {"legall"}),
    ("Le-Gall", {"legall"}),
    ("HÉLÈNE", {"legall"}),
    ("od", {"odette", "odile"}),
    ("odette bernard", set()),  # every word must match the same person
    ("12/03/1941", {"odette"}),
    ("1941-03-12", {"odette"}),
    ("12.03.1941", {"odette"}),
    ("croquetin 12/03/1941", {"odette"}),
    ("12/03/1941 odette", {"odette"}),
    ("croquetin 13/03/1941", set()),
    ("1941", {"odette"}),
    ("dupont", set()),
]


@pytest.mark.parametrize(("typed", "expected"), MATCHES)
def test_search_box_matches_names_dates_in_any_order(db, world, typed, expected):
    ids = {getattr(world, name).id for name in expected}
    assert found(world.coord.id, text=typed) == ids


def test_search_box_matches_an_ins_spaced_or_without_its_key(db, world):
    nir = world.odette.ins_matricule
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    assert found(world.coord.id, text=spaced) == {world.odette.id}
    assert found(world.coord.id, text=nir[:13]) == {world.odette.id}
    assert found(world.coord.id, text=f"croquetin {nir}") == {world.odette.id}
    assert found(world.coord.id, ins=nir) == {world.odette.id}  # the API's separate criterion


@pytest.mark.parametrize("typed", ["12345", "croquetin 12/03/1941 01/01/1950", "2 41 03"])
def test_search_box_refuses_what_is_neither_ins_nor_date(db, world, typed):
    with pytest.raises(InvalidInput) as caught:
        parse_terms(PatientSearch(text=typed))
    assert caught.value.field == "q"


def test_what_identifies_a_person_for_break_the_glass(db, world):
    def identifies(**criteria: str) -> bool:
        return parse_terms(PatientSearch(**criteria)).identifies

    assert identifies(text=world.odette.ins_matricule)
    assert identifies(text="croquetin 12/03/1941")
    assert not identifies(text="croquetin")
    assert not identifies(text="12/03/1941")
    assert not identifies(text="croquetin 03/1941")
    assert not identifies(text=world.odette.ins_matricule[:13])


# --- need-to-know and filters ---------------------------------------------------------------


def test_search_never_lists_a_patient_outside_the_circle(db, world):
    assert found(world.member.id, text="croquetin") == {world.odette.id}
    assert found(world.member.id, text=world.elsewhere.ins_matricule) == set()
    assert found(world.member.id, text="sudre") == set()  # the coordinator's other team
    assert found(world.outsider.id, text="croquetin") == {world.elsewhere.id}


def test_team_and_consent_filters(db, world):
    unconsented = make_patient(world.team, world.coord, consent=False, birth_name="ATTENTE")
    coord = world.coord.id
    assert found(coord, team_id=world.second.id) == {world.south.id}
    assert found(coord, text="o", team_id=world.team.id) == {world.odette.id, world.odile.id}
    assert found(coord, consent_to_collect=True) == {unconsented.id}
    assert found(world.member.id, consent_to_collect=True) == set()  # not theirs to see


def _plan(db, coord, patient, status: str, review: date | None) -> CarePlan:
    enrolment = db.session.scalars(sa.select(Enrolment).filter_by(patient_id=patient.id)).one()
    plan = plan_services.create_plan(coord, enrolment, SYSTEM)
    plan.status, plan.next_review_on = status, review
    db.session.flush()
    return plan


def test_plan_status_and_review_due_filters(db, world):
    today = clock.paris_today()
    _plan(db, world.coord, world.odette, "active", today + timedelta(days=3))
    _plan(db, world.coord, world.legall, "active", today + timedelta(days=90))
    _plan(db, world.coord, world.odile, "draft", None)
    coord = world.coord.id
    assert found(coord, plan_status="active") == {world.odette.id, world.legall.id}
    assert found(coord, plan_status="draft") == {world.odile.id}
    assert found(coord, plan_status="none") == {world.south.id}
    assert found(coord, review_due=True) == {world.odette.id}
    assert found(coord, review_due=True, plan_status="draft") == set()


# --- the page ---------------------------------------------------------------------------------


def test_list_shows_plan_status_next_review_and_coordination(db, client, auth, world):
    today = clock.paris_today()
    _plan(db, world.coord, world.odette, "active", today + timedelta(days=3))
    _plan(db, world.coord, world.legall, "active", today - timedelta(days=3))
    db.session.commit()
    auth.login(world.member)
    late = text(client.get("/patients", query_string={"q": "le gall"}))
    assert "dépassée" in late and "En vigueur" in late
    body = text(client.get("/patients", query_string={"q": "odette croquetin"}))
    row = re.search(rf"<tr>\s*<td><a href=\"/patients/{world.odette.id}\">.*?</tr>", body, re.S)
    assert row, body
    cells = re.sub(r"<[^>]+>", " ", row.group(0))
    assert "CROQUETIN Odette Marie" in cells and "Nom utilisé : MARTIN" in cells
    assert "En vigueur" in cells and (today + timedelta(days=3)).strftime("%d/%m/%Y") in cells
    assert "à prévoir" in cells and "dépassée" not in cells
    assert "Équipe Lyon Nord" in cells and f"Référent·e : Claire {world.coord.last_name}" in cells
    assert "Pas encore de plan" not in cells


def test_list_filters_keep_their_values_and_refuse_another_team(db, client, auth, world):
    auth.login(world.member)
    ok = client.get("/patients", query_string={"team": world.team.id, "review_due": "y"})
    assert ok.status_code == 200
    checkbox = re.search(r"<input[^>]*name=\"review_due\"[^>]*>", text(ok))
    assert checkbox and "checked" in checkbox.group(0)
    chosen = re.search(rf"<option[^>]*value=\"{world.team.id}\"[^>]*>", text(ok))
    assert chosen and "selected" in chosen.group(0)
    refused = client.get("/patients", query_string={"team": world.second.id})
    assert refused.status_code == 422
    assert "SUDRE" not in text(refused)
    assert '<p class="error" id="team-error">Choix invalide.' in text(refused)


def test_list_shows_consent_to_collect_to_the_enrolling_coordinator(db, client, auth, world):
    make_patient(world.team, world.coord, consent=False, birth_name="ATTENTE")
    db.session.commit()
    auth.login(world.coord)
    body = text(client.get("/patients", query_string={"consent": "y"}))
    assert "ATTENTE" in body and "Consentement à recueillir" in body and "CROQUETIN" not in body


def test_list_runs_a_fixed_number_of_queries(db, client, auth, world, count_queries):
    auth.login(world.coord)
    with count_queries() as few:
        assert client.get("/patients", query_string={"q": "o"}).status_code == 200
    for n in range(30):
        patient = make_patient(world.team, world.coord, first_names=f"Odon{'x' * (n % 3)}")
        _plan(db, world.coord, patient, "active", clock.paris_today())
    db.session.commit()
    with count_queries() as many:
        body = text(client.get("/patients", query_string={"q": "o"}))
    assert re.search(r"3\d patients correspondant", body)
    assert len(many) == len(few)


def test_list_paginates_and_keeps_the_criteria(db, client, auth, world):
    for _ in range(55):
        make_patient(world.team, world.coord, first_names="Odon")
    db.session.commit()
    auth.login(world.member)
    body = text(client.get("/patients", query_string={"q": "odon", "team": world.team.id}))
    assert "55 patients" in body and "page 1 sur 2" in body
    assert f"/patients?page=2&amp;q=odon&amp;team={world.team.id}" in body.replace("&", "&amp;")


# --- break-the-glass offer ----------------------------------------------------------------------

OFFER = "Accès en urgence</button>"


def test_outsider_searching_by_ins_is_offered_break_the_glass(db, client, auth, world):
    auth.login(world.member)
    body = text(client.get("/patients", query_string={"q": world.elsewhere.ins_matricule}))
    assert "Aucun patient de votre cercle de soins" in body
    assert OFFER in body and "limité à" in body and "examinent" in body
    assert "Odette" not in body  # nothing said about who exists
    # An unknown INS gets the very same offer: the page reveals nothing.
    unknown = valid_nir("M", 1960, 1)
    other = text(client.get("/patients", query_string={"q": unknown}))
    assert OFFER in other
    # The CSRF token carries its signing time (it may change between the two pages).
    assert _without_csrf(other.replace(unknown, "X")) == _without_csrf(
        body.replace(world.elsewhere.ins_matricule, "X")
    )


def _without_csrf(page: str) -> str:
    return re.sub(
        r'(name="csrf_token"[^>]*value=")[^"]*|(name="csrf-token" content=")[^"]*', r"\1\2", page
    )


def test_outsider_searching_by_name_and_birth_date_reaches_the_reason_page(db, client, auth, world):
    auth.login(world.member)
    body = text(client.get("/patients", query_string={"q": "odette croquetin 02/01/1950"}))
    assert OFFER in body
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', body))
    form.pop("csrf_token", None)
    assert form == {"birth_name": "ODETTE CROQUETIN", "birth_date": "1950-01-02"}
    token = csrf_token(client, "/patients")
    reason = client.post("/break-glass", data={**form, "csrf_token": token})
    assert reason.status_code == 200
    page = text(reason)
    assert "Personne trouvée : <strong>CROQUETIN Odette" in page, page[page.find("<main") :][:1500]
    assert "Motif de l'urgence" in page


@pytest.mark.parametrize("typed", ["croquetin", "odette", "02/01/1950", "croquetin 01/1950"])
def test_search_by_name_or_date_alone_offers_nothing(db, client, auth, world, typed):
    auth.login(world.member)
    body = text(client.get("/patients", query_string={"q": typed}))
    assert OFFER not in body
    assert "02/01/1950" not in body.replace(typed, "")


def test_a_match_inside_the_circle_offers_nothing(db, client, auth, world):
    auth.login(world.member)
    body = text(client.get("/patients", query_string={"q": world.odette.ins_matricule}))
    assert "CROQUETIN Odette Marie" in body and OFFER not in body


def test_break_glass_name_must_be_a_whole_name_with_its_date(db, client, auth, world):
    auth.login(world.member)
    token = csrf_token(client, "/patients")
    for name in ("croq", "odette", "odette dupont"):
        data = {"birth_name": name, "birth_date": "1950-01-02", "csrf_token": token}
        response = client.post("/break-glass", data=data)
        assert response.status_code == 404, name
        assert "Personne trouvée" not in text(response)


def test_a_record_id_in_the_url_stays_a_plain_404(db, client, auth, world):
    auth.login(world.member)
    hidden = client.get(f"/patients/{world.elsewhere.id}")
    missing = client.get("/patients/999999")
    assert hidden.status_code == missing.status_code == 404
    assert text(hidden) == text(missing).replace("999999", str(world.elsewhere.id))
    assert "Accès en urgence</button>" not in text(hidden)
    # Not a dead end: the page points to the search, the same for both.
    assert 'href="/patients">Rechercher la personne</a>' in text(hidden)
