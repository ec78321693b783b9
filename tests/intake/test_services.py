"""Request intake services: register, triage, answer, evaluate, close, convert, targets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.models import AuditEvent
from ptap.audit.services import AuditContext
from ptap.care_teams.identity import IdentityData
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.care_teams.services import DuplicateIns
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.ins import InsOid
from ptap.intake import queries, services
from ptap.intake.clocks import IntakeTargets
from ptap.intake.models import RequestStatus, SupportRequest
from ptap.intake.requestclocks import is_late, request_clocks, targets_of
from tests.factories import add_member, make_patient, make_team, make_user, valid_nir

#: Friday 3 April 2026, 17:00 in Paris: Easter Monday follows.
FRIDAY_BEFORE_EASTER = datetime(2026, 4, 3, 17, 0, tzinfo=PARIS)


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@dataclass
class World:
    team: CareTeam
    coordinator: User
    member: User
    other_coordinator: User
    other_team: CareTeam


@pytest.fixture
def world(db) -> World:
    team, other_team = make_team("DAC Lyon"), make_team("DAC Villeurbanne")
    coordinator = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    other = make_user(role="coordinator", profession="nurse")
    add_member(team, coordinator, "coordinator")
    add_member(team, member, "member")
    add_member(other_team, other, "coordinator")
    return World(team, coordinator, member, other, other_team)


def data(**changes) -> services.RequestData:
    base = services.RequestData(
        received_at=FRIDAY_BEFORE_EASTER,
        requester_kind="gp",
        channel="phone",
        requester_name="Dr Martin",
        requester_contact="04 78 00 00 00",
        person_summary="Dame de 84 ans, chutes répétées, aidant épuisé.",
        problem_categories=("medical", "social"),
    )
    return dataclasses.replace(base, **changes)


def register(world: World, **changes) -> SupportRequest:
    return services.register_request(world.member, world.team, data(**changes), ctx(world.member))


def identity(**changes) -> IdentityData:
    base = IdentityData(
        birth_name="Durand",
        first_names="Marie Louise",
        birth_year=1942,
        birth_month=3,
        birth_day=9,
        sex="F",
        birthplace_code="69381",
        ins_matricule=valid_nir("F", 1942, 3),
        ins_oid=InsOid.TEST_NIR,
        identity_status="validated",
        identity_check_method="passport",
    )
    return dataclasses.replace(base, **changes)


def actions(db, object_id: int) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(
                AuditEvent.object_type == "support_request", AuditEvent.object_id == str(object_id)
            )
            .order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def at_easter():
    with clock.frozen(datetime(2026, 4, 3, 17, 30, tzinfo=PARIS)):
        yield


def test_register_sets_deadlines_from_the_team_targets_and_audits(db, world, at_easter):
    req = register(world)
    assert req.status == RequestStatus.RECEIVED
    assert req.categories == ["medical", "social"]
    # Default target: 2 working days -> end of Wednesday 8 April (Easter Monday skipped).
    assert req.first_answer_due_at == datetime(2026, 4, 8, 22, 0, tzinfo=UTC)
    assert actions(db, req.id) == ["request.register"]


def test_a_team_target_changes_the_deadline_of_new_requests(db, world, at_easter):
    services.set_intake_targets(
        world.coordinator, world.team, IntakeTargets(1, 5, 30), ctx(world.coordinator)
    )
    assert queries.get_targets(world.team.id) == IntakeTargets(1, 5, 30)
    assert queries.get_targets(world.other_team.id) == IntakeTargets()
    req = register(world)
    assert req.first_answer_due_at == datetime(2026, 4, 7, 22, 0, tzinfo=UTC)  # end Tuesday


def test_targets_are_set_by_coordinators_only_and_validated(db, world):
    with pytest.raises(PermissionDenied):
        services.set_intake_targets(world.member, world.team, IntakeTargets(), ctx(world.member))
    with pytest.raises(InvalidInput) as error:
        services.set_intake_targets(
            world.coordinator, world.team, IntakeTargets(0, 5, 30), ctx(world.coordinator)
        )
    assert error.value.field == "first_answer_working_days"
    with pytest.raises(InvalidInput):
        services.set_intake_targets(
            world.coordinator, world.team, IntakeTargets(5, 2, 30), ctx(world.coordinator)
        )


def test_clocks_run_over_the_easter_weekend(db, world, at_easter):
    req = register(world)
    wednesday_night = datetime(2026, 4, 8, 23, 59, tzinfo=PARIS)
    thursday = datetime(2026, 4, 9, 0, 0, tzinfo=PARIS)
    assert not is_late(req, wednesday_night)
    assert is_late(req, thursday)
    assert request_clocks(req, thursday).first_answer.elapsed == 3
    late_ids = db.session.scalars(
        sa.select(SupportRequest.id).where(queries.late_requests_clause(thursday))
    ).all()
    assert late_ids == [req.id]
    with clock.frozen(datetime(2026, 4, 7, 10, 0, tzinfo=PARIS)):
        services.answer_request(world.member, req, "Rappel du Dr Martin.", ctx(world.member))
    assert not is_late(req, thursday)
    clocks = request_clocks(req, thursday)
    assert not clocks.first_answer.late and clocks.first_answer.elapsed == 1
    assert (
        db.session.scalars(
            sa.select(SupportRequest.id).where(queries.late_requests_clause(thursday))
        ).all()
        == []
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"requester_kind": "neighbour"}, "requester_kind"),
        ({"problem_categories": ()}, "problem_categories"),
        ({"problem_categories": ("medical", "astrology")}, "problem_categories"),
        ({"received_at": datetime(2026, 4, 4, 12, 0, tzinfo=PARIS)}, "received_at"),
        ({"received_at": datetime(2024, 4, 4, 12, 0, tzinfo=PARIS)}, "received_at"),
        ({"received_at": datetime(2026, 4, 3, 12, 0)}, "received_at"),  # noqa: DTZ001
        ({"requester_name": "x" * 201}, "requester_name"),
        ({"patient_id": 999_999}, "patient_id"),
    ],
)
def test_register_refuses_malformed_input_naming_the_field(db, world, at_easter, changes, field):
    with pytest.raises(InvalidInput) as error:
        register(world, **changes)
    assert error.value.field == field


def test_register_refused_outside_the_team(db, world, at_easter):
    analyst = make_user(role="ars_analyst", profession="other")
    for user in (world.other_coordinator, analyst, make_user(role="admin")):
        with pytest.raises(PermissionDenied):
            services.register_request(user, world.team, data(), ctx(user))


def test_register_refuses_a_patient_the_user_does_not_see(db, world, at_easter):
    stranger = make_patient(world.other_team, world.other_coordinator)
    with pytest.raises(InvalidInput) as error:
        register(world, patient_id=stranger.id)
    assert error.value.field == "patient_id"


def test_other_teams_do_not_find_the_request(db, world, at_easter):
    req = register(world)
    assert queries.get_request(world.member, req.id) is req
    with pytest.raises(NotFound):
        queries.get_request(world.other_coordinator, req.id)
    listed = queries.list_requests(
        world.other_coordinator, queries.RequestFilter(), clock.now(), limit=50
    )
    assert listed == []
    mine = queries.list_requests(world.member, queries.RequestFilter(), clock.now(), limit=50)
    assert [r.id for r in mine] == [req.id]


def test_triage_is_for_coordinators_and_checks_the_mission_type(db, world, at_easter):
    req = register(world)
    with pytest.raises(PermissionDenied):
        services.triage_request(world.member, req, "coordination", ctx(world.member))
    with pytest.raises(InvalidInput) as error:
        services.triage_request(world.coordinator, req, "therapy", ctx(world.coordinator))
    assert error.value.field == "mission_type"
    services.triage_request(
        world.coordinator,
        req,
        "coordination",
        ctx(world.coordinator),
        urgent=True,
        assigned_to_id=world.member.id,
    )
    assert req.status == RequestStatus.TRIAGED and req.urgent and req.triaged_at
    assert req.assigned_to_id == world.member.id
    with pytest.raises(InvalidInput):
        services.triage_request(
            world.coordinator,
            req,
            "orientation",
            ctx(world.coordinator),
            assigned_to_id=world.other_coordinator.id,
        )


def test_answer_keeps_the_first_answer_time(db, world, at_easter):
    req = register(world)
    with pytest.raises(InvalidInput):
        services.answer_request(world.member, req, "  ", ctx(world.member))
    with pytest.raises(InvalidInput) as error:
        services.answer_request(
            world.member,
            req,
            "Réponse",
            ctx(world.member),
            answered_at=FRIDAY_BEFORE_EASTER - timedelta(hours=1),
        )
    assert error.value.field == "answered_at"
    first = services.answer_request(world.member, req, "Premier appel.", ctx(world.member))
    first_at = first.first_answer_at
    with clock.frozen(datetime(2026, 4, 7, 9, 0, tzinfo=PARIS)):
        services.answer_request(world.member, req, "Second appel.", ctx(world.member))
    assert req.first_answer_at == first_at
    assert "Premier appel." in req.answer_note and "Second appel." in req.answer_note
    with pytest.raises(PermissionDenied):
        services.answer_request(world.other_coordinator, req, "x", ctx(world.other_coordinator))


def test_close_needs_an_outcome_and_a_triage(db, world, at_easter):
    req = register(world)
    with pytest.raises(InvalidInput) as error:
        services.close_request(
            world.coordinator, req, "information_given", "", ctx(world.coordinator)
        )
    assert error.value.field == "mission_type"
    services.triage_request(world.coordinator, req, "information", ctx(world.coordinator))
    for outcome, note in (("enrolled", ""), ("bogus", ""), ("other", " ")):
        with pytest.raises(InvalidInput):
            services.close_request(world.coordinator, req, outcome, note, ctx(world.coordinator))
    with pytest.raises(PermissionDenied):
        services.close_request(world.member, req, "information_given", "", ctx(world.member))
    services.close_request(
        world.coordinator, req, "information_given", "Droits APA expliqués.", ctx(world.coordinator)
    )
    assert req.status == RequestStatus.CLOSED and req.closed_at and not req.is_open
    with pytest.raises(Conflict):
        services.answer_request(world.member, req, "Trop tard", ctx(world.member))
    assert not is_late(req, datetime(2026, 5, 1, tzinfo=UTC))  # closed: never late
    assert actions(db, req.id) == ["request.register", "request.triage", "request.close"]


def test_a_duplicate_may_be_closed_without_triage(db, world, at_easter):
    req = register(world)
    services.close_request(world.coordinator, req, "duplicate", "", ctx(world.coordinator))
    assert req.status == RequestStatus.CLOSED


def test_convert_creates_the_patient_and_links_the_enrolment(db, world, at_easter):
    req = register(world)
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    with pytest.raises(PermissionDenied):
        services.convert_to_enrolment(world.member, req, ctx(world.member), identity=identity())
    enrolment = services.convert_to_enrolment(
        world.coordinator, req, ctx(world.coordinator), identity=identity()
    )
    patient = db.session.get(Patient, enrolment.patient_id)
    assert patient.birth_name == "DURAND"
    assert enrolment.team_id == world.team.id
    assert enrolment.requester_kind == "gp" and enrolment.categories == ["medical", "social"]
    assert enrolment.requested_on.isoformat() == "2026-04-03"
    assert req.status == RequestStatus.CONVERTED and req.outcome == "enrolled"
    assert req.patient_id == patient.id and req.enrolment_id == enrolment.id
    assert req.first_answer_at is not None
    assert actions(db, req.id)[-1] == "request.convert"
    with pytest.raises(Conflict):
        services.convert_to_enrolment(world.coordinator, req, ctx(world.coordinator))


def test_convert_finds_a_visible_patient_by_ins(db, world, at_easter):
    # The patient is followed by another team the coordinator also coordinates.
    second = make_team("Équipe Est")
    add_member(second, world.coordinator, "coordinator")
    known = make_patient(second, world.coordinator)
    req = register(world)
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Patient))
    enrolment = services.convert_to_enrolment(
        world.coordinator,
        req,
        ctx(world.coordinator),
        identity=identity(ins_matricule=known.ins_matricule),
    )
    assert enrolment.patient_id == known.id and req.patient_id == known.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Patient)) == before


def test_convert_refuses_an_ins_held_by_a_record_the_user_does_not_see(db, world, at_easter):
    hidden = make_patient(world.other_team, world.other_coordinator)
    req = register(world)
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    with pytest.raises(DuplicateIns) as error:
        services.convert_to_enrolment(
            world.coordinator,
            req,
            ctx(world.coordinator),
            identity=identity(
                ins_matricule=hidden.ins_matricule, birth_year=1940, birth_month=5, birth_day=12
            ),
        )
    assert error.value.existing_id is None
    assert "DAC Villeurbanne" in error.value.message


def test_convert_needs_a_triage_and_a_person(db, world, at_easter):
    req = register(world)
    with pytest.raises(InvalidInput) as error:
        services.convert_to_enrolment(world.coordinator, req, ctx(world.coordinator))
    assert error.value.field == "mission_type"
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    with pytest.raises(InvalidInput) as error:
        services.convert_to_enrolment(world.coordinator, req, ctx(world.coordinator))
    assert error.value.field == "patient_id"


def test_convert_enrols_the_linked_patient(db, world, at_easter):
    second = make_team("Équipe Sud")
    add_member(second, world.coordinator, "coordinator")
    known = make_patient(second, world.coordinator)
    req = services.register_request(
        world.coordinator, world.team, data(patient_id=known.id), ctx(world.coordinator)
    )
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    enrolment = services.convert_to_enrolment(world.coordinator, req, ctx(world.coordinator))
    assert enrolment.patient_id == known.id
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Enrolment)
            .where(Enrolment.patient_id == known.id)
        )
        == 2
    )


def test_evaluation_stops_its_clock_once(db, world, at_easter):
    req = register(world)
    with pytest.raises(PermissionDenied):
        services.record_evaluation(world.member, req, ctx(world.member))
    services.record_evaluation(world.coordinator, req, ctx(world.coordinator))
    assert req.evaluated_at == clock.now()
    with pytest.raises(Conflict):
        services.record_evaluation(world.coordinator, req, ctx(world.coordinator))
    clocks = request_clocks(req, clock.now())
    assert not clocks.evaluation.running and not clocks.evaluation.late


def test_update_moves_the_deadlines(db, world, at_easter):
    req = register(world)
    services.update_request(
        world.member,
        req,
        data(received_at=datetime(2026, 4, 2, 9, 0, tzinfo=PARIS)),
        ctx(world.member),
    )
    # Friday, then Easter Monday skipped: end of Tuesday.
    assert req.first_answer_due_at == datetime(2026, 4, 7, 22, 0, tzinfo=UTC)
    with pytest.raises(PermissionDenied):
        services.update_request(world.other_coordinator, req, data(), ctx(world.other_coordinator))


def test_the_ppcs_clock_stops_at_the_first_gp_validation(db, world, at_easter):
    from ptap.care_plans import services as plans
    from ptap.care_plans.content import PlanContent
    from ptap.care_plans.models import ApprovalKind

    physician = make_user(profession="physician")
    add_member(world.team, physician)
    req = register(world)
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    enrolment = services.convert_to_enrolment(
        world.coordinator, req, ctx(world.coordinator), identity=identity()
    )
    patient = db.session.get(Patient, enrolment.patient_id)
    patient.sharing_consent = True  # agreement collected (the physician sees the record)
    targets = queries.get_targets(world.team.id)
    running = queries.clocks_of([req], clock.now())[req.id].ppcs
    assert running.running and not running.late
    with clock.frozen(datetime(2026, 4, 20, 10, 0, tzinfo=PARIS)):
        plan = plans.create_plan(world.coordinator, enrolment, ctx(world.coordinator))
        content = PlanContent(lead_user_id=world.coordinator.id, next_review_on=date(2026, 7, 1))
        plans.save_draft(
            world.coordinator, plan, content, plan.draft_revision, ctx(world.coordinator)
        )
        plans.publish_version(world.coordinator, plan, "v1", ctx(world.coordinator))
        plans.record_approval(
            physician, plan, ApprovalKind.GP_VALIDATION, "in_person", "", ctx(physician)
        )
    db.session.flush()
    later = datetime(2026, 9, 1, tzinfo=PARIS)
    ppcs = queries.clocks_of([req], later)[req.id].ppcs
    assert ppcs.stopped_at == datetime(2026, 4, 20, 8, 0, tzinfo=UTC)
    assert not ppcs.late and ppcs.elapsed == 17 and targets.ppcs_days == 60


def test_an_edit_keeps_the_deadlines_and_targets_the_request_was_received_under(
    db, world, at_easter
):
    req = register(world)  # default targets: first answer within 2 working days
    services.set_intake_targets(
        world.coordinator, world.team, IntakeTargets(1, 5, 30), ctx(world.coordinator)
    )
    before = (req.first_answer_due_at, req.evaluation_due_at, req.ppcs_due_at)
    services.update_request(
        world.member, req, data(person_summary="Chutes, aidant épuisé."), ctx(world.member)
    )
    assert (req.first_answer_due_at, req.evaluation_due_at, req.ppcs_due_at) == before
    assert targets_of(req) == IntakeTargets()
    # A new reception time moves the deadlines, with the targets of the request (2 days),
    # not the team's new ones (1 day would end on Friday 3 April).
    services.update_request(
        world.member,
        req,
        data(received_at=datetime(2026, 4, 2, 9, 0, tzinfo=PARIS)),
        ctx(world.member),
    )
    assert req.first_answer_due_at == datetime(2026, 4, 7, 22, 0, tzinfo=UTC)
    assert targets_of(req) == IntakeTargets()
    # Requests received from now on follow the new targets.
    assert targets_of(register(world)) == IntakeTargets(1, 5, 30)


def test_clocks_show_the_target_of_their_deadline_after_a_target_change(app, db, world, at_easter):
    from ptap.dashboards.present import request_view
    from ptap.dashboards.queries import waiting_requests
    from ptap.intake.present import request_row

    req = register(world)
    services.set_intake_targets(
        world.coordinator, world.team, IntakeTargets(1, 5, 30), ctx(world.coordinator)
    )
    clocks = queries.clocks_of([req], clock.now())[req.id]
    assert (clocks.first_answer.target, clocks.evaluation.target, clocks.ppcs.target) == (2, 10, 60)
    row = request_row(req, clocks, False)
    assert row.first_answer.target == "Objectif : 2 jours ouvrés"
    [waiting] = waiting_requests(world.team.id, clock.now()).first
    assert waiting.target == 2 and waiting.due_at == req.first_answer_due_at
    with app.test_request_context():
        assert " sur 2 (" in request_view(waiting).clock  # the dashboard's alert text


def _changed_elsewhere(db, req: SupportRequest, **values) -> None:
    """Commit-like change made by another request: the row changes, this session's copy not."""
    db.session.execute(
        sa.update(SupportRequest)
        .where(SupportRequest.id == req.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


@pytest.mark.parametrize(
    "act",
    [
        lambda w, r: services.convert_to_enrolment(
            w.coordinator, r, ctx(w.coordinator), identity=identity()
        ),
        lambda w, r: services.close_request(w.coordinator, r, "oriented", "", ctx(w.coordinator)),
        lambda w, r: services.answer_request(w.member, r, "Rappel.", ctx(w.member)),
        lambda w, r: services.triage_request(w.coordinator, r, "orientation", ctx(w.coordinator)),
        lambda w, r: services.update_request(w.member, r, data(), ctx(w.member)),
    ],
    ids=["convert", "close", "answer", "triage", "update"],
)
def test_a_change_checks_the_current_state_not_the_one_read_before(db, world, at_easter, act):
    req = register(world)
    services.triage_request(world.coordinator, req, "coordination", ctx(world.coordinator))
    patients = db.session.scalar(sa.select(sa.func.count()).select_from(Patient))
    _changed_elsewhere(db, req, status=RequestStatus.CONVERTED, outcome="enrolled")
    assert req.status == RequestStatus.TRIAGED  # the copy read before is stale
    with pytest.raises(Conflict) as error:
        act(world, req)
    assert error.value.status == 409 and "clôturée" in error.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Patient)) == patients
    assert actions(db, req.id)[-1] == "request.triage"


def test_an_evaluation_recorded_meanwhile_is_not_recorded_twice(db, world, at_easter):
    req = register(world)
    _changed_elsewhere(db, req, evaluated_at=clock.now())
    with pytest.raises(Conflict):
        services.record_evaluation(world.coordinator, req, ctx(world.coordinator))


def test_a_partial_correction_applies_to_the_request_as_locked(db, world, at_easter):
    from ptap.intake.schemas import RequestPatch

    req = register(world)
    _changed_elsewhere(db, req, urgent=True)  # a coordinator flagged it urgent meanwhile
    services.update_request(
        world.member, req, RequestPatch(channel="email").apply, ctx(world.member)
    )
    assert req.channel == "email" and req.urgent is True
