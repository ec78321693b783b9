"""Need-to-know: every access path, for each role, through the three ways the code asks.

For each case the basis (`access.access_basis`), the policy (`patient.read`) and the list
(`visible_patient_ids`, and the patient list query built on it) must agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_plans.models import CarePlan, PlanStatus
from ptap.care_teams import access, circle, queries, services
from ptap.care_teams.access import AccessBasis
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    Enrolment,
    Patient,
)
from ptap.core import clock
from ptap.core.errors import InvalidInput, PermissionDenied
from ptap.core.models import utcnow
from ptap.core.policy import can
from ptap.dmp_bridge.models import DmpSubmission
from ptap.messaging import queries as msg_queries
from tests.factories import add_member, make_patient, make_team, make_user

REASON = "Chute au domicile, appel du SAMU, traitement en cours inconnu."


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


def visible_ids(db, user: User) -> set[int]:
    return set(db.session.scalars(access.visible_patient_ids(user.id)))


def listed_ids(db, user: User) -> set[int]:
    return {p.id for p in db.session.scalars(queries.visible_patients_query(user.id))}


def assert_collects(db, user: User, patient: Patient) -> None:
    """Consent to collect: listed and the consents page, never the record nor other lists."""
    assert access.access_basis(user.id, patient) is None
    assert access.access_basis(user.id, patient, collecting=True) == AccessBasis.CONSENT_TO_COLLECT
    assert can(user, "patient.consents.read", patient)
    assert can(user, "patient.consents.record", patient)
    assert not can(user, "patient.read", patient)
    assert patient.id not in visible_ids(db, user)
    circle_ids = set(db.session.scalars(access.visible_patient_ids(user.id, circle_only=True)))
    assert patient.id not in circle_ids
    assert patient.id in listed_ids(db, user)


def assert_access(db, user: User, patient: Patient, basis: AccessBasis | None) -> None:
    """The basis is `basis`, and the policy and both lists agree with it."""
    assert access.access_basis(user.id, patient) == basis
    sees = basis is not None
    assert can(user, "patient.read", patient) is sees
    assert (patient.id in visible_ids(db, user)) is sees
    assert (patient.id in listed_ids(db, user)) is sees


@dataclass
class World:
    team: CareTeam
    other_team: CareTeam
    enroller: User  # coordinator of the team, enrolled both patients
    coordinator: User  # another coordinator of the team
    member: User
    outsider: User  # member of another team
    consented: Patient
    unconsented: Patient


@pytest.fixture
def world(db) -> World:
    team = make_team("Équipe Croix-Rousse")
    other_team = make_team("Équipe Vaise")
    enroller = make_user(role="coordinator", profession="nurse")
    coordinator = make_user(role="coordinator", profession="care_coordinator")
    member = make_user(profession="physician")
    outsider = make_user(profession="pharmacist")
    add_member(team, enroller, "coordinator")
    add_member(team, coordinator, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider)
    return World(
        team=team,
        other_team=other_team,
        enroller=enroller,
        coordinator=coordinator,
        member=member,
        outsider=outsider,
        consented=make_patient(team, enroller, consent=True),
        unconsented=make_patient(team, enroller, consent=False),
    )


def enrolment_of(db, patient: Patient) -> Enrolment:
    return db.session.scalars(sa.select(Enrolment).where(Enrolment.patient_id == patient.id)).one()


def invite(w: World, patient: Patient, invitee: User, days: int = 30) -> CircleInvitation:
    return circle.invite_to_circle(
        w.enroller, patient, invitee, utcnow() + timedelta(days=days), "Avis", ctx(w.enroller)
    )


# --- team members ---------------------------------------------------------------------------


def test_team_member_sees_with_consent_only(db, world: World):
    assert_access(db, world.member, world.consented, AccessBasis.MEMBER)
    assert_access(db, world.member, world.unconsented, None)


def test_team_coordinator_who_did_not_enrol_sees_a_consent_to_collect(db, world: World):
    """Bug: the team page counted patients its coordinators could not find anywhere."""
    assert_access(db, world.coordinator, world.consented, AccessBasis.MEMBER)
    # Never recorded: the team's coordinators find the patient, to collect the choice...
    assert access.consent_to_collect(world.unconsented)
    assert_collects(db, world.coordinator, world.unconsented)
    # ...and nothing more: not in the circle, not the patient's coordinator.
    assert not access.coordinates_patient(world.coordinator.id, world.unconsented)
    assert world.coordinator.id not in msg_queries._circle_member_ids(world.unconsented)
    assert not can(world.coordinator, "patient.manage", world.unconsented)  # identity, INSi...
    plan = CarePlan(
        patient_id=world.unconsented.id,
        status=PlanStatus.DRAFT,
        draft={"lead_user_id": world.coordinator.id},
    )
    for action in ("care_plan.read", "care_plan.edit", "care_plan.publish"):
        assert not can(world.coordinator, action, plan), action
    assert not can(world.coordinator, "conversation.open_patient", world.unconsented)
    row = DmpSubmission(patient_id=world.unconsented.id, team_id=world.team.id)
    assert not can(world.coordinator, "dmp_submission.view", row)
    assert not can(world.coordinator, "dmp_submission.manage", row)
    # Plain members keep need-to-know.
    assert_access(db, world.member, world.unconsented, None)
    assert not can(world.member, "patient.consents.read", world.unconsented)
    assert world.member.id not in msg_queries._circle_member_ids(world.unconsented)
    # The enrolling coordinator keeps their own rights.
    assert_access(db, world.enroller, world.unconsented, AccessBasis.ENROLLING_COORDINATOR)
    assert access.coordinates_patient(world.enroller.id, world.unconsented)
    assert world.enroller.id in msg_queries._circle_member_ids(world.unconsented)


def test_consent_to_collect_is_recorded_then_ordinary_bases_apply(db, world: World):
    circle.record_consent(
        world.coordinator, world.unconsented, "sharing", True, "oral", "", ctx(world.coordinator)
    )
    db.session.flush()
    assert not access.consent_to_collect(world.unconsented)
    assert_access(db, world.coordinator, world.unconsented, AccessBasis.MEMBER)
    assert access.coordinates_patient(world.coordinator.id, world.unconsented)


def test_a_recorded_refusal_ends_the_consent_to_collect(db, world: World):
    circle.record_consent(
        world.coordinator, world.unconsented, "sharing", False, "oral", "", ctx(world.coordinator)
    )
    db.session.flush()
    assert not access.consent_to_collect(world.unconsented)
    assert_access(db, world.coordinator, world.unconsented, None)
    assert access.access_basis(world.coordinator.id, world.unconsented, collecting=True) is None
    assert world.unconsented.id not in listed_ids(db, world.coordinator)
    assert not can(world.coordinator, "patient.consents.read", world.unconsented)
    assert not can(world.coordinator, "patient.consents.record", world.unconsented)
    with pytest.raises(PermissionDenied):
        circle.record_consent(
            world.coordinator,
            world.unconsented,
            "sharing",
            True,
            "oral",
            "",
            ctx(world.coordinator),
        )
    # The enroller keeps their basis.
    assert_access(db, world.enroller, world.unconsented, AccessBasis.ENROLLING_COORDINATOR)


def test_another_teams_coordinator_has_no_consent_to_collect(db, world: World):
    """Patient followed only by the first team, choice never recorded: a coordinator of the
    other team gets nothing (the team condition is what grants the basis)."""
    other_coord = make_user(role="coordinator", profession="care_coordinator")
    add_member(world.other_team, other_coord, "coordinator")
    assert access.consent_to_collect(world.unconsented)
    assert access.access_basis(other_coord.id, world.unconsented, collecting=True) is None
    assert world.unconsented.id not in listed_ids(db, other_coord)
    assert not can(other_coord, "patient.consents.read", world.unconsented)
    assert not can(other_coord, "patient.consents.record", world.unconsented)
    # A member (not coordinator) of the following team gets nothing either.
    assert world.unconsented.id not in listed_ids(db, world.member)
    assert not can(world.member, "patient.consents.record", world.unconsented)


def test_enrolling_coordinator_sees_even_without_consent(db, world: World):
    assert_access(db, world.enroller, world.unconsented, AccessBasis.ENROLLING_COORDINATOR)
    # With consent the stronger basis (member of the team) is reported.
    assert_access(db, world.enroller, world.consented, AccessBasis.MEMBER)


def test_enrolling_coordinator_who_left_the_team_loses_access(db, world: World):
    leaver = make_user(role="coordinator")
    membership = add_member(world.team, leaver, "coordinator")
    patient = make_patient(world.team, leaver, consent=False)
    assert_access(db, leaver, patient, AccessBasis.ENROLLING_COORDINATOR)
    membership.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.flush()
    assert_access(db, leaver, patient, None)
    assert not can(leaver, "patient.manage", patient)
    assert not can(leaver, "enrolment.end", enrolment_of(db, patient))


def test_enrolling_coordinator_demoted_to_member_keeps_member_access_only(db, world: World):
    demoted = make_user(role="coordinator")
    membership = add_member(world.team, demoted, "coordinator")
    patient = make_patient(world.team, demoted, consent=False)
    membership.role = "member"
    db.session.flush()
    assert_access(db, demoted, patient, None)
    assert_access(db, demoted, world.consented, AccessBasis.MEMBER)


def test_membership_ended_yesterday_gives_nothing(db, world: World):
    former = make_user()
    add_member(world.team, former, ends_on=clock.paris_today() - timedelta(days=1))
    assert_access(db, former, world.consented, None)


def test_membership_ending_today_still_counts(db, world: World):
    leaving = make_user()
    add_member(world.team, leaving, ends_on=clock.paris_today())
    assert_access(db, leaving, world.consented, AccessBasis.MEMBER)


def test_membership_starting_tomorrow_gives_nothing(db, world: World):
    newcomer = make_user()
    add_member(world.team, newcomer, starts_on=clock.paris_today() + timedelta(days=1))
    assert_access(db, newcomer, world.consented, None)


def test_membership_starting_today_counts(db, world: World):
    newcomer = make_user()
    add_member(world.team, newcomer, starts_on=clock.paris_today())
    assert_access(db, newcomer, world.consented, AccessBasis.MEMBER)


def test_outsider_sees_nothing(db, world: World):
    assert_access(db, world.outsider, world.consented, None)
    assert_access(db, world.outsider, world.unconsented, None)
    assert visible_ids(db, world.outsider) == set()


def test_patient_followed_by_two_teams_is_seen_by_both(db, world: World):
    db.session.add(
        Enrolment(
            patient_id=world.consented.id,
            team_id=world.other_team.id,
            requested_on=date(2026, 1, 5),
            requester_kind="gp",
            problem_categories="social",
            enrolled_by_id=world.enroller.id,
        )
    )
    db.session.flush()
    assert_access(db, world.outsider, world.consented, AccessBasis.MEMBER)
    assert_access(db, world.member, world.consented, AccessBasis.MEMBER)


# --- invitations ----------------------------------------------------------------------------


def test_invited_professional_sees_with_consent(db, world: World):
    guest = make_user(profession="dietitian")
    invite(world, world.consented, guest)
    assert_access(db, guest, world.consented, AccessBasis.INVITED)
    # The invitation is for this patient only.
    assert_access(db, guest, world.unconsented, None)


def test_invited_professional_needs_consent(db, world: World):
    guest = make_user()
    invite(world, world.unconsented, guest)
    assert_access(db, guest, world.unconsented, None)
    circle.record_consent(
        world.enroller, world.unconsented, "sharing", True, "oral", "", ctx(world.enroller)
    )
    assert_access(db, guest, world.unconsented, AccessBasis.INVITED)


def test_expired_invitation_gives_nothing(db, world: World):
    guest = make_user()
    invitation = invite(world, world.consented, guest)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert_access(db, guest, world.consented, None)


def test_revoked_invitation_gives_nothing(db, world: World):
    guest = make_user()
    invitation = invite(world, world.consented, guest)
    circle.revoke_invitation(world.enroller, world.consented, invitation.id, ctx(world.enroller))
    assert_access(db, guest, world.consented, None)


def test_invitation_ends_with_the_last_enrolment(db, world: World):
    guest = make_user()
    invite(world, world.consented, guest)
    services.end_enrolment(
        world.enroller,
        enrolment_of(db, world.consented),
        "goals_met",
        "",
        ctx(world.enroller),
    )
    # Nobody coordinates the patient any more, so nobody could revoke it: it stops counting.
    assert_access(db, guest, world.consented, None)


# --- break-the-glass ------------------------------------------------------------------------


def test_break_the_glass_until_expiry(db, world: World):
    assert can(world.outsider, "break_glass.open", world.consented)
    grant = circle.open_break_glass(world.outsider, world.consented, REASON, ctx(world.outsider))
    assert_access(db, world.outsider, world.consented, AccessBasis.BREAK_GLASS)
    # Already in: a second emergency access is not offered.
    assert not can(world.outsider, "break_glass.open", world.consented)
    grant.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert_access(db, world.outsider, world.consented, None)
    assert can(world.outsider, "break_glass.open", world.consented)


def test_break_the_glass_lasts_the_configured_hours(app, db, world: World):
    before = utcnow()
    grant = circle.open_break_glass(world.outsider, world.consented, REASON, ctx(world.outsider))
    hours = timedelta(hours=float(app.config["BREAK_GLASS_HOURS"]))
    assert before + hours <= grant.expires_at <= utcnow() + hours


def test_break_the_glass_does_not_need_consent(db, world: World):
    circle.open_break_glass(world.outsider, world.unconsented, REASON, ctx(world.outsider))
    assert_access(db, world.outsider, world.unconsented, AccessBasis.BREAK_GLASS)
    # It opens this record only.
    assert_access(db, world.outsider, world.consented, None)


@pytest.mark.parametrize("who", ["member", "enroller", "coordinator"])
def test_break_glass_refused_to_someone_already_in_the_circle(db, world: World, who: str):
    user = getattr(world, who)
    assert not can(user, "break_glass.open", world.consented)


def test_break_glass_refused_to_invited_professional(db, world: World):
    guest = make_user()
    invite(world, world.consented, guest)
    assert not can(guest, "break_glass.open", world.consented)


def test_break_glass_refused_on_a_merged_record(db, world: World):
    world.unconsented.merged_into_id = world.consented.id
    db.session.flush()
    assert not can(world.outsider, "break_glass.open", world.unconsented)


# --- roles that never see patients ----------------------------------------------------------


@pytest.mark.parametrize("role", ["ars_analyst", "admin"])
def test_non_clinical_roles_never_see_patients_even_if_added_to_a_team(db, world: World, role: str):
    user = make_user(role=role, profession="public_health")
    add_member(world.team, user, "coordinator")
    assert_access(db, user, world.consented, None)
    assert_access(db, user, world.unconsented, None)
    # Not even the records they were (wrongly) recorded as enrolling.
    enrolled = make_patient(world.team, user, consent=False)
    assert_access(db, user, enrolled, None)
    # Nor through an invitation or an emergency access written around the services.
    db.session.add(
        CircleInvitation(
            patient_id=world.consented.id,
            user_id=user.id,
            invited_by_id=world.enroller.id,
            expires_at=utcnow() + timedelta(days=1),
        )
    )
    db.session.add(
        BreakGlassAccess(
            patient_id=world.consented.id,
            user_id=user.id,
            reason=REASON,
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    db.session.flush()
    assert_access(db, user, world.consented, None)
    assert visible_ids(db, user) == set()
    for action in ("patient.manage", "break_glass.open", "patients.list"):
        assert not can(user, action, world.consented)
    assert not can(user, "team.enrol", world.team)


def test_deactivated_user_loses_every_access(db, world: World):
    world.member.active = False
    world.enroller.active = False
    db.session.flush()
    for user, patient in ((world.member, world.consented), (world.enroller, world.unconsented)):
        assert not can(user, "patient.read", patient)
        assert not can(user, "patient.manage", patient)
        assert access.access_basis(user.id, patient) is None
        assert visible_ids(db, user) == set()


def test_deactivated_user_cannot_break_the_glass(db, world: World):
    world.outsider.active = False
    db.session.flush()
    assert not can(world.outsider, "break_glass.open", world.consented)


def test_anonymous_user_is_refused(db, world: World):
    assert not can(None, "patient.read", world.consented)


# --- end of follow-up and merged records ----------------------------------------------------


def test_ended_enrolment_removes_access_of_the_team(db, world: World):
    services.end_enrolment(
        world.coordinator,
        enrolment_of(db, world.consented),
        "moved",
        "",
        ctx(world.coordinator),
    )
    for user in (world.member, world.coordinator, world.enroller):
        assert_access(db, user, world.consented, None)
        assert not can(user, "patient.manage", world.consented)


def test_ended_enrolment_keeps_a_running_break_the_glass(db, world: World):
    circle.open_break_glass(world.outsider, world.consented, REASON, ctx(world.outsider))
    services.end_enrolment(
        world.enroller, enrolment_of(db, world.consented), "moved", "", ctx(world.enroller)
    )
    assert_access(db, world.outsider, world.consented, AccessBasis.BREAK_GLASS)


def test_merged_record_is_seen_by_nobody(db, world: World):
    guest = make_user()
    invite(world, world.consented, guest)
    circle.open_break_glass(world.outsider, world.consented, REASON, ctx(world.outsider))
    # Marked merged without moving anything: every basis still points at it.
    survivor = make_patient(world.team, world.enroller)
    world.consented.merged_into_id = survivor.id
    db.session.flush()
    for user in (world.member, world.coordinator, world.enroller, guest, world.outsider):
        assert_access(db, user, world.consented, None)
        assert not can(user, "patient.manage", world.consented)


# --- patient.manage ---------------------------------------------------------------------------


def test_patient_manage(db, world: World):
    assert not can(world.member, "patient.manage", world.consented)
    assert not can(world.member, "patient.manage", world.unconsented)
    assert can(world.coordinator, "patient.manage", world.consented)
    # Consent never recorded: the team's coordinators collect it, and manage nothing else.
    assert not can(world.coordinator, "patient.manage", world.unconsented)
    assert can(world.coordinator, "patient.consents.record", world.unconsented)
    assert can(world.enroller, "patient.manage", world.consented)
    assert can(world.enroller, "patient.manage", world.unconsented)
    assert not can(world.outsider, "patient.manage", world.consented)


def test_patient_manage_refused_to_invited_and_break_glass(db, world: World):
    guest = make_user(role="coordinator")
    invite(world, world.consented, guest)
    circle.open_break_glass(world.outsider, world.unconsented, REASON, ctx(world.outsider))
    assert not can(guest, "patient.manage", world.consented)
    assert not can(world.outsider, "patient.manage", world.unconsented)


def test_coordinator_of_another_team_does_not_manage(db, world: World):
    other_coord = make_user(role="coordinator")
    add_member(world.other_team, other_coord, "coordinator")
    assert not can(other_coord, "patient.manage", world.consented)
    assert_access(db, other_coord, world.consented, None)


def test_enrolment_end_rule(db, world: World):
    enrolment = enrolment_of(db, world.consented)
    assert can(world.enroller, "enrolment.end", enrolment)
    assert can(world.coordinator, "enrolment.end", enrolment)
    assert not can(world.member, "enrolment.end", enrolment)
    assert not can(world.outsider, "enrolment.end", enrolment)


def test_team_enrol_rule(db, world: World):
    assert can(world.enroller, "team.enrol", world.team)
    assert not can(world.member, "team.enrol", world.team)
    assert not can(world.enroller, "team.enrol", world.other_team)
    # A platform coordinator who is a plain member of the team does not enrol in it.
    plain = make_user(role="coordinator")
    add_member(world.team, plain)
    assert not can(plain, "team.enrol", world.team)


# --- patient list search ------------------------------------------------------------------


def test_list_search_stays_within_need_to_know(db, world: World):
    from ptap.care_teams.identity import refresh_search_names

    hidden = make_patient(world.other_team, world.enroller, birth_name="DUPONT")
    hidden.search_birth_name = "DUPONT"
    world.consented.birth_name = world.consented.search_birth_name = "DUPONT"
    world.consented.used_name, world.consented.search_used_name = "LÉGER", "LEGER"
    refresh_search_names(hidden)
    refresh_search_names(world.consented)
    db.session.flush()

    def found(**criteria: str) -> list[int]:
        search = queries.PatientSearch(**criteria)
        return [
            p.id
            for p in db.session.scalars(queries.visible_patients_query(world.member.id, search))
        ]

    assert found(name="dupônt") == [world.consented.id]
    assert found(name="Dup") == [world.consented.id]
    assert found(name="léger") == [world.consented.id]
    assert found(name="MARTIN") == []
    nir = world.consented.ins_matricule
    assert nir is not None
    spaced = f"{nir[0]} {nir[1:5]} {nir[5:10]} {nir[10:]}"
    assert found(ins=spaced) == [world.consented.id]
    assert found(ins=hidden.ins_matricule or "") == []
    assert found(birth_date="12/05/1940") == [world.consented.id]
    assert found(birth_date="05/1940") == [world.consented.id]
    assert found(birth_date="1940") == [world.consented.id]
    assert found(birth_date="1940-05-12") == [world.consented.id]
    assert found(birth_date="13/05/1940") == []


def test_list_search_refuses_a_malformed_date(db, world: World):
    with pytest.raises(InvalidInput):
        queries.visible_patients_query(world.member.id, queries.PatientSearch(birth_date="hier"))


def test_break_glass_is_refused_after_a_withdrawal_of_sharing(db):
    from ptap.audit.services import SYSTEM
    from ptap.care_teams import circle
    from ptap.core import policy
    from tests.factories import add_member, make_patient, make_team, make_user

    coord = make_user(role="coordinator", profession="nurse")
    outsider = make_user()
    team = make_team()
    add_member(team, coord, "coordinator")
    never_asked = make_patient(team, coord, consent=False)
    withdrawn = make_patient(team, coord)
    circle.record_consent(coord, withdrawn, "sharing", False, "oral", "", SYSTEM)
    assert policy.can(outsider, "break_glass.open", never_asked)
    assert not policy.can(outsider, "break_glass.open", withdrawn)


def test_any_team_coordinator_reviews_break_glass_without_consent(db):
    from ptap.audit.services import SYSTEM
    from ptap.care_teams import circle
    from ptap.core import policy
    from tests.factories import add_member, make_patient, make_team, make_user

    enrolling = make_user(role="coordinator", profession="nurse")
    colleague = make_user(role="coordinator", profession="nurse")
    outsider = make_user()
    team = make_team()
    add_member(team, enrolling, "coordinator")
    add_member(team, colleague, "coordinator")
    patient = make_patient(team, enrolling, consent=False)
    grant = circle.open_break_glass(
        outsider, patient, "Malaise au domicile, appel du SAMU.", SYSTEM
    )
    assert policy.can(colleague, "break_glass.review", grant)
    assert not policy.can(outsider, "break_glass.review", grant)


def test_membership_ends_at_paris_midnight_not_utc_midnight(db, world: World):
    """At 23:30 UTC on the last day, Paris is already past midnight: access has ended."""
    from datetime import UTC, datetime

    last_day = date(2026, 1, 15)
    leaving = make_user()
    add_member(world.team, leaving, starts_on=date(2025, 1, 1), ends_on=last_day)
    with clock.frozen(datetime(2026, 1, 15, 22, 30, tzinfo=UTC)):  # 23:30 in Paris
        assert clock.paris_today() == last_day
        assert_access(db, leaving, world.consented, AccessBasis.MEMBER)
    with clock.frozen(datetime(2026, 1, 15, 23, 30, tzinfo=UTC)):  # 00:30 the next day
        assert clock.paris_today() == date(2026, 1, 16)
        assert_access(db, leaving, world.consented, None)
