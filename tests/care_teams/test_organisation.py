"""Managing the organisation: FINESS and INSEE codes, pages, memberships, API, access."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts import services as account_services
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_teams import organisation
from ptap.care_teams.access import AccessBasis, access_basis
from ptap.care_teams.models import (
    CareTeam,
    MembershipProposal,
    Structure,
    TeamMembership,
    Territory,
)
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.identifiers import is_valid_finess, luhn_check_digit
from tests.conftest import csrf_token
from tests.factories import add_member, make_patient, make_team, make_user

TODAY = clock.paris_today()


def finess(body8: str) -> str:
    return body8 + luhn_check_digit(body8)


def wrong_key(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _headers(user):
    _, plaintext = account_services.create_api_token(
        user, "t", ["api:read", "api:write"], 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}


def _actions(db, action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


@pytest.fixture
def admin(db):
    return make_user(role="admin", profession="administrative")


@pytest.fixture
def territory(db):
    territory = Territory(name="Rhône", region_code="84", department_code="69")
    db.session.add(territory)
    db.session.flush()
    return territory


@pytest.fixture
def world(db):
    """Team A with a coordinator and a member, team B with its own coordinator."""
    team_a, team_b = make_team("Équipe A"), make_team("Équipe B")
    coord_a = make_user(role="coordinator", profession="nurse")
    coord_b = make_user(role="coordinator", profession="nurse")
    member_a = make_user(profession="physician")
    add_member(team_a, coord_a, "coordinator")
    add_member(team_a, member_a)
    add_member(team_b, coord_b, "coordinator")
    newcomer = make_user(profession="physiotherapist")
    return {
        "team_a": team_a,
        "team_b": team_b,
        "coord_a": coord_a,
        "coord_b": coord_b,
        "member_a": member_a,
        "newcomer": newcomer,
    }


def _membership(db, team, user):
    return db.session.scalar(
        sa.select(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user.id
        )
    )


# --- FINESS and INSEE codes ------------------------------------------------------------------


def test_is_valid_finess_checks_length_digits_and_luhn_key():
    good = finess("69078181")
    assert is_valid_finess(good)
    assert not is_valid_finess(wrong_key(good))
    assert not is_valid_finess(good[:8])
    assert not is_valid_finess("2A0000001")
    assert not is_valid_finess("6907818¹0")


def test_create_structure_accepts_a_valid_finess_typed_with_spaces(db, admin, territory):
    number = finess("69078181")
    typed = f"{number[:2]} {number[2:5]} {number[5:]}"
    structure = organisation.create_structure(
        admin, " DAC  Rhône ", "dac", typed, territory, SYSTEM
    )
    assert (structure.name, structure.finess, structure.territory_id) == (
        "DAC Rhône",
        number,
        territory.id,
    )
    assert len(_actions(db, "org.structure_create")) == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(wrong_key(finess("69078181")), id="wrong-key"),
        pytest.param("69078181", id="8-digits"),
        pytest.param("69078181A", id="letter"),
    ],
)
def test_create_structure_refuses_an_invalid_finess(db, admin, territory, value):
    assert not is_valid_finess(value)
    with pytest.raises(InvalidInput) as exc:
        organisation.create_structure(admin, "DAC", "dac", value, territory, SYSTEM)
    assert exc.value.field == "finess"


def test_create_structure_without_finess_and_unknown_kind(db, admin, territory):
    assert (
        organisation.create_structure(admin, "CPTS", "cpts", "", territory, SYSTEM).finess is None
    )
    with pytest.raises(InvalidInput) as exc:
        organisation.create_structure(admin, "X", "clinic", None, territory, SYSTEM)
    assert exc.value.field == "kind"


def test_duplicate_finess_is_a_conflict(db, admin, territory):
    number = finess("69078182")
    organisation.create_structure(admin, "DAC", "dac", number, territory, SYSTEM)
    with pytest.raises(Conflict) as exc:
        organisation.create_structure(admin, "Autre", "msp", number, territory, SYSTEM)
    assert exc.value.field == "finess"
    assert exc.value.status == 409


@pytest.mark.parametrize(
    ("code", "stored"), [("69", "69"), ("2A", "2A"), ("2b", "2B"), ("974", "974"), ("01", "01")]
)
def test_department_codes_accepted(db, admin, code, stored):
    territory = organisation.create_territory(admin, "Territoire", "84", code, SYSTEM)
    assert territory.department_code == stored


@pytest.mark.parametrize("code", ["2C", "20", "975", "96", "00", "6", "", "691"])
def test_department_codes_refused(db, admin, code):
    with pytest.raises(InvalidInput) as exc:
        organisation.create_territory(admin, "Territoire", "84", code, SYSTEM)
    assert exc.value.field == "department_code"


@pytest.mark.parametrize("code", ["8", "844", "8A", ""])
def test_region_code_must_be_two_digits(db, admin, code):
    with pytest.raises(InvalidInput) as exc:
        organisation.create_territory(admin, "Territoire", code, "69", SYSTEM)
    assert exc.value.field == "region_code"


def test_only_admins_create_territories_structures_and_teams(db, world, territory):
    structure = Structure(name="DAC", kind="dac", territory=territory)
    db.session.add(structure)
    db.session.flush()
    for user in (world["coord_a"], world["member_a"]):
        with pytest.raises(PermissionDenied):
            organisation.create_territory(user, "T", "84", "69", SYSTEM)
        with pytest.raises(PermissionDenied):
            organisation.create_structure(user, "S", "dac", None, territory, SYSTEM)
        with pytest.raises(PermissionDenied):
            organisation.create_team(user, "E", structure, SYSTEM)


# --- the organisation page -------------------------------------------------------------------


def _post_org(client, form, **fields):
    """Post one of the page's prefixed forms (its CSRF field carries the prefix too)."""
    data = {f"{form}-{name}": value for name, value in fields.items()}
    data |= {"form": form, f"{form}-csrf_token": csrf_token(client, "/account")}
    return client.post("/admin/organisation", data=data)


def test_admin_creates_territory_structure_and_team_through_the_page(client, auth, db, admin):
    auth.login(admin)
    assert client.get("/admin/organisation").status_code == 200

    response = _post_org(
        client, "territory", name="Rhône Nord", region_code="84", department_code="69"
    )
    assert response.status_code == 302
    territory = db.session.scalar(sa.select(Territory).where(Territory.name == "Rhône Nord"))
    assert territory is not None

    number = finess("69012345")
    response = _post_org(
        client,
        "structure",
        name="MSP Caluire",
        kind="msp",
        finess=number,
        territory_id=territory.id,
    )
    assert response.status_code == 302
    structure = db.session.scalar(sa.select(Structure).where(Structure.finess == number))
    assert structure is not None and structure.territory_id == territory.id

    response = _post_org(client, "team", name="Équipe Caluire", structure_id=structure.id)
    assert response.status_code == 302
    team = db.session.scalar(sa.select(CareTeam).where(CareTeam.name == "Équipe Caluire"))
    assert (team.structure_id, team.territory_id, team.active) == (structure.id, territory.id, True)

    for action, obj in (
        ("org.territory_create", territory),
        ("org.structure_create", structure),
        ("org.team_create", team),
    ):
        [event] = _actions(db, action)
        assert (event.actor_id, event.object_id, event.patient_id) == (admin.id, str(obj.id), None)

    page = client.get("/admin/organisation").get_data(as_text=True)
    assert "Maison de santé pluriprofessionnelle (MSP)" in page
    assert number in page and "Équipe Caluire" in page


def test_page_shows_french_errors_and_keeps_typed_values(client, auth, db, admin, territory):
    auth.login(admin)
    response = _post_org(client, "territory", name="Corse", region_code="94", department_code="2C")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Code département INSEE : 01 à 95, 2A, 2B" in page
    assert 'value="Corse"' in page and 'value="2C"' in page
    assert 'href="#territory-department_code"' in page

    bad = wrong_key(finess("69012345"))
    response = _post_org(
        client, "structure", name="MSP", kind="msp", finess=bad, territory_id=territory.id
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Numéro FINESS invalide" in page and f'value="{bad}"' in page
    assert db.session.scalar(sa.select(sa.func.count(Structure.id))) == 0


def test_page_duplicate_finess_is_shown_on_the_field(client, auth, db, admin, territory):
    number = finess("69012346")
    organisation.create_structure(admin, "DAC", "dac", number, territory, SYSTEM)
    auth.login(admin)
    response = _post_org(
        client, "structure", name="Autre", kind="dac", finess=number, territory_id=territory.id
    )
    assert response.status_code == 422
    assert "Ce numéro FINESS est déjà enregistré." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "profession"),
    [("professional", "physician"), ("ars_analyst", "public_health"), ("coordinator", "nurse")],
)
def test_organisation_page_is_for_admins_only(client, auth, db, role, profession):
    user = make_user(role=role, profession=profession)
    auth.login(user)
    assert client.get("/admin/organisation").status_code == 403
    assert (
        _post_org(client, "territory", name="T", region_code="84", department_code="69").status_code
        == 403
    )
    assert 'href="/admin/organisation"' not in client.get("/account").get_data(as_text=True)


def test_admin_sees_the_organisation_link(client, auth, db, admin):
    auth.login(admin)
    assert 'href="/admin/organisation"' in client.get("/account").get_data(as_text=True)


# --- memberships: rules ----------------------------------------------------------------------


def test_coordinator_adds_a_member_to_own_team_only(db, world):
    membership = organisation.add_member(
        world["coord_a"], world["team_a"], world["newcomer"], "member", TODAY, None, SYSTEM
    )
    assert membership.team_id == world["team_a"].id
    [event] = _actions(db, "team.member_add")
    assert (event.object_type, event.object_id, event.patient_id) == (
        "team_membership",
        str(membership.id),
        None,
    )
    with pytest.raises(PermissionDenied):
        organisation.add_member(
            world["coord_a"], world["team_b"], world["newcomer"], "member", TODAY, None, SYSTEM
        )
    with pytest.raises(PermissionDenied):
        organisation.add_member(
            world["member_a"], world["team_a"], make_user(), "member", TODAY, None, SYSTEM
        )


@pytest.mark.parametrize(
    ("role", "profession"), [("admin", "administrative"), ("ars_analyst", "public_health")]
)
def test_non_clinicians_cannot_be_members(db, admin, world, role, profession):
    outsider = make_user(role=role, profession=profession)
    with pytest.raises(InvalidInput) as exc:
        organisation.add_member(
            world["coord_a"], world["team_a"], outsider, "member", TODAY, None, SYSTEM
        )
    assert exc.value.field == "user_id"
    with pytest.raises(InvalidInput) as exc:
        organisation.propose_member(admin, world["team_a"], outsider, "member", TODAY, None, SYSTEM)
    assert exc.value.field == "user_id"


def test_deactivated_accounts_cannot_be_members(db, admin, world):
    gone = make_user(active=False)
    with pytest.raises(InvalidInput) as exc:
        organisation.add_member(
            world["coord_a"], world["team_a"], gone, "member", TODAY, None, SYSTEM
        )
    assert exc.value.field == "user_id"


def test_team_coordinator_role_needs_the_coordinator_platform_role(db, world):
    with pytest.raises(InvalidInput) as exc:
        organisation.add_member(
            world["coord_a"], world["team_a"], world["newcomer"], "coordinator", TODAY, None, SYSTEM
        )
    assert exc.value.field == "role"
    other_coordinator = make_user(role="coordinator", profession="social_worker")
    membership = organisation.add_member(
        world["coord_a"], world["team_a"], other_coordinator, "coordinator", TODAY, None, SYSTEM
    )
    assert membership.role == "coordinator"


def test_end_before_start_is_refused(db, world):
    with pytest.raises(InvalidInput) as exc:
        organisation.add_member(
            world["coord_a"], world["team_a"], world["newcomer"], "member",
            TODAY, TODAY - timedelta(days=1), SYSTEM,
        )  # fmt: skip
    assert exc.value.field == "ends_on"


def test_overlapping_membership_is_a_conflict(db, world):
    coord, team, user = world["coord_a"], world["team_a"], world["newcomer"]
    organisation.add_member(coord, team, user, "member", TODAY, TODAY + timedelta(days=30), SYSTEM)
    with pytest.raises(Conflict) as exc:
        organisation.add_member(
            coord, team, user, "member", TODAY + timedelta(days=30), None, SYSTEM
        )
    assert exc.value.field == "user_id"
    with pytest.raises(Conflict):
        organisation.add_member(
            coord, team, user, "member", TODAY - timedelta(days=10), TODAY, SYSTEM
        )
    # The day after the first one ends does not overlap; the same user in another team neither.
    organisation.add_member(coord, team, user, "member", TODAY + timedelta(days=31), None, SYSTEM)
    organisation.add_member(world["coord_b"], world["team_b"], user, "member", TODAY, None, SYSTEM)


def test_inactive_team_takes_no_new_members(db, admin, world):
    world["team_a"].active = False
    with pytest.raises(Conflict):
        organisation.add_member(
            world["coord_a"], world["team_a"], world["newcomer"], "member", TODAY, None, SYSTEM
        )
    with pytest.raises(Conflict):
        organisation.propose_member(
            admin, world["team_a"], world["newcomer"], "member", TODAY, None, SYSTEM
        )


def test_ending_a_membership_removes_access_to_the_team_patients_now(db, world):
    patient = make_patient(world["team_a"], world["coord_a"])
    member = world["member_a"]
    assert access_basis(member.id, patient) == AccessBasis.MEMBER
    membership = _membership(db, world["team_a"], member)
    organisation.end_membership(world["coord_a"], membership, TODAY - timedelta(days=1), SYSTEM)
    assert access_basis(member.id, patient) is None
    assert membership.ends_on == TODAY - timedelta(days=1)
    [event] = _actions(db, "team.member_end")
    assert (event.object_id, event.patient_id) == (str(membership.id), None)
    with pytest.raises(Conflict):  # already over
        organisation.end_membership(world["coord_a"], membership, TODAY, SYSTEM)


def test_ending_an_upcoming_membership_cancels_it(db, world):
    later = TODAY + timedelta(days=10)
    membership = organisation.add_member(
        world["coord_a"], world["team_a"], world["newcomer"], "member", later, None, SYSTEM
    )
    organisation.end_membership(world["coord_a"], membership, TODAY - timedelta(days=1), SYSTEM)
    assert membership.ends_on == later - timedelta(days=1)


def test_end_membership_cannot_be_backdated(db, world):
    membership = _membership(db, world["team_a"], world["member_a"])
    with pytest.raises(InvalidInput) as exc:
        organisation.end_membership(world["coord_a"], membership, TODAY - timedelta(days=2), SYSTEM)
    assert exc.value.field == "ends_on"


def test_coordinator_cannot_end_the_last_coordinator(db, admin, world):
    own = _membership(db, world["team_a"], world["coord_a"])
    yesterday = TODAY - timedelta(days=1)
    with pytest.raises(Conflict):
        organisation.end_membership(world["coord_a"], own, yesterday, SYSTEM)
    assert own.ends_on is None
    # With a second coordinator, they may leave.
    second = make_user(role="coordinator", profession="nurse")
    organisation.add_member(
        world["coord_a"], world["team_a"], second, "coordinator", TODAY, None, SYSTEM
    )
    organisation.end_membership(world["coord_a"], own, yesterday, SYSTEM)
    assert own.ends_on == yesterday
    # An administrator may end the last one (closing a team, for instance).
    organisation.end_membership(admin, _membership(db, world["team_a"], second), yesterday, SYSTEM)


def test_coordinator_cannot_end_memberships_of_another_team(db, world):
    other = _membership(db, world["team_b"], world["coord_b"])
    with pytest.raises(PermissionDenied):
        organisation.end_membership(world["coord_a"], other, TODAY - timedelta(days=1), SYSTEM)


# --- memberships: four-eyes for administrators -----------------------------------------------


def _notified(db, user, kind):
    from ptap.accounts.notifications import Notification

    return db.session.scalars(
        sa.select(Notification.title).where(
            Notification.user_id == user.id, Notification.kind == kind
        )
    ).all()


def test_admin_alone_cannot_add_anyone_to_a_team(db, admin, world):
    # The scenario of the review: the admin creates a professional account they control.
    puppet = make_user(profession="physician")
    patient = make_patient(world["team_a"], world["coord_a"])
    for who in (puppet, world["newcomer"]):
        with pytest.raises(PermissionDenied):
            organisation.add_member(admin, world["team_a"], who, "member", TODAY, None, SYSTEM)
    proposal = organisation.propose_member(
        admin, world["team_a"], puppet, "member", TODAY, None, SYSTEM
    )
    assert _membership(db, world["team_a"], puppet) is None
    assert access_basis(puppet.id, patient) is None
    # The proposer cannot approve, nor can the person proposed.
    with pytest.raises(PermissionDenied):
        organisation.approve_member(admin, proposal, SYSTEM)
    with pytest.raises(PermissionDenied):
        organisation.approve_member(puppet, proposal, SYSTEM)
    # A coordinator of another team neither.
    with pytest.raises(PermissionDenied):
        organisation.approve_member(world["coord_b"], proposal, SYSTEM)
    assert proposal.status == "pending"
    assert access_basis(puppet.id, patient) is None
    [event] = _actions(db, "team.member_propose")
    assert event.object_id == str(proposal.id)


def test_coordinator_approves_an_admin_proposal_and_access_opens(db, admin, world):
    patient = make_patient(world["team_a"], world["coord_a"])
    newcomer = world["newcomer"]
    proposal = organisation.propose_member(
        admin, world["team_a"], newcomer, "member", TODAY, None, SYSTEM
    )
    [title] = _notified(db, world["coord_a"], "team_member_proposed")
    assert "à approuver" in title and newcomer.full_name in title
    assert _notified(db, world["coord_b"], "team_member_proposed") == []
    with pytest.raises(Conflict):  # one pending proposal per person and team
        organisation.propose_member(admin, world["team_a"], newcomer, "member", TODAY, None, SYSTEM)
    membership = organisation.approve_member(world["coord_a"], proposal, SYSTEM)
    assert (proposal.status, proposal.decided_by_id) == ("approved", world["coord_a"].id)
    assert proposal.membership_id == membership.id
    assert access_basis(newcomer.id, patient) == AccessBasis.MEMBER
    assert [e.object_id for e in _actions(db, "team.member_approve")] == [str(proposal.id)]
    assert len(_actions(db, "team.member_add")) == 1
    assert _notified(db, admin, "team_member_added")
    with pytest.raises(Conflict):  # already decided
        organisation.approve_member(make_user(role="admin", profession=""), proposal, SYSTEM)


def test_another_admin_may_approve_and_a_rejection_opens_nothing(db, admin, world):
    second_admin = make_user(role="admin", profession="administrative")
    first = organisation.propose_member(
        admin, world["team_a"], world["newcomer"], "member", TODAY, None, SYSTEM
    )
    organisation.approve_member(second_admin, first, SYSTEM)
    assert _membership(db, world["team_a"], world["newcomer"]) is not None
    other = make_user(profession="nurse")
    refused = organisation.propose_member(
        admin, world["team_b"], other, "member", TODAY, None, SYSTEM
    )
    organisation.reject_member(world["coord_b"], refused, SYSTEM)
    assert refused.status == "rejected"
    assert _membership(db, world["team_b"], other) is None
    assert len(_actions(db, "team.member_reject")) == 1


def test_proposal_for_a_team_without_coordinator_goes_to_the_other_admins(db, admin):
    team = make_team("Équipe neuve")
    second_admin = make_user(role="admin", profession="administrative")
    coordinator = make_user(role="coordinator", profession="nurse")
    organisation.propose_member(admin, team, coordinator, "coordinator", TODAY, None, SYSTEM)
    assert _notified(db, second_admin, "team_member_proposed")
    assert _notified(db, admin, "team_member_proposed") == []


def test_direct_addition_tells_the_other_coordinators(db, world):
    second = make_user(role="coordinator", profession="nurse")
    add_member(world["team_a"], second, "coordinator")
    organisation.add_member(
        world["coord_a"], world["team_a"], world["newcomer"], "member", TODAY, None, SYSTEM
    )
    assert _notified(db, second, "team_member_added")
    assert _notified(db, world["coord_a"], "team_member_added") == []


def test_admin_proposes_through_the_page_and_coordinator_approves(client, auth, db, admin, world):
    auth.login(admin)
    page = client.get(f"/teams/{world['team_a'].id}").get_data(as_text=True)
    assert "Proposer un membre" in page and "Proposer l'ajout" in page
    response = _add_form(client, world["team_a"], world["newcomer"])
    assert response.status_code == 302
    assert _membership(db, world["team_a"], world["newcomer"]) is None
    page = client.get(f"/teams/{world['team_a'].id}").get_data(as_text=True)
    assert "Ajouts proposés, en attente d" in page
    assert "En attente d'une autre personne" in page  # the proposer gets no button
    [proposal_id] = db.session.scalars(sa.select(MembershipProposal.id)).all()
    refused = auth.post(f"/teams/{world['team_a'].id}/proposals/{proposal_id}/approve")
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    auth.login(world["coord_a"])
    page = client.get(f"/teams/{world['team_a'].id}").get_data(as_text=True)
    assert "Approuver" in page
    response = auth.post(f"/teams/{world['team_a'].id}/proposals/{proposal_id}/approve")
    assert response.status_code == 302
    assert _membership(db, world["team_a"], world["newcomer"]) is not None


def test_api_admin_cannot_add_a_member(client, db, admin, world):
    body = {"user_id": world["newcomer"].id, "role": "member", "starts_on": TODAY.isoformat()}
    response = client.post(
        f"/api/v1/teams/{world['team_a'].id}/members", json=body, headers=_headers(admin)
    )
    assert response.status_code == 403
    assert _membership(db, world["team_a"], world["newcomer"]) is None


# --- memberships: team page ------------------------------------------------------------------


def _add_form(client, team, user, role="member", starts_on=None, ends_on=""):
    return client.post(
        f"/teams/{team.id}/members",
        data={
            "user_id": user.id,
            "role": role,
            "starts_on": (starts_on or TODAY).isoformat(),
            "ends_on": ends_on,
            "csrf_token": csrf_token(client, "/account"),
        },
    )


def test_team_page_shows_the_member_form_to_the_team_coordinator(client, auth, db, world):
    auth.login(world["coord_a"])
    page = client.get(f"/teams/{world['team_a'].id}").get_data(as_text=True)
    assert "Ajouter un membre" in page
    # An accessible autocompletion, not a list of every clinician in the page.
    assert 'role="combobox"' in page and 'aria-autocomplete="list"' in page
    assert 'data-autocomplete-url="/api/v1/professionals"' in page
    assert "<option" not in page.split("Ajouter un membre", 1)[1].split('name="role"', 1)[0]
    assert world["newcomer"].last_name not in page
    assert f'value="{TODAY.isoformat()}"' in page
    assert "Mettre fin" in page


def test_professional_autocompletion_is_bounded_and_policy_guarded(client, db, world):
    for n in range(25):
        make_user(profession="nurse", last_name=f"Martin{n:02d}")
    make_user(profession="nurse", last_name="Martinez", active=False)
    make_user(role="ars_analyst", profession="public_health", last_name="Martineau")
    headers = _headers(world["coord_a"])
    response = client.get("/api/v1/professionals?q=mart", headers=headers)
    assert response.status_code == 200
    items = response.json["items"]
    assert len(items) == 20  # the limit, never the whole directory
    assert all(" · " in item["label"] and item["label"].startswith("Martin") for item in items)
    labels = [item["label"] for item in items]
    assert not any(label.startswith(("Martinez", "Martineau")) for label in labels)
    assert client.get("/api/v1/professionals?q=m", headers=headers).json["items"] == []
    full = client.get(
        f"/api/v1/professionals?q={world['newcomer'].first_name}+{world['newcomer'].last_name}",
        headers=headers,
    ).json["items"]
    assert [item["id"] for item in full] == [world["newcomer"].id]
    analyst = make_user(role="ars_analyst", profession="public_health")
    assert client.get("/api/v1/professionals?q=mart", headers=_headers(analyst)).status_code == 403


def test_member_form_without_javascript_resolves_the_typed_name(client, auth, db, world):
    twin_a = make_user(profession="nurse", last_name="Dupont", first_name="Anne")
    twin_b = make_user(profession="nurse", last_name="Dupont", first_name="Alice")
    auth.login(world["coord_a"])
    url = f"/teams/{world['team_a'].id}/members"
    data = {"role": "member", "starts_on": TODAY.isoformat(), "user_id": ""}
    several = auth.post(url, data | {"person": "dupont"})
    assert several.status_code == 422
    page = several.get_data(as_text=True)
    assert "Plusieurs professionnels correspondent" in page
    assert f'name="user_id_choice" id="user_id-choice-{twin_a.id}"' in page
    assert f'value="{twin_b.id}"' in page
    none = auth.post(url, data | {"person": "zzz"})
    assert none.status_code == 422
    assert "Aucun professionnel actif ne correspond" in none.get_data(as_text=True)
    chosen = auth.post(url, data | {"person": "dupont", "user_id_choice": str(twin_b.id)})
    assert chosen.status_code == 302
    assert _membership(db, world["team_a"], twin_b) is not None
    single = auth.post(url, data | {"person": "dupont anne"})
    assert single.status_code == 302
    assert _membership(db, world["team_a"], twin_a) is not None


def test_team_page_has_no_member_form_for_a_plain_member(client, auth, db, world):
    auth.login(world["member_a"])
    page = client.get(f"/teams/{world['team_a'].id}").get_data(as_text=True)
    assert "Ajouter un membre" not in page and "Mettre fin" not in page


def test_coordinator_adds_a_member_through_the_page(client, auth, db, world):
    auth.login(world["coord_a"])
    response = _add_form(client, world["team_a"], world["newcomer"])
    assert response.status_code == 302
    assert _membership(db, world["team_a"], world["newcomer"]) is not None
    assert len(_actions(db, "team.member_add")) == 1
    assert _add_form(client, world["team_b"], make_user()).status_code == 403


def test_page_errors_stay_on_the_form(client, auth, db, world):
    analyst = make_user(role="ars_analyst", profession="public_health")
    auth.login(world["coord_a"])
    response = _add_form(client, world["team_a"], analyst)
    assert response.status_code == 422
    assert "Seul un professionnel ou un coordinateur de parcours actif" in response.get_data(
        as_text=True
    )
    response = _add_form(client, world["team_a"], world["newcomer"], role="coordinator")
    assert response.status_code == 422
    assert "réservé aux comptes de coordinateur" in response.get_data(as_text=True)


def test_plain_member_cannot_add_members(client, auth, db, world):
    auth.login(world["member_a"])
    assert _add_form(client, world["team_a"], world["newcomer"]).status_code == 403
    assert _membership(db, world["team_a"], world["newcomer"]) is None


def test_ending_through_the_page_cuts_access(client, auth, db, world):
    patient = make_patient(world["team_a"], world["coord_a"])
    membership = _membership(db, world["team_a"], world["member_a"])
    auth.login(world["coord_a"])
    response = auth.post(f"/teams/{world['team_a'].id}/members/{membership.id}/end")
    assert response.status_code == 302
    assert access_basis(world["member_a"].id, patient) is None
    # Refused on another team's membership, and on the last coordinator (message, no change).
    other = _membership(db, world["team_b"], world["coord_b"])
    assert auth.post(f"/teams/{world['team_b'].id}/members/{other.id}/end").status_code == 403
    own = _membership(db, world["team_a"], world["coord_a"])
    assert auth.post(f"/teams/{world['team_a'].id}/members/{own.id}/end").status_code == 302
    response = client.get(f"/teams/{world['team_a'].id}")
    assert "dernier coordinateur" in response.get_data(as_text=True)
    assert _membership(db, world["team_a"], world["coord_a"]).ends_on is None


def test_end_url_must_match_the_team(client, auth, db, world):
    membership = _membership(db, world["team_a"], world["member_a"])
    auth.login(world["coord_b"])
    assert auth.post(f"/teams/{world['team_b'].id}/members/{membership.id}/end").status_code == 404


# --- API -------------------------------------------------------------------------------------


def test_api_admin_creates_a_team(client, db, admin, territory):
    structure = organisation.create_structure(admin, "DAC", "dac", None, territory, SYSTEM)
    response = client.post(
        "/api/v1/teams",
        json={"name": "Équipe API", "structure_id": structure.id},
        headers=_headers(admin),
    )
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Équipe API" and body["my_role"] is None
    assert body["structure"]["id"] == structure.id
    assert body["territory"]["department_code"] == "69"
    missing = client.post(
        "/api/v1/teams", json={"name": "X", "structure_id": 999}, headers=_headers(admin)
    )
    assert (missing.status_code, missing.json["field"]) == (422, "structure_id")


def test_api_create_team_is_for_admins(client, db, world):
    response = client.post(
        "/api/v1/teams",
        json={"name": "X", "structure_id": world["team_a"].structure_id},
        headers=_headers(world["coord_a"]),
    )
    assert response.status_code == 403


def test_api_coordinator_adds_a_member_to_own_team_only(client, db, world):
    headers = _headers(world["coord_a"])
    body = {"user_id": world["newcomer"].id, "role": "member", "starts_on": TODAY.isoformat()}
    response = client.post(
        f"/api/v1/teams/{world['team_a'].id}/members", json=body, headers=headers
    )
    assert response.status_code == 201
    assert response.json["team_id"] == world["team_a"].id
    assert response.json["user"]["id"] == world["newcomer"].id
    assert response.json["ends_on"] is None
    again = client.post(f"/api/v1/teams/{world['team_a'].id}/members", json=body, headers=headers)
    assert (again.status_code, again.json["field"]) == (409, "user_id")
    other = client.post(f"/api/v1/teams/{world['team_b'].id}/members", json=body, headers=headers)
    assert other.status_code == 403
    member = client.post(
        f"/api/v1/teams/{world['team_a'].id}/members",
        json=body | {"user_id": make_user().id},
        headers=_headers(world["member_a"]),
    )
    assert member.status_code == 403


def test_api_member_errors_name_the_field(client, db, world):
    headers = _headers(world["coord_a"])
    url = f"/api/v1/teams/{world['team_a'].id}/members"
    analyst = make_user(role="ars_analyst", profession="public_health")
    refused = client.post(
        url,
        json={"user_id": analyst.id, "role": "member", "starts_on": TODAY.isoformat()},
        headers=headers,
    )
    assert (refused.status_code, refused.json["field"]) == (422, "user_id")
    backwards = client.post(
        url,
        json={
            "user_id": world["newcomer"].id,
            "role": "member",
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY - timedelta(days=1)).isoformat(),
        },
        headers=headers,
    )
    assert (backwards.status_code, backwards.json["field"]) == (422, "ends_on")
    bad_role = client.post(
        url,
        json={"user_id": world["newcomer"].id, "role": "chief", "starts_on": TODAY.isoformat()},
        headers=headers,
    )
    assert (bad_role.status_code, bad_role.json["field"]) == (422, "role")
    assert (
        client.post(
            "/api/v1/teams/999/members",
            json={
                "user_id": world["newcomer"].id,
                "role": "member",
                "starts_on": TODAY.isoformat(),
            },
            headers=headers,
        ).status_code
        == 404
    )
