"""Regression tests of the pathway review: honest step states, one signature per step, published
grids only, one query for the usable templates, bounded start date, reminder keys, audit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.core.errors import InvalidInput
from ptap.extensions import db as _db
from ptap.grids.models import AssessmentGrid, GridStatus
from ptap.pathways import queries, services
from ptap.pathways.models import PatientPathway
from ptap.pathways.tasks import step_item_key
from tests.care_plans.test_services import build_world, open_plan
from tests.conftest import csrf_token
from tests.filings.conftest import api_headers
from tests.pathways.conftest import NYHA
from tests.pathways.helpers import heart_failure
from tests.pathways.test_grids import _sign

START = date(2026, 3, 2)


@pytest.fixture
def world(db):
    return build_world()


def _published(w, content=None, **over):
    template = services.create_template(w.coord, content or heart_failure(**over), team=w.team)
    services.publish_template(w.coord, template)
    return template


def _set_status(w, plan, keys, status):
    content = load_content(plan.draft)
    for key in keys:
        content.find_action(key)[1].status = status
    plan_services.save_draft(w.coord, plan, content, plan.draft_revision, SYSTEM)


def _states(w, today):
    [row] = queries.list_patient_pathways(w.patient.id, today)
    return [s.state for s in row.steps]


# --- 1. a step is done only when all its actions are done -------------------------------------


def test_a_cancelled_action_does_not_make_its_step_done(world):
    plan = open_plan(world)
    pathway = services.start_pathway(world.coord, world.patient, _published(world), START, SYSTEM)
    _set_status(world, plan, pathway.steps[0]["action_keys"], ActionStatus.CANCELLED)
    assert _states(world, date(2026, 3, 5)) == ["due", "due"]
    assert _states(world, date(2026, 3, 30)) == ["late", "late"]
    _set_status(world, plan, pathway.steps[0]["action_keys"], ActionStatus.DONE)
    assert _states(world, date(2026, 3, 30)) == ["done", "late"]


def test_an_action_deleted_from_the_draft_does_not_make_its_step_done(world):
    plan = open_plan(world)
    pathway = services.start_pathway(world.coord, world.patient, _published(world), START, SYSTEM)
    content = load_content(plan.draft)
    objective, action = content.find_action(pathway.steps[0]["action_keys"][0])
    objective.actions.remove(action)
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
    assert _states(world, date(2026, 3, 30))[0] == "late"
    assert (
        queries.late_steps_by_patient([world.patient.id], date(2026, 3, 30))[world.patient.id][0]
        == 2
    )


def test_stopping_with_cancel_shows_steps_stopped_never_done(world):
    plan = open_plan(world)
    pathway = services.start_pathway(world.coord, world.patient, _published(world), START, SYSTEM)
    _set_status(world, plan, pathway.steps[0]["action_keys"], ActionStatus.DONE)
    services.stop_pathway(world.coord, pathway, services.CANCEL_ACTIONS, "", SYSTEM)
    [row] = queries.list_patient_pathways(world.patient.id, date(2026, 3, 30))
    assert [s.state for s in row.steps] == ["done", "stopped"]
    assert [s.state_label for s in row.steps] == ["Fait", "Arrêté"]
    assert row.late_count == 0


def test_stopped_steps_show_arrete_on_the_page(client, auth, db):
    w = build_world()
    open_plan(w)
    pathway = services.start_pathway(w.coord, w.patient, _published(w), START, SYSTEM)
    services.stop_pathway(w.coord, pathway, services.CANCEL_ACTIONS, "", SYSTEM)
    db.session.commit()
    auth.login(w.nurse)
    page = client.get(f"/patients/{w.patient.id}/pathways")
    assert page.text.count(">Arrêté</span>") == 3  # the pathway and its two steps
    assert ">Fait</span>" not in page.text


def test_a_step_with_neither_action_nor_grid_is_refused_at_publish(world):
    data = heart_failure().model_dump(mode="json")
    data["steps"].append({"key": "s3", "title": "Bilan", "offset_days": 30})
    template = services.create_template(
        world.coord, heart_failure(steps=data["steps"]), team=world.team
    )
    with pytest.raises(InvalidInput) as error:
        services.publish_template(world.coord, template)
    assert error.value.field == "steps.2.objectives"
    assert "Étape 3" in str(error.value)
    assert template.current_version_id is None


def test_an_older_step_with_neither_action_nor_grid_is_never_done():
    steps = [{"key": "s", "title": "Bilan", "due_on": "2026-03-10", "action_keys": []}]
    [early] = queries.step_rows(steps, {}, date(2026, 3, 2), started_on=START)
    [late] = queries.step_rows(steps, {}, date(2026, 3, 20), started_on=START)
    assert (early.state, late.state) == ("due", "late")


# --- 2. one signature counts for one step -----------------------------------------------------


def _two_evaluations():
    """Two steps naming the same grid: at the start, then three months later."""
    data = heart_failure().model_dump(mode="json")
    data["steps"][0]["offset_days"] = 0
    data["steps"][0]["grid_key"] = NYHA
    data["steps"][1]["offset_days"] = 90
    data["steps"][1]["offset_from"] = "start"
    return heart_failure(steps=data["steps"])


def test_a_day_one_signature_does_not_complete_the_month_three_reevaluation(world):
    plan = open_plan(world)
    template = _published(world, _two_evaluations())
    pathway = services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    keys = [k for s in pathway.steps for k in s["action_keys"]]
    _set_status(world, plan, keys, ActionStatus.DONE)
    grid_id = _db.session.scalar(sa.select(AssessmentGrid.id).filter_by(key=NYHA))
    _sign(world.patient.id, grid_id, world.nurse.id, datetime(2026, 2, 20, 9, tzinfo=UTC))
    assert _states(world, date(2026, 6, 5)) == ["late", "late"]  # before the start: nothing
    _sign(world.patient.id, grid_id, world.nurse.id, datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert _states(world, date(2026, 6, 5)) == ["done", "late"]
    assert (
        queries.late_steps_by_patient([world.patient.id], date(2026, 6, 5))[world.patient.id][0]
        == 1
    )
    _sign(world.patient.id, grid_id, world.nurse.id, datetime(2026, 5, 30, 9, tzinfo=UTC))
    [row] = queries.list_patient_pathways(world.patient.id, date(2026, 6, 5))
    assert [s.state for s in row.steps] == ["done", "done"]
    assert all(s.grid_done for s in row.steps)


# --- 3. a step's grid must be published at publish --------------------------------------------


def test_publish_refuses_a_step_naming_an_unpublished_grid(world):
    grid = _db.session.scalar(sa.select(AssessmentGrid).filter_by(key=NYHA))
    grid.status = GridStatus.DRAFT
    _db.session.flush()
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    with pytest.raises(InvalidInput) as error:
        services.publish_template(world.coord, template)
    assert error.value.field == "steps.1.grid_key"
    assert "n'est pas publiée" in str(error.value)
    assert template.current_version_id is None
    grid.status = GridStatus.PUBLISHED
    _db.session.flush()
    assert services.publish_template(world.coord, template) is not None


# --- 4. the patient page lists usable templates in one query ----------------------------------


def test_patient_page_query_count_does_not_grow_with_templates(client, auth, db, count_queries):
    w = build_world()
    open_plan(w)
    _published(w, title="Parcours 0")
    db.session.commit()
    auth.login(w.nurse)
    url = f"/patients/{w.patient.id}/pathways"
    client.get(url)
    with count_queries() as one:
        first = client.get(url)
    for n in range(1, 4):
        _published(w, title=f"Parcours {n}")
    db.session.commit()
    with count_queries() as four:
        page = client.get(url)
    assert first.text.count("<option value=") == 1
    assert page.text.count("<option value=") == 4
    assert len(four) == len(one)


def test_usable_templates_exclude_other_teams_and_retired(world):
    mine = _published(world, title="Le nôtre")
    retired = _published(world, title="Retiré")
    services.retire_template(world.coord, retired)
    draft = services.create_template(world.coord, heart_failure(title="Brouillon"), team=world.team)
    assert draft.current_version_id is None
    assert [t.id for t in queries.usable_templates(world.coord.id, world.patient.id)] == [mine.id]


# --- 5. the start date is bounded -------------------------------------------------------------


def test_a_far_start_date_is_a_french_error_on_the_field(world):
    open_plan(world)
    template = _published(world)
    with pytest.raises(InvalidInput) as error:
        services.start_pathway(world.coord, world.patient, template, date(9999, 12, 31), SYSTEM)
    assert error.value.field == "started_on"
    assert "deux ans" in str(error.value)
    assert _db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0


def test_a_far_start_date_is_refused_by_the_page_and_the_api(client, auth, db):
    w = build_world()
    open_plan(w)
    template = _published(w)
    db.session.commit()
    url = f"/patients/{w.patient.id}/pathways"
    api = client.post(
        f"/api/v1{url}",
        json={"template_id": template.id, "started_on": "9999-12-31"},
        headers=api_headers(w.nurse),
    )
    assert api.status_code == 422
    assert "deux ans" in api.text
    auth.login(w.nurse)
    token = csrf_token(client, url)
    for op in ("preview", "start"):
        page = client.post(
            url,
            data={
                "csrf_token": token,
                "template_id": str(template.id),
                "started_on": "9999-12-31",
                "op": op,
            },
        )
        assert page.status_code == 422
        assert "deux ans" in page.text
        assert 'value="9999-12-31"' in page.text
    assert db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0


# --- 6. reminder keys never collide -----------------------------------------------------------


def test_reminder_item_keys_of_long_step_keys_do_not_collide():
    a, b = "x" * 30 + "a", "x" * 30 + "b"
    assert step_item_key(7, a) != step_item_key(7, b)
    assert step_item_key(7, a) != step_item_key(8, a)
    assert all(len(step_item_key(123456, k)) <= 32 for k in (a, b))
    assert step_item_key(7, "s1") == "p7:s1"  # short keys unchanged (earlier logs still match)


# --- 7. template lifecycle is audited ---------------------------------------------------------


def test_template_create_publish_retire_are_audited(client, db):
    w = build_world()
    db.session.commit()
    headers = api_headers(w.coord)
    content = heart_failure().model_dump(mode="json")
    created = client.post(
        "/api/v1/pathway-templates",
        json={"team_id": w.team.id, "content": content},
        headers=headers,
    )
    tid = created.json["id"]
    client.post(f"/api/v1/pathway-templates/{tid}/publish", headers=headers)
    client.post(f"/api/v1/pathway-templates/{tid}/retire", headers=headers)
    events = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.reason)
        .where(AuditEvent.object_type == "pathway_template", AuditEvent.object_id == str(tid))
        .order_by(AuditEvent.id)
    ).all()
    assert [(a, r) for a, _, r in events] == [
        ("pathway_template.create", ""),
        ("pathway_template.publish", "v1"),
        ("pathway_template.retire", ""),
    ]
    assert {actor for _, actor, _ in events} == {w.coord.id}
