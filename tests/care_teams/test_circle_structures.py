"""Outside services of the circle (SSIAD, CCAS...): rules, authorisation, history, pages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import AuditContext
from ptap.care_teams import circle_structures as cs
from ptap.care_teams.circle_structures import StructureData
from ptap.care_teams.models import CircleInvitation, CircleStructure, Enrolment, Structure
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.extensions import db
from tests.conftest import AuthActions
from tests.factories import add_member, make_patient, make_team, make_user

SSIAD = "69000001" + luhn_check_digit("69000001")
CCAS = "69000002" + luhn_check_digit("69000002")
WRONG_KEY = SSIAD[:8] + str((int(SSIAD[8]) + 1) % 10)


def ctx(user) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@pytest.fixture
def world(db):
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="physician")
    invited = make_user(profession="physiotherapist")
    outsider = make_user(profession="physician")
    admin = make_user(role="admin")
    team, other_team = make_team(), make_team()
    add_member(team, coord, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider, "coordinator")
    patient = make_patient(team, coord)
    other_patient = make_patient(other_team, outsider)
    db.session.add(
        CircleInvitation(
            patient_id=patient.id,
            user_id=invited.id,
            invited_by_id=coord.id,
            expires_at=utcnow() + timedelta(days=10),
        )
    )
    db.session.commit()
    return {
        "coord": coord,
        "member": member,
        "invited": invited,
        "outsider": outsider,
        "admin": admin,
        "p": patient,
        "other": other_patient,
    }


def _add(world, who="coord", **over) -> CircleStructure:
    data = StructureData(**({"kind": "ssiad", "finess": SSIAD} | over))
    return cs.add_circle_structure(world[who], world["p"], data, ctx(world[who]))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finess", "name", "error"),
    [
        (SSIAD, "", None),
        (" ".join([SSIAD[:2], SSIAD[2:5], SSIAD[5:]]), "", None),  # typed with spaces
        ("", "Aide à domicile Les Tilleuls", None),
        (SSIAD, "SSIAD Croix-Rousse", None),
        (WRONG_KEY, "", "finess"),
        (WRONG_KEY, "SSIAD Croix-Rousse", "finess"),  # a wrong key is refused even with a name
        ("12345678", "", "finess"),  # 8 digits
        ("6900000a1", "", "finess"),
        ("6900000¹1", "", "finess"),  # not an ASCII digit
        ("", "", "name"),
        ("", "   ", "name"),
    ],
)
def test_finess_or_name_is_required_and_the_finess_key_checked(world, finess, name, error):
    data = StructureData(kind="ssiad", finess=finess, name=name)
    if error is None:
        row = cs.add_circle_structure(world["coord"], world["p"], data, ctx(world["coord"]))
        assert row.finess == (SSIAD if finess else None)
        assert row.started_on == clock.paris_today()
        return
    with pytest.raises(InvalidInput) as refused:
        cs.add_circle_structure(world["coord"], world["p"], data, ctx(world["coord"]))
    assert refused.value.field == error
    if error == "finess":
        assert "Numéro FINESS invalide" in refused.value.message


def test_unknown_kind_is_refused(world):
    with pytest.raises(InvalidInput) as refused:
        _add(world, kind="mairie")
    assert refused.value.field == "kind"


def test_a_known_finess_links_the_platform_structure(world):
    territory_id = db.session.scalar(sa.select(Structure.territory_id).limit(1))
    known = Structure(
        name="SSIAD Lyon Nord", kind="medico_social", finess=SSIAD, territory_id=territory_id
    )
    db.session.add(known)
    db.session.flush()
    row = _add(world)
    assert row.structure_id == known.id
    assert cs.list_circle_structures(world["p"].id)[0].label == "SSIAD Lyon Nord"
    assert cs.circle_structure_names(world["p"].id) == ["SSIAD Lyon Nord"]


# --- authorisation ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coord", "member", "invited"])
def test_coordinators_and_circle_members_may_add(world, who):
    assert _add(world, who=who).added_by_id == world[who].id


@pytest.mark.parametrize("who", ["outsider", "admin"])
def test_outsiders_and_admins_may_not_add(world, who):
    with pytest.raises(PermissionDenied):
        _add(world, who=who)


def test_another_teams_patient_is_refused(world):
    data = StructureData(kind="ccas", name="CCAS de Villeurbanne")
    with pytest.raises(PermissionDenied):
        cs.add_circle_structure(world["coord"], world["other"], data, ctx(world["coord"]))


def test_a_structure_of_another_circle_cannot_be_edited_through_this_one(world):
    row = _add(world)
    data = StructureData(kind="ccas", name="CCAS")
    with pytest.raises(Exception, match="introuvable"):
        cs.update_circle_structure(
            world["outsider"], world["other"], row, data, ctx(world["coord"])
        )


# --- uniqueness, history, audit ---------------------------------------------------------------


def test_the_same_finess_twice_running_is_refused_in_french(world):
    _add(world)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        _add(world, kind="had", name="Autre nom")
    assert refused.value.field == "finess"
    assert "intervient déjà" in refused.value.message
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(CircleStructure.id))) == 1


def test_a_racing_insert_is_stopped_by_the_unique_index(world):
    """Another request inserted the same FINESS between our reads: the index decides."""
    db.session.execute(
        sa.insert(CircleStructure).values(
            patient_id=world["p"].id,
            kind="ssiad",
            finess=SSIAD,
            name="",
            contact_person="",
            phone="",
            email="",
            address="",
            note="",
            started_on=date(2026, 1, 1),
            added_by_id=world["member"].id,
            created_at=utcnow(),
        )
    )
    db.session.commit()
    with pytest.raises(Conflict, match="intervient déjà"):
        _add(world)
    db.session.rollback()


def test_ending_keeps_history_and_frees_the_finess(world):
    first = _add(world, note="Passages matin et soir")
    db.session.commit()
    today = clock.paris_today()
    cs.end_circle_structure(world["member"], world["p"], first, today, ctx(world["member"]))
    again = _add(world, note="Reprise après hospitalisation")
    rows = cs.list_circle_structures(world["p"].id)
    assert [(r.id, r.ended_on) for r in rows] == [(again.id, None), (first.id, today)]
    assert rows[1].note == "Passages matin et soir"
    assert first.ended_by_id == world["member"].id
    assert cs.circle_structure_names(world["p"].id) == [f"Structure FINESS {SSIAD}"]


def test_ending_dates_are_checked(world):
    row = _add(world, started_on=clock.paris_today() - timedelta(days=3))
    with pytest.raises(InvalidInput, match="futur"):
        cs.end_circle_structure(
            world["coord"],
            world["p"],
            row,
            clock.paris_today() + timedelta(days=1),
            ctx(world["coord"]),
        )
    with pytest.raises(InvalidInput, match="précède"):
        cs.end_circle_structure(
            world["coord"],
            world["p"],
            row,
            clock.paris_today() - timedelta(days=4),
            ctx(world["coord"]),
        )
    cs.end_circle_structure(
        world["coord"], world["p"], row, clock.paris_today(), ctx(world["coord"])
    )
    with pytest.raises(Conflict):
        cs.end_circle_structure(
            world["coord"], world["p"], row, clock.paris_today(), ctx(world["coord"])
        )
    with pytest.raises(Conflict):
        cs.update_circle_structure(
            world["coord"],
            world["p"],
            row,
            StructureData(kind="ssiad", finess=SSIAD),
            ctx(world["coord"]),
        )


def test_add_update_end_are_audited(world):
    row = _add(world)
    same = StructureData(kind="ssiad", finess=SSIAD, started_on=row.started_on)
    cs.update_circle_structure(world["coord"], world["p"], row, same, ctx(world["coord"]))  # no-op
    changed = StructureData(kind="ssiad", finess=SSIAD, phone="04 65 71 00 00", note="Toilette")
    cs.update_circle_structure(world["coord"], world["p"], row, changed, ctx(world["coord"]))
    cs.end_circle_structure(
        world["coord"], world["p"], row, clock.paris_today(), ctx(world["coord"])
    )
    events = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.reason)
        .where(AuditEvent.object_type == "circle_structure", AuditEvent.object_id == str(row.id))
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == [
        "circle.structure_add",
        "circle.structure_update",
        "circle.structure_end",
    ]
    assert events[1].reason == "note, phone"
    assert row.started_on <= clock.paris_today()  # kept when the form sends none


# --- pages ------------------------------------------------------------------------------------


@pytest.fixture
def login(app):
    def _login(user) -> AuthActions:
        actions = AuthActions(app.test_client())
        actions.login(user)
        return actions

    return _login


FORM = {"kind": "ssiad", "finess": "", "name": "", "started_on": "2026-01-05"}


def test_circle_page_lists_running_and_ended_structures(world, login):
    _add(world, name="SSIAD Croix-Rousse", note="Passages matin et soir", phone="04 65 71 10 20")
    old = _add(world, kind="ccas", finess="", name="CCAS de Lyon 4e")
    cs.end_circle_structure(
        world["coord"], world["p"], old, clock.paris_today(), ctx(world["coord"])
    )
    db.session.commit()
    page = login(world["member"]).client.get(f"/patients/{world['p'].id}/circle")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "SSIAD Croix-Rousse" in text and "Passages matin et soir" in text
    assert f"FINESS {SSIAD}" in text and "04 65 71 10 20" in text
    assert "Interventions terminées (1)" in text and "CCAS de Lyon 4e" in text
    assert "Ajouter une structure ou un service" in text
    assert "Modifier ou mettre fin" in text
    record = login(world["member"]).client.get(f"/patients/{world['p'].id}")
    assert "Intervenants et services" in record.get_data(as_text=True)
    assert "SSIAD Croix-Rousse" in record.get_data(as_text=True)


def test_adding_through_the_page_redirects_to_the_list(world, login):
    auth = login(world["invited"])
    data = FORM | {"finess": SSIAD, "name": "SSIAD Croix-Rousse", "note": "Toilette"}
    response = auth.post(f"/patients/{world['p'].id}/circle/structures", data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/circle#structures")
    assert cs.circle_structure_names(world["p"].id) == ["SSIAD Croix-Rousse"]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"finess": WRONG_KEY, "name": "SSIAD Croix-Rousse"}, "Numéro FINESS invalide"),
        ({"contact_person": "Mme Garnier"}, "Indiquez le numéro FINESS ou le nom"),
    ],
)
def test_errors_are_french_and_keep_what_was_typed(world, login, typed, message):
    auth = login(world["coord"])
    data = FORM | {"note": "Passages matin et soir"} | typed
    response = auth.post(f"/patients/{world['p'].id}/circle/structures", data)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in text
    assert "Passages matin et soir</textarea>" in text
    for value in typed.values():
        assert f'value="{value}"' in text
    assert db.session.scalar(sa.select(sa.func.count(CircleStructure.id))) == 0


def test_duplicate_through_the_page_is_a_french_error(world, login):
    _add(world)
    db.session.commit()
    auth = login(world["coord"])
    response = auth.post(f"/patients/{world['p'].id}/circle/structures", FORM | {"finess": SSIAD})
    assert response.status_code == 422
    assert "intervient déjà" in response.get_data(as_text=True)


def test_edit_and_end_through_the_pages(world, login):
    row = _add(world, name="SSIAD Croix-Rousse")
    db.session.commit()
    auth = login(world["member"])
    url = f"/patients/{world['p'].id}/circle/structures/{row.id}"
    page = auth.client.get(url)
    assert page.status_code == 200 and 'value="SSIAD Croix-Rousse"' in page.get_data(as_text=True)
    data = FORM | {"finess": SSIAD, "name": "SSIAD Croix-Rousse", "phone": "04 65 71 00 01"}
    assert auth.post(url, data).status_code == 302
    db.session.refresh(row)
    assert row.phone == "04 65 71 00 01"
    bad = auth.post(url + "/end", {"ended_on": "2025-01-01"})
    assert bad.status_code == 422 and "précède" in bad.get_data(as_text=True)
    ended = auth.post(url + "/end", {"ended_on": clock.paris_today().isoformat()})
    assert ended.status_code == 302
    db.session.refresh(row)
    assert row.ended_on == clock.paris_today()


@pytest.mark.parametrize("who", ["outsider", "admin"])
def test_strangers_cannot_use_the_pages(world, login, who):
    row = _add(world)
    db.session.commit()
    auth = login(world[who])
    base = f"/patients/{world['p'].id}/circle/structures"
    assert auth.post(base, FORM | {"name": "X"}).status_code in (403, 404)
    assert auth.client.get(f"{base}/{row.id}").status_code in (403, 404)
    assert auth.post(f"{base}/{row.id}/end", {"ended_on": "2026-01-06"}).status_code in (403, 404)
    db.session.refresh(row)
    assert row.ended_on is None
    assert db.session.scalar(sa.select(sa.func.count(CircleStructure.id))) == 1


def test_a_structure_id_of_another_circle_is_not_found(world, login):
    other = cs.add_circle_structure(
        world["outsider"],
        world["other"],
        StructureData(kind="ccas", name="CCAS"),
        ctx(world["outsider"]),
    )
    db.session.commit()
    auth = login(world["coord"])
    response = auth.client.get(f"/patients/{world['p'].id}/circle/structures/{other.id}")
    assert response.status_code == 404


# --- demo -------------------------------------------------------------------------------------


def test_demo_adds_structures_with_valid_finess_once(world):
    from ptap.care_teams.demo_structures import load_circle_structures_demo
    from ptap.core.identifiers import is_valid_finess

    team_ids = list(
        db.session.scalars(
            sa.select(Enrolment.team_id).where(Enrolment.patient_id == world["p"].id)
        )
    )
    added = load_circle_structures_demo(team_ids)
    rows = db.session.scalars(sa.select(CircleStructure)).all()
    assert added == len(rows) >= 3
    assert {r.kind for r in rows} >= {"ssiad", "saad", "ccas"}
    assert all(is_valid_finess(r.finess) for r in rows if r.finess)
    assert load_circle_structures_demo(team_ids) == 0
    assert len(db.session.scalars(sa.select(CircleStructure)).all()) == len(rows)
