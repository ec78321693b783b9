"""A pathway step names an assessment grid: the key must exist, the timeline links to filling
it and counts the step done only once a signed assessment follows the start, FHIR round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.core.errors import InvalidInput
from ptap.extensions import db as _db
from ptap.grids.definition import parse_definition
from ptap.grids.fhir import questionnaire, questionnaire_url
from ptap.grids.models import Assessment, AssessmentGrid, AssessmentStatus
from ptap.pathways import queries, services
from ptap.pathways.fhir import export_plan_definition, import_plan_definition
from ptap.pathways.models import PathwayTemplate, TemplateStatus
from tests.care_plans.test_services import build_world, open_plan
from tests.conftest import csrf_token
from tests.filings.conftest import api_headers
from tests.pathways.conftest import NYHA, make_grid
from tests.pathways.helpers import heart_failure

START = date(2026, 3, 2)


@pytest.fixture
def world(db):
    return build_world()


def _without_grid_step2(**over):
    data = heart_failure(**over).model_dump(mode="json")
    data["steps"][1]["grid_key"] = "inconnue"
    return heart_failure(steps=data["steps"], **over)


def test_a_step_naming_no_grid_is_refused_in_french_and_nothing_is_created(world):
    with pytest.raises(InvalidInput) as error:
        services.create_template(world.coord, _without_grid_step2(), team=world.team)
    assert error.value.field == "steps.1.grid_key"
    assert "aucune grille ne porte la clé « inconnue »" in str(error.value)
    assert _db.session.scalar(sa.select(sa.func.count(PathwayTemplate.id))) == 0
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    with pytest.raises(InvalidInput):
        services.save_template_draft(world.coord, template, _without_grid_step2())
    assert template.draft["steps"][1]["grid_key"] == NYHA


def _sign(patient_id: int, grid_id: int, author_id: int, when: datetime) -> None:
    version_id = _db.session.execute(
        sa.text("SELECT id FROM assessment_grid_versions WHERE grid_id = :g"), {"g": grid_id}
    ).scalar_one()
    _db.session.add(
        Assessment(
            patient_id=patient_id,
            grid_id=grid_id,
            grid_version_id=version_id,
            author_id=author_id,
            status=AssessmentStatus.SIGNED,
            answers={},
            score=1,
            created_at=when,
            updated_at=when,
            signed_at=when,
        )
    )
    _db.session.flush()


def _finish_actions(world, plan):
    content = load_content(plan.draft)
    for _, action in content.actions():
        action.status = ActionStatus.DONE
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)


def test_a_grid_step_is_done_only_with_a_signed_assessment_after_the_start(world):
    plan = open_plan(world)
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    services.publish_template(world.coord, template)
    services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    _finish_actions(world, plan)
    grid_id = _db.session.execute(
        sa.text("SELECT id FROM assessment_grids WHERE key = :k"), {"k": NYHA}
    ).scalar_one()
    today = date(2026, 6, 1)
    # Signed before the pathway started: does not count.
    _sign(world.patient.id, grid_id, world.nurse.id, datetime(2026, 2, 1, 10, tzinfo=UTC))
    [row] = queries.list_patient_pathways(world.patient.id, today)
    first, second = row.steps
    assert first.state == "done"
    assert second.state == "late" and not second.grid_done
    assert second.grid is not None and second.grid.title == "Classe fonctionnelle NYHA"
    assert queries.late_steps_by_patient([world.patient.id], today)[world.patient.id][0] == 1
    _sign(world.patient.id, grid_id, world.nurse.id, datetime(2026, 3, 20, 10, tzinfo=UTC))
    [row] = queries.list_patient_pathways(world.patient.id, today)
    assert row.steps[1].state == "done" and row.steps[1].grid_done
    assert queries.late_steps_by_patient([world.patient.id], today) == {}


def test_timeline_with_grids_keeps_a_constant_query_count(world, count_queries):
    open_plan(world)
    grid_ids = []
    for n in range(3):
        grid_ids.append(make_grid(f"grille-{n}", f"Grille {n}").id)
    template = services.create_template(world.coord, heart_failure(), team=world.team)
    services.publish_template(world.coord, template)
    services.start_pathway(world.coord, world.patient, template, START, SYSTEM)
    patient_id = world.patient.id
    _db.session.expire_all()
    with count_queries() as one:
        queries.list_patient_pathways(patient_id, START)
    for n in range(3):
        data = heart_failure(title=f"Parcours {n}").model_dump(mode="json")
        data["steps"][0]["grid_key"] = f"grille-{n}"
        other = services.create_template(
            world.coord, heart_failure(title=f"Parcours {n}", steps=data["steps"]), team=world.team
        )
        services.publish_template(world.coord, other)
        services.start_pathway(world.coord, world.patient, other, START, SYSTEM)
        _sign(world.patient.id, grid_ids[n], world.nurse.id, datetime(2026, 3, 5, 9, tzinfo=UTC))
    _db.session.expire_all()
    with count_queries() as four:
        rows = queries.list_patient_pathways(patient_id, START)
    assert len(rows) == 4
    assert len(four) == len(one) == 3


def test_timeline_page_links_to_filling_the_grid(client, auth, db):
    w = build_world()
    open_plan(w)
    template = services.create_template(w.coord, heart_failure(), team=w.team)
    services.publish_template(w.coord, template)
    services.start_pathway(w.coord, w.patient, template, START, SYSTEM)
    db.session.commit()
    grid_id = db.session.execute(
        sa.text("SELECT id FROM assessment_grids WHERE key = :k"), {"k": NYHA}
    ).scalar_one()
    auth.login(w.nurse)
    page = client.get(f"/patients/{w.patient.id}/pathways")
    assert page.status_code == 200
    assert "Grille à remplir" in page.text and "Classe fonctionnelle NYHA" in page.text
    assert f'action="/patients/{w.patient.id}/assessments"' in page.text
    assert f'name="grid_id" value="{grid_id}"' in page.text
    started = client.post(
        f"/patients/{w.patient.id}/assessments",
        data={
            "csrf_token": csrf_token(client, f"/patients/{w.patient.id}/pathways"),
            "grid_id": str(grid_id),
        },
    )
    assert started.status_code == 302 and "/assessments/" in started.headers["Location"]


def test_editor_offers_the_grids_by_title(client, auth, db):
    w = build_world()
    template = services.create_template(w.coord, heart_failure(), team=w.team)
    db.session.commit()
    auth.login(w.coord)
    page = client.get(f"/pathway-templates/{template.id}")
    assert f'<option value="{NYHA}" selected>Classe fonctionnelle NYHA</option>' in page.text


def test_api_refuses_an_unknown_grid_with_a_french_422(client, db):
    w = build_world()
    db.session.commit()
    content = _without_grid_step2().model_dump(mode="json")
    answer = client.post(
        "/api/v1/pathway-templates",
        json={"team_id": w.team.id, "content": content},
        headers=api_headers(w.coord),
    )
    assert answer.status_code == 422
    assert "aucune grille" in answer.json["detail"]
    assert "steps.1.grid_key" in str(answer.json)
    assert db.session.scalar(sa.select(sa.func.count(PathwayTemplate.id))) == 0


def test_fhir_references_the_grid_questionnaire_and_import_resolves_it(world):
    resource = export_plan_definition(heart_failure(), status=TemplateStatus.PUBLISHED)
    grid = _db.session.scalar(sa.select(AssessmentGrid).where(AssessmentGrid.key == NYHA))
    exported = questionnaire(NYHA, parse_definition(grid.draft), 1, "published")
    canonicals = [s.get("definitionCanonical") for s in resource["action"][1]["action"]]
    assert exported["url"] == questionnaire_url(NYHA) in canonicals
    # A versioned canonical (as a QuestionnaireResponse cites it) resolves to the same grid.
    resource["action"][1]["action"][-1]["definitionCanonical"] = f"{exported['url']}|1"
    assert import_plan_definition(resource).steps[1].grid_key == NYHA
    template = services.import_template(world.coord, resource, team=world.team)
    assert template.draft["steps"][1]["grid_key"] == NYHA
    resource["action"][1]["action"][-1]["definitionCanonical"] = questionnaire_url("absente")
    with pytest.raises(InvalidInput) as error:
        services.import_template(world.coord, resource, team=world.team)
    assert error.value.field == "steps.1.grid_key"
