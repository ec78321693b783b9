"""Pathway templates and pathways: lifecycle, permissions, prefill, provenance, stop."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.extensions import db as _db
from ptap.pathways import queries, services
from ptap.pathways.content import parse_content
from ptap.pathways.models import PathwayTemplateVersion, PatientPathway, TemplateStatus
from tests.care_plans.test_services import build_world, open_plan
from tests.factories import add_member, make_team, make_user
from tests.pathways.helpers import heart_failure

START = date(2026, 3, 2)


@pytest.fixture
def world(db):
    return build_world()


def published(w, **over):
    template = services.create_template(w.coord, heart_failure(**over), team=w.team)
    services.publish_template(w.coord, template)
    return template


def test_template_lifecycle_draft_published_retired(world):
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    assert template.status == TemplateStatus.DRAFT
    first = services.publish_template(world.coord, template)
    assert first.number == 1
    assert template.status == TemplateStatus.PUBLISHED
    assert services.publish_template(world.coord, template) is None  # unchanged: no version
    services.save_template_draft(world.coord, template, heart_failure(title="IC v2"))
    second = services.publish_template(world.coord, template)
    assert second.number == 2
    assert first.content["title"] != second.content["title"]
    services.retire_template(world.coord, template)
    assert template.status == TemplateStatus.RETIRED
    assert template.title == "IC v2"


def test_only_coordinators_of_the_owner_manage_a_template(world):
    with pytest.raises(PermissionDenied):
        services.create_template(world.nurse, heart_failure(), team=world.team)
    other = make_team("Équipe Vaise")
    stranger = make_user(role="coordinator", profession="nurse")
    add_member(other, stranger, "coordinator")
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    with pytest.raises(PermissionDenied):
        services.publish_template(stranger, template)
    with pytest.raises(PermissionDenied):
        services.save_template_draft(world.physician, template, heart_failure())


def test_territory_template_is_managed_by_any_coordinator_of_the_territory(world):
    sibling = make_team("Équipe Caluire")
    sibling.territory_id = world.team.territory_id
    coord2 = make_user(role="coordinator", profession="care_coordinator")
    add_member(sibling, coord2, "coordinator")
    _db.session.flush()
    territory = world.team.territory
    template = services.create_template(world.coord, heart_failure(), territory=territory)
    assert services.publish_template(coord2, template).number == 1
    assert [t.id for t in queries.list_templates(world.nurse.id, search="cardiaque")] == [
        template.id
    ]
    assert queries.list_templates(world.outsider.id) == []


@pytest.mark.parametrize(
    ("step_over", "field", "words"),
    [
        ({"offset_days": -3}, "steps.0.offset_days", "Étape 1, délai en jours"),
        (
            {"objectives": [{"title": "X", "actions": [{"what": "Y", "profession": "sorcier"}]}]},
            "steps.0.objectives.0.actions.0.profession",
            "profession inconnue « sorcier »",
        ),
        ({"title": ""}, "steps.0.title", "ne peut pas être vide"),
    ],
)
def test_bad_template_is_refused_in_french_naming_the_field(world, step_over, field, words):
    data = heart_failure().model_dump(mode="json")
    data["steps"][0].update(step_over)
    with pytest.raises(InvalidInput) as exc:
        parse_content(data)
    assert exc.value.field == field
    assert words in str(exc.value)


def test_publishing_an_empty_template_is_refused(world):
    template = services.create_template(world.coord, heart_failure(steps=[]), team=world.team)
    with pytest.raises(InvalidInput, match="au moins une étape"):
        services.publish_template(world.coord, template)
    assert _db.session.scalar(sa.select(sa.func.count(PathwayTemplateVersion.id))) == 0


def test_start_prefills_draft_with_assignees_by_profession_and_dates(world):
    plan = open_plan(world)
    template = published(world)
    pathway = services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    content = load_content(plan.draft)
    actions = {a.what: a for _, a in content.actions()}
    # Physician: one in the circle. Physio: the invited guest. Nurse: two (the coordinator is a
    # nurse too): left to choose. Social worker: none in the circle: left to choose.
    assert actions["Consultation médecin traitant"].assignee_user_id == world.physician.id
    assert actions["Réentraînement à l'effort"].assignee_user_id == world.guest.id
    for what in ("Pesée et surveillance", "Évaluation sociale"):
        assert actions[what].assignee_user_id is None
        assert actions[what].to_define is True
    assert actions["Consultation médecin traitant"].due_on == date(2026, 3, 9)
    assert actions["Pesée et surveillance"].due_on == date(2026, 3, 23)  # 7 + 14 days
    assert [p.description for p in content.problems] == ["Risque de réhospitalisation"]
    assert [s["due_on"] for s in pathway.steps] == ["2026-03-09", "2026-03-23"]
    assert pathway.steps[1]["grid_key"] == "nyha"
    assert plan.status == "draft"  # prefilled, not published


def test_published_version_records_the_template_version(world):
    plan = open_plan(world)
    template = published(world)
    services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    content = load_content(plan.draft)
    content.next_review_on = date(2026, 9, 1)
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
    version = plan_services.publish_version(world.coord, plan, "Parcours IC", SYSTEM)
    assert version.provenance_kind == "pathway"
    assert version.provenance_ref == f"pathway-template-version:{template.current_version_id}"
    assert "Insuffisance cardiaque" in version.provenance_label
    assert "(version 1)" in version.provenance_label
    assert plan.draft_provenance is None
    content.objectives[0].title = "Autre titre"
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
    later = plan_services.publish_version(world.coord, plan, "Suite", SYSTEM)
    assert later.provenance_kind == ""


def test_start_refused_without_plan_wrong_role_or_foreign_template(world):
    template = published(world)
    with pytest.raises(NotFound):
        services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    open_plan(world)
    with pytest.raises(PermissionDenied):
        services.start_pathway(world.outsider, world.patient, template, START, SYSTEM)
    other = make_team("Équipe Vaise")
    coord2 = make_user(role="coordinator")
    add_member(other, coord2, "coordinator")
    foreign = services.create_template(coord2, heart_failure(), team=other)
    services.publish_template(coord2, foreign)
    with pytest.raises(InvalidInput, match="ni à l'équipe"):
        services.start_pathway(world.coord, world.patient, foreign, START, SYSTEM)
    assert _db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0


def test_retired_template_cannot_start_and_same_pathway_not_twice(world):
    open_plan(world)
    template = published(world)
    services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    with pytest.raises(Conflict, match="suit déjà"):
        services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    services.retire_template(world.coord, template)
    with pytest.raises(Conflict, match="pas publié"):
        services.start_pathway(world.coord, world.patient, template, START, SYSTEM)


def test_several_pathways_and_stop_cancels_or_keeps_open_actions(world):
    plan = open_plan(world)
    first = published(world)
    second = published(world, title="Personne âgée fragile", theme="Fragilité")
    kept = services.start_pathway(world.coord, world.patient, first, START, SYSTEM)
    stopped = services.start_pathway(world.coord, world.patient, second, START, SYSTEM)
    with pytest.raises(InvalidInput, match="conservées ou annulées"):
        services.stop_pathway(world.coord, stopped, "", "", SYSTEM)
    services.stop_pathway(world.coord, stopped, services.CANCEL_ACTIONS, "Entrée en EHPAD", SYSTEM)
    statuses = {a.key: a.status for _, a in load_content(plan.draft).actions()}
    for step in stopped.steps:
        assert all(statuses[k] == ActionStatus.CANCELLED for k in step["action_keys"])
    for step in kept.steps:
        assert all(statuses[k] == ActionStatus.PLANNED for k in step["action_keys"])
    services.stop_pathway(world.coord, kept, services.KEEP_ACTIONS, "", SYSTEM)
    statuses = {a.key: a.status for _, a in load_content(plan.draft).actions()}
    assert all(statuses[k] == ActionStatus.PLANNED for s in kept.steps for k in s["action_keys"])
    with pytest.raises(Conflict):
        services.stop_pathway(world.coord, kept, services.KEEP_ACTIONS, "", SYSTEM)
    # Stopped pathways are history: the template may start again.
    services.start_pathway(world.coord, world.patient, first, START, SYSTEM)


def test_timeline_states_done_due_late(world):
    plan = open_plan(world)
    template = published(world)
    pathway = services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    content = load_content(plan.draft)
    first_key = pathway.steps[0]["action_keys"][0]
    content.find_action(first_key)[1].status = ActionStatus.DONE
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
    [row] = queries.list_patient_pathways(world.patient.id, date(2026, 3, 30))
    assert [s.state for s in row.steps] == ["done", "late"]
    assert row.late_count == 1
    [row] = queries.list_patient_pathways(world.patient.id, date(2026, 3, 10))
    assert [s.state for s in row.steps] == ["done", "due"]


def test_timeline_query_count_is_constant(world, count_queries):
    open_plan(world)
    template = published(world)
    services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    patient_id = world.patient.id
    _db.session.expire_all()
    with count_queries() as one:
        queries.list_patient_pathways(patient_id, START)
    for n in range(3):
        other = published(world, title=f"Parcours {n}")
        services.start_pathway(world.coord, world.patient, other, START, SYSTEM)
    _db.session.expire_all()
    with count_queries() as four:
        rows = queries.list_patient_pathways(patient_id, START)
    assert len(rows) == 4
    assert len(four) == len(one) == 3  # pathways, the plan draft, the grids of the steps


def test_demo_templates_parse_and_start_at_different_stages(world):
    from ptap.pathways.demo import TEMPLATES

    for data in TEMPLATES:
        content = parse_content(data)
        assert content.steps and all(s.actions() for s in content.steps)
