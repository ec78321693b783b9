"""Care-plan rules: concurrent edits, no-op publication, lifecycle order, the published signal.

The helpers at the top (`build_world`, `sample_content`, `open_plan`...) are shared with the
other care-plan test modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import SYSTEM
from ptap.care_plans import queries, services
from ptap.care_plans.content import Action, Objective, PlanContent, Problem, UnmetObjective
from ptap.care_plans.models import CarePlan, CarePlanTask, CarePlanVersion, PlanStatus
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    Enrolment,
    Patient,
    TeamMembership,
)
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.models import utcnow
from ptap.core.signals import care_plan_version_published
from ptap.extensions import db as _db
from tests.factories import add_member, make_patient, make_team, make_user

REVIEW_ON = date(2026, 6, 1)


@dataclass
class World:
    """A patient followed by a team, and one user per role around them."""

    team: CareTeam
    coord: User
    nurse: User
    physician: User
    guest: User
    visitor: User
    outsider: User
    admin: User
    analyst: User
    patient: Patient
    enrolment: Enrolment


def build_world() -> World:
    """Create the team, the patient, and a user for each role of the permission table."""
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    nurse = make_user(profession="nurse")
    physician = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    add_member(team, nurse)
    add_member(team, physician)
    patient = make_patient(team, coord, birth_name="BERNARD", search_birth_name="BERNARD")
    guest = make_user(profession="physiotherapist")
    _db.session.add(
        CircleInvitation(
            patient_id=patient.id,
            user_id=guest.id,
            invited_by_id=coord.id,
            expires_at=utcnow() + timedelta(days=10),
        )
    )
    visitor = make_user(profession="physician")
    _db.session.add(
        BreakGlassAccess(
            patient_id=patient.id,
            user_id=visitor.id,
            reason="Appel du SAMU, personne inconsciente",
            expires_at=utcnow() + timedelta(hours=4),
        )
    )
    outsider = make_user(profession="physician")
    add_member(make_team("Équipe Vaise"), outsider)
    admin = make_user(role="admin", profession="administrative")
    analyst = make_user(role="ars_analyst", profession="public_health")
    _db.session.flush()
    enrolment = _db.session.scalars(sa.select(Enrolment).filter_by(patient_id=patient.id)).one()
    return World(
        team,
        coord,
        nurse,
        physician,
        guest,
        visitor,
        outsider,
        admin,
        analyst,
        patient,
        enrolment,
    )


def sample_content(w: World, **over: object) -> PlanContent:
    """A complete PPCS: a problem, an objective with two actions (one assigned), a review."""
    content = PlanContent(
        lead_user_id=w.coord.id,
        problems=[Problem(key="falls", dimension="medical", description="Chutes répétées")],
        expectations="Rester à domicile",
        objectives=[
            Objective(
                key="obj1",
                title="Prévenir les chutes",
                problem_keys=["falls"],
                actions=[
                    Action(
                        key="kine",
                        what="Bilan kiné",
                        assignee_user_id=w.nurse.id,
                        due_on=date(2026, 3, 10),
                    ),
                    Action(
                        key="home",
                        what="Visite du domicile",
                        action_type="assessment",
                        to_define=True,
                    ),
                ],
            )
        ],
        unmet_objectives=[UnmetObjective(key="u1", objective="Marche seule", reason="Douleurs")],
        next_review_on=REVIEW_ON,
    )
    return content.model_copy(update=over)


def open_plan(w: World) -> CarePlan:
    """Open the patient's plan as the coordinator (lead by default)."""
    return services.create_plan(w.coord, w.enrolment, SYSTEM)


def save(plan: CarePlan, user: User, content: PlanContent) -> CarePlan:
    """Save the draft on its latest revision."""
    return services.save_draft(user, plan, content, plan.draft_revision, SYSTEM)


def drafted_plan(w: World) -> CarePlan:
    """A plan whose draft holds the sample content, not published yet."""
    plan = open_plan(w)
    return save(plan, w.coord, sample_content(w))


def published_plan(w: World) -> CarePlan:
    """A plan with version 1 published (status draft)."""
    plan = drafted_plan(w)
    assert services.publish_version(w.coord, plan, "Première version", SYSTEM) is not None
    return plan


def validated_plan(w: World) -> CarePlan:
    """Version 1 validated by the GP (status validated), no agreement yet."""
    plan = published_plan(w)
    services.record_approval(w.physician, plan, "gp_validation", "in_person", "", SYSTEM)
    return plan


def agreed_plan(w: World) -> CarePlan:
    """Version 1 validated by the GP and agreed by the patient, not yet in force."""
    plan = validated_plan(w)
    services.record_approval(w.coord, plan, "patient_agreement", "phone", "", SYSTEM)
    return plan


def active_plan(w: World) -> CarePlan:
    """A plan in force on version 1."""
    plan = agreed_plan(w)
    services.activate_plan(w.coord, plan, SYSTEM)
    return plan


def count_versions(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CarePlanVersion))


def with_action(content: PlanContent, key: str, **changes: object) -> PlanContent:
    """Return a copy of `content` where action `key` has `changes`."""
    copy = content.model_copy(deep=True)
    found = copy.find_action(key)
    assert found is not None
    objective, action = found
    objective.actions[objective.actions.index(action)] = changed(action, **changes)
    return copy


def changed(action: Action, **changes: object) -> Action:
    """Return a validated copy of `action` with `changes`."""
    return Action.model_validate(action.model_dump() | changes)


@pytest.fixture
def world(db) -> World:
    return build_world()


# --- Drafts and concurrent edits -------------------------------------------------------------


def test_second_save_on_the_same_base_revision_is_refused_with_the_first(db, world):
    plan = open_plan(world)
    base = plan.draft_revision
    first = sample_content(world, expectations="Rester chez elle")
    services.save_draft(world.coord, plan, first, base, SYSTEM)
    second = sample_content(world, expectations="Aller en EHPAD")
    with pytest.raises(services.DraftConflict) as caught:
        services.save_draft(world.nurse, plan, second, base, SYSTEM)
    assert caught.value.theirs == first
    assert caught.value.revision == base + 1
    assert caught.value.by == world.coord.full_name
    assert caught.value.field == "base_revision"
    assert plan.draft["expectations"] == "Rester chez elle"
    # Rebased on the revision it was shown, the second author's save goes through.
    services.save_draft(world.nurse, plan, second, caught.value.revision, SYSTEM)
    assert plan.draft["expectations"] == "Aller en EHPAD"


def test_update_of_an_action_someone_changed_is_a_conflict(db, world):
    plan = drafted_plan(world)
    seen = PlanContent.model_validate(plan.draft)  # both authors loaded this
    _, kine = seen.find_action("kine")
    _, home = seen.find_action("home")
    services.update_action(world.coord, plan, kine, changed(kine, status="in_progress"), SYSTEM)
    with pytest.raises(services.DraftConflict) as caught:
        services.update_action(world.nurse, plan, kine, changed(kine, what="Bilan ergo"), SYSTEM)
    assert caught.value.theirs.find_action("kine")[1].status == "in_progress"
    # Another action, unchanged since it was loaded, is not in conflict.
    services.update_action(world.nurse, plan, home, changed(home, status="done"), SYSTEM)
    content = PlanContent.model_validate(plan.draft)
    assert content.find_action("kine")[1].status == "in_progress"
    assert content.find_action("kine")[1].what == "Bilan kiné"
    assert content.find_action("home")[1].status == "done"


def test_additions_from_two_stale_views_both_survive(db, world):
    plan = drafted_plan(world)
    view = plan.draft_revision  # both authors loaded this revision
    services.add_action(world.coord, plan, "obj1", Action(key="a1", what="Portage repas"), SYSTEM)
    services.add_action(world.nurse, plan, "obj1", Action(key="a2", what="Téléassistance"), SYSTEM)
    keys = [a.key for _, a in PlanContent.model_validate(plan.draft).actions()]
    assert keys == ["kine", "home", "a1", "a2"]
    assert plan.draft_revision == view + 2


def test_draft_tasks_mirror_assigned_actions(db, world):
    plan = drafted_plan(world)
    tasks = db.session.scalars(sa.select(CarePlanTask).filter_by(plan_id=plan.id)).all()
    assert [(t.action_key, t.assignee_id) for t in tasks] == [("kine", world.nurse.id)]


def test_duplicate_keys_are_refused(db, world):
    content = sample_content(world).model_dump()
    content["objectives"][0]["actions"][1]["key"] = "kine"
    with pytest.raises(ValueError, match="même clé"):
        PlanContent.model_validate(content)


# --- Who may be named ------------------------------------------------------------------------


def test_assignees_must_be_of_the_circle(db, world):
    plan = drafted_plan(world)
    for stranger in (world.outsider, world.visitor, world.admin):
        content = with_action(sample_content(world), "home", assignee_user_id=stranger.id)
        with pytest.raises(services.InvalidAssignee) as caught:
            save(plan, world.coord, content)
        assert caught.value.field == "assignee_user_id"
        assert caught.value.path == "objectives.0.actions.1.assignee_user_id"
    # An invited professional is of the circle.
    save(
        plan,
        world.coord,
        with_action(sample_content(world), "home", assignee_user_id=world.guest.id),
    )
    unknown = Objective(title="Autre", actions=[Action(what="x", assignee_user_id=999_999)])
    with pytest.raises(InvalidInput):
        services.add_objective(world.coord, plan, unknown, SYSTEM)


def test_an_assignee_who_left_does_not_block_later_saves(db, world):
    plan = drafted_plan(world)
    membership = db.session.scalars(
        sa.select(TeamMembership).filter_by(team_id=world.team.id, user_id=world.nurse.id)
    ).one()
    membership.ends_on = date(2021, 1, 1)
    db.session.flush()
    save(plan, world.coord, sample_content(world, expectations="Autre chose"))
    with pytest.raises(services.InvalidAssignee):
        save(
            plan,
            world.coord,
            with_action(sample_content(world), "home", assignee_user_id=world.nurse.id),
        )


def test_only_who_may_publish_changes_the_lead(db, world):
    plan = drafted_plan(world)
    with pytest.raises(PermissionDenied):
        save(plan, world.nurse, sample_content(world, lead_user_id=world.nurse.id))
    assert plan.draft["lead_user_id"] == world.coord.id
    save(plan, world.coord, sample_content(world, lead_user_id=world.physician.id))
    assert plan.draft["lead_user_id"] == world.physician.id
    with pytest.raises(services.InvalidAssignee) as caught:
        save(plan, world.coord, sample_content(world, lead_user_id=world.outsider.id))
    assert caught.value.path == "lead_user_id"


# --- Publication -----------------------------------------------------------------------------


def test_publishing_an_unchanged_draft_creates_no_version(db, world):
    plan = published_plan(world)
    assert count_versions(db) == 1
    assert services.publish_version(world.coord, plan, "Rien", SYSTEM) is None
    # Saving the same content again (a new revision) still changes nothing that counts.
    save(plan, world.nurse, sample_content(world))
    assert services.publish_version(world.coord, plan, "Toujours rien", SYSTEM) is None
    assert count_versions(db) == 1
    save(plan, world.nurse, sample_content(world, expectations="Autre"))
    version = services.publish_version(world.coord, plan, "Attentes", SYSTEM)
    assert version is not None and version.number == 2
    assert plan.current_version is version
    assert count_versions(db) == 2


def test_publishing_needs_a_review_date(db, world):
    plan = open_plan(world)
    save(plan, world.coord, sample_content(world, next_review_on=None))
    with pytest.raises(InvalidInput) as caught:
        services.publish_version(world.coord, plan, "", SYSTEM)
    assert caught.value.field == "next_review_on"


def test_version_comparison_lists_changes(db, world):
    plan = published_plan(world)
    save(plan, world.coord, with_action(sample_content(world), "kine", what="Bilan ergo"))
    services.publish_version(world.coord, plan, "", SYSTEM)
    diffs = {d.section: d for d in queries.compare_versions(plan.id, 1, 2)}
    assert diffs["Plan d'action : actions"].changed == ["Prévenir les chutes › Bilan ergo"]
    assert diffs["Synthèse : problèmes et besoins"].empty


# --- Lifecycle order -------------------------------------------------------------------------


def test_activation_before_gp_validation_is_refused(db, world):
    plan = published_plan(world)
    services.record_approval(world.coord, plan, "patient_agreement", "phone", "", SYSTEM)
    with pytest.raises(Conflict, match="validé par le médecin"):
        services.activate_plan(world.coord, plan, SYSTEM)
    assert plan.status == PlanStatus.DRAFT


def test_activation_without_the_patients_agreement_is_refused(db, world):
    plan = validated_plan(world)
    assert plan.status == PlanStatus.VALIDATED
    with pytest.raises(Conflict, match="accord de la personne"):
        services.activate_plan(world.coord, plan, SYSTEM)
    services.record_approval(world.coord, plan, "patient_agreement", "phone", "", SYSTEM)
    services.activate_plan(world.coord, plan, SYSTEM)
    assert plan.status == PlanStatus.ACTIVE


def test_approvals_need_a_version_and_are_recorded_once(db, world):
    plan = drafted_plan(world)
    with pytest.raises(InvalidInput):
        services.record_approval(world.physician, plan, "gp_validation", "phone", "", SYSTEM)
    services.publish_version(world.coord, plan, "", SYSTEM)
    services.record_approval(world.physician, plan, "gp_validation", "phone", "", SYSTEM)
    with pytest.raises(Conflict):
        services.record_approval(world.physician, plan, "gp_validation", "phone", "", SYSTEM)
    with pytest.raises(InvalidInput) as caught:
        services.record_approval(world.coord, plan, "patient_agreement", "telepathy", "", SYSTEM)
    assert caught.value.field == "method"


def test_a_non_follow_up_change_cannot_be_published_while_active(db, world):
    plan = active_plan(world)
    save(plan, world.coord, with_action(sample_content(world), "kine", due_on=date(2026, 4, 1)))
    with pytest.raises(Conflict, match="en révision"):
        services.publish_version(world.coord, plan, "Report", SYSTEM)
    assert count_versions(db) == 1
    assert plan.status == PlanStatus.ACTIVE


def test_a_follow_up_change_while_active_publishes_and_keeps_the_status(db, world):
    plan = active_plan(world)
    content = with_action(sample_content(world), "kine", status="done")
    content = with_action(content, "home", status="not_achieved", not_achieved_reason="Refus")
    save(plan, world.nurse, content)
    version = services.publish_version(world.coord, plan, "Suivi", SYSTEM)
    assert version is not None and version.number == 2
    assert plan.status == PlanStatus.ACTIVE


def test_a_new_version_after_validation_needs_approvals_again(db, world):
    plan = validated_plan(world)
    save(plan, world.coord, sample_content(world, expectations="Autre"))
    services.publish_version(world.coord, plan, "v2", SYSTEM)
    # Never approved by both: back to draft; v1's validation does not carry over.
    assert plan.status == PlanStatus.DRAFT
    with pytest.raises(Conflict):
        services.activate_plan(world.coord, plan, SYSTEM)
    services.record_approval(world.physician, plan, "gp_validation", "meeting", "", SYSTEM)
    with pytest.raises(Conflict, match="accord"):
        services.activate_plan(world.coord, plan, SYSTEM)
    services.record_approval(world.coord, plan, "patient_agreement", "phone", "", SYSTEM)
    services.activate_plan(world.coord, plan, SYSTEM)
    assert plan.status == PlanStatus.ACTIVE


def test_a_revision_drops_back_to_under_revision_after_validation(db, world):
    plan = active_plan(world)
    services.start_revision(world.coord, plan, SYSTEM)
    assert plan.status == PlanStatus.UNDER_REVISION
    save(plan, world.coord, with_action(sample_content(world), "kine", due_on=date(2026, 5, 1)))
    services.publish_version(world.coord, plan, "v2", SYSTEM)
    assert plan.status == PlanStatus.UNDER_REVISION
    services.record_approval(world.physician, plan, "gp_validation", "meeting", "", SYSTEM)
    assert plan.status == PlanStatus.VALIDATED
    save(plan, world.coord, with_action(sample_content(world), "kine", due_on=date(2026, 5, 2)))
    services.publish_version(world.coord, plan, "v3", SYSTEM)
    # It was in force before: the new version goes back to revision, unapproved.
    assert plan.status == PlanStatus.UNDER_REVISION
    with pytest.raises(Conflict):
        services.activate_plan(world.coord, plan, SYSTEM)


def test_a_revision_without_changes_can_go_back_in_force(db, world):
    plan = active_plan(world)
    services.start_revision(world.coord, plan, SYSTEM)
    services.activate_plan(world.coord, plan, SYSTEM)
    assert plan.status == PlanStatus.ACTIVE


def test_only_an_active_plan_is_revised(db, world):
    plan = validated_plan(world)
    with pytest.raises(Conflict):
        services.start_revision(world.coord, plan, SYSTEM)


def test_a_closed_plan_takes_no_edits_and_leaves_the_task_lists(db, world):
    plan = active_plan(world)
    assert len(queries.my_tasks(world.nurse.id, today=date(2026, 3, 1)).items) == 1
    with pytest.raises(InvalidInput):
        services.close_plan(world.coord, plan, "  ", SYSTEM)
    services.close_plan(world.coord, plan, "Situation stabilisée", SYSTEM)
    assert plan.status == PlanStatus.CLOSED
    assert plan.closed_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarePlanTask)) == 0
    assert queries.my_tasks(world.nurse.id, today=date(2026, 3, 1)).items == []
    content = sample_content(world, expectations="Après clôture")
    for attempt in (
        lambda: save(plan, world.coord, content),
        lambda: services.add_action(world.coord, plan, "obj1", Action(what="x"), SYSTEM),
        lambda: services.publish_version(world.coord, plan, "", SYSTEM),
        lambda: services.start_revision(world.coord, plan, SYSTEM),
        lambda: services.close_plan(world.coord, plan, "encore", SYSTEM),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    with pytest.raises(Conflict):
        services.record_approval(world.physician, plan, "gp_validation", "phone", "", SYSTEM)
    assert plan.draft["expectations"] == "Rester à domicile"


# --- The published signal --------------------------------------------------------------------


def test_published_signal_is_sent_after_commit_with_the_version_id(db, world):
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    plan = drafted_plan(world)
    db.session.commit()
    with care_plan_version_published.connected_to(receiver):
        version = services.publish_version(world.coord, plan, "v1", SYSTEM)
        assert received == []  # flushed, not committed
        db.session.commit()
    assert received == [
        (
            "care_plans",
            {"version_id": version.id, "plan_id": plan.id, "patient_id": world.patient.id},
        )
    ]


def test_published_signal_is_not_sent_on_rollback(db, world):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    plan = drafted_plan(world)
    db.session.commit()
    with care_plan_version_published.connected_to(receiver):
        assert services.publish_version(world.coord, plan, "v1", SYSTEM) is not None
        db.session.rollback()
        assert count_versions(db) == 0
        # A later, unrelated commit does not send the rolled-back publication either.
        save(plan, world.coord, sample_content(world, expectations="Autre"))
        db.session.commit()
    assert received == []
