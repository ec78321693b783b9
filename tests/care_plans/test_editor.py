"""The one-page draft editor: inline rows (htmx and plain POST), the action completeness rule,
the coordinators' "Actions à définir" list, and the progress bar of every lifecycle state."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import Action, ActionStatus, Objective, PlanContent
from ptap.care_plans.models import CarePlan
from ptap.core.errors import InvalidInput, PermissionDenied
from tests.care_plans.test_views import (
    HTMX,
    current_step,
    draft,
    draft_form,
    enrolment,
    make_plan,
    plan_url,
    text,
)
from tests.conftest import AuthActions
from tests.factories import add_member, make_patient, make_team, make_user


@pytest.fixture
def org(db):
    """A team (coordinating nurse, GP, nurse), a patient it follows, and people outside it."""
    team = make_team("Équipe Lyon Nord")
    coord = make_user(role="coordinator", profession="nurse")
    gp = make_user(profession="physician")
    nurse = make_user(profession="nurse")
    for user, role in ((coord, "coordinator"), (gp, "member"), (nurse, "member")):
        add_member(team, user, role)
    outsider = make_user(profession="nurse")
    add_member(make_team("Équipe Villeurbanne"), outsider)
    patient = make_patient(team, coord)
    return SimpleNamespace(
        team=team, coord=coord, gp=gp, nurse=nurse, outsider=outsider, patient=patient
    )


UNDATED = Action(key="undated", what="Portage des repas", assignee_label="CCAS de Lyon")


def _objective_with(*actions: Action) -> list[Objective]:
    return [Objective(key="obj1", title="Prévenir les chutes", actions=list(actions))]


# --- the rule --------------------------------------------------------------------------------


def test_publishing_an_incomplete_action_is_refused_naming_it(db, org):
    plan = make_plan(db, org, objectives=_objective_with(UNDATED))
    with pytest.raises(InvalidInput) as refused:
        services.publish_version(org.coord, plan, "v1", SYSTEM, complete_actions=True)
    assert "« Portage des repas »" in refused.value.message
    assert "n'a pas d'échéance" in refused.value.message and "À définir" in refused.value.message
    db.session.rollback()
    assert draft(db, plan).find_action("undated") is not None  # nothing lost
    assert db.session.get(CarePlan, plan.id).current_version is None


@pytest.mark.parametrize(
    "action",
    [
        Action(key="a", what="Kiné", assignee_label="Cabinet Kiné", due_on=date(2030, 1, 1)),
        Action(key="a", what="Kiné", to_define=True),
        Action(key="a", what="Kiné", status="done"),  # closed follow-up: nothing to plan
    ],
)
def test_complete_or_to_define_actions_publish(db, org, action):
    plan = make_plan(db, org, objectives=_objective_with(action))
    version = services.publish_version(org.coord, plan, "v1", SYSTEM, complete_actions=True)
    assert version is not None and version.number == 1


def test_an_action_without_anyone_says_so(db, org):
    nobody = Action(key="n", what="Téléassistance", due_on=date(2030, 1, 1))
    plan = make_plan(db, org, objectives=_objective_with(nobody))
    with pytest.raises(InvalidInput, match="intervenant"):
        services.publish_version(org.coord, plan, "v1", SYSTEM, complete_actions=True)


def test_to_define_false_keeps_the_digest_of_older_contents():
    content = PlanContent(objectives=_objective_with(UNDATED))
    assert "to_define" not in content.canonical()
    marked = content.model_copy(deep=True)
    marked.objectives[0].actions[0].to_define = True
    assert marked.digest() != content.digest()


# --- "Actions à définir" ------------------------------------------------------------------


def test_coordinator_lists_actions_to_define_of_their_teams_only(db, org):
    make_plan(
        db,
        org,
        objectives=_objective_with(
            Action(key="tbd", what="Aide à domicile", to_define=True),
            Action(key="done", what="Ancienne action", to_define=True, status="done"),
        ),
    )
    other_coord = make_user(role="coordinator", profession="nurse")
    other_team = make_team("Équipe Bron")
    add_member(other_team, other_coord, "coordinator")
    other_patient = make_patient(other_team, other_coord)
    other_plan = services.create_plan(other_coord, enrolment(db, other_patient), SYSTEM)
    content = PlanContent(
        lead_user_id=other_coord.id,
        objectives=_objective_with(Action(key="x", what="Secret de Bron", to_define=True)),
    )
    services.save_draft(other_coord, other_plan, content, other_plan.draft_revision, SYSTEM)
    db.session.commit()

    rows = services.list_actions_to_define(org.coord)
    assert [(r.patient_id, r.what) for r in rows] == [(org.patient.id, "Aide à domicile")]
    assert [r.what for r in services.list_actions_to_define(other_coord)] == ["Secret de Bron"]
    with pytest.raises(PermissionDenied):
        services.list_actions_to_define(org.nurse)  # a member, not a coordinator


def test_closed_plans_leave_the_list(db, org):
    plan = make_plan(db, org, objectives=_objective_with(Action(key="t", what="A", to_define=True)))
    services.close_plan(org.coord, plan, "Fin du suivi", SYSTEM)
    db.session.commit()
    assert services.list_actions_to_define(org.coord) == []


def test_to_define_page_reachable_from_tasks_for_coordinators_only(db, client, auth, org):
    make_plan(db, org, objectives=_objective_with(Action(key="t", what="Aide", to_define=True)))
    auth.login(org.coord)
    assert "/tasks/to-define" in text(client.get("/tasks"))
    page = text(client.get("/tasks/to-define"))
    assert "Aide" in page and "Prévenir les chutes" in page
    nurse = AuthActions(client.application.test_client())
    nurse.login(org.nurse)
    assert "/tasks/to-define" not in text(nurse.client.get("/tasks"))
    assert nurse.client.get("/tasks/to-define").status_code == 403


# --- inline rows -----------------------------------------------------------------------------


def _editor(client, org) -> dict[str, str]:
    return draft_form(client.get(plan_url(org, "/edit")).get_data(as_text=True))


def test_htmx_adds_a_row_named_after_the_posted_ones_without_saving(db, client, auth, org):
    plan = make_plan(db, org)
    revision = plan.draft_revision
    auth.login(org.nurse)
    form = _editor(client, org)
    answer = auth.post(plan_url(org, "/edit/rows"), {**form, "add_row": "problems"}, headers=HTMX)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'name="problems-1-description"' in body and "<html" not in body
    assert 'data-focus="#problems-1-dimension"' in body
    assert 'for="problems-1-description"' in body  # every input labelled

    add_action = {**form, "add_row": "objectives-0-actions"}
    body = auth.post(plan_url(org, "/edit/rows"), add_action, headers=HTMX).get_data(as_text=True)
    assert 'name="objectives-0-actions-1-what"' in body
    assert 'id="objectives-0-actions-1-to_define"' in body
    assert db.session.get(CarePlan, plan.id).draft_revision == revision


def test_htmx_remove_answers_empty_and_unknown_rows_are_404(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.nurse)
    form = _editor(client, org)
    removed = auth.post(
        plan_url(org, "/edit/rows"), {**form, "remove_row": "problems-0"}, headers=HTMX
    )
    assert (removed.status_code, removed.get_data(as_text=True)) == (200, "")
    bad = auth.post(plan_url(org, "/edit/rows"), {**form, "add_row": "users"}, headers=HTMX)
    assert bad.status_code == 404


def test_outsider_cannot_ask_for_rows(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.outsider)
    answer = auth.post(plan_url(org, "/edit/rows"), {"add_row": "problems"}, headers=HTMX)
    assert answer.status_code in (403, 404)


def test_no_js_adds_an_action_then_saves_it_with_the_rest(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    form = _editor(client, org)
    page = auth.post(plan_url(org, "/edit"), {**form, "add_row": "objectives-0-actions"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'name="objectives-0-actions-1-what"' in body
    assert draft(db, plan).find_action("act1") is not None
    assert len(draft(db, plan).actions()) == 1  # nothing saved yet

    again = draft_form(body)
    again.update(
        {
            "objectives-0-actions-1-what": "Aide ménagère",
            "objectives-0-actions-1-action_type": "social_support",
            "objectives-0-actions-1-to_define": "y",
        }
    )
    saved = auth.post(plan_url(org, "/edit"), again)
    assert saved.status_code == 302
    actions = [a for _, a in draft(db, plan).actions()]
    assert [(a.what, a.to_define) for a in actions] == [
        ("Bilan kiné", False),
        ("Aide ménagère", True),
    ]
    assert actions[0].due_on == date(2030, 5, 1)  # kept through the form


def test_no_js_removes_an_action(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    form = _editor(client, org)
    page = auth.post(plan_url(org, "/edit"), {**form, "remove_row": "objectives-0-actions-0"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "objectives-0-actions-0-what" not in body
    assert auth.post(plan_url(org, "/edit"), draft_form(body)).status_code == 302
    assert draft(db, plan).actions() == []


def test_saving_keeps_the_action_status_and_warns_when_incomplete(db, client, auth, org):
    plan = make_plan(db, org)
    content = draft(db, plan)
    content.objectives[0].actions[0].status = ActionStatus.IN_PROGRESS
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    db.session.commit()
    auth.login(org.nurse)
    form = _editor(client, org)
    form["objectives-0-actions-0-due_on"] = ""
    assert auth.post(plan_url(org, "/edit"), form).status_code == 302
    body = text(client.get(plan_url(org)))
    assert "Attention : 1 action sans intervenant ou sans échéance" in body
    action = draft(db, plan).find_action("act1")[1]
    assert (action.status, action.due_on) == ("in_progress", None)


def test_publishing_from_the_editor_refuses_an_incomplete_action_and_keeps_the_draft(
    db, client, auth, org
):
    plan = make_plan(db, org)
    auth.login(org.coord)
    form = _editor(client, org)
    form.update({"objectives-0-actions-0-due_on": "", "summary": "v1", "next": "publish"})
    refused = auth.post(plan_url(org, "/edit"), form)
    body = text(refused)
    assert refused.status_code == 422
    assert "Brouillon enregistré, mais non publié" in body and "« Bilan kiné »" in body
    assert draft(db, plan).find_action("act1")[1].due_on is None  # saved, not lost
    assert db.session.get(CarePlan, plan.id).current_version is None

    form = draft_form(body)
    form.update({"objectives-0-actions-0-to_define": "y", "next": "publish"})
    assert auth.post(plan_url(org, "/edit"), form).status_code == 302
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).current_version.number == 1


def test_plan_page_publish_is_refused_for_an_incomplete_action(db, client, auth, org):
    make_plan(db, org, objectives=_objective_with(UNDATED))
    auth.login(org.coord)
    response = auth.post(plan_url(org, "/versions"), {"summary": "v1"})
    assert response.status_code == 422
    assert "L'action « Portage des repas »" in text(response)


# --- the progress bar ------------------------------------------------------------------------


def _step(db, client, org, tail: str = "") -> tuple[str, str]:
    db.session.commit()
    body = text(client.get(plan_url(org, tail)))
    todo = (
        body.split("À faire :</strong>", 1)[1].split("</p>", 1)[0].strip()
        if "À faire :" in body
        else ""
    )
    return current_step(body), todo


def test_progress_bar_follows_the_true_lifecycle(db, client, auth, org):
    org.patient.gp_user_id = org.gp.id
    plan = make_plan(db, org)
    auth.login(org.coord)
    lead = org.coord.full_name
    assert _step(db, client, org) == (
        "Brouillon",
        f"Publication de la version par {lead} (responsable du plan)",
    )
    assert _step(db, client, org, "/edit")[0] == "Brouillon"

    services.publish_version(org.coord, plan, "v1", SYSTEM)
    step, todo = _step(db, client, org)
    assert (step, todo) == (
        "Publiée",
        f"Validation attendue du Dr {org.gp.full_name} (médecin traitant)",
    )
    assert _step(db, client, org, "/edit")[0] == "Publiée"  # the editor shows the true state

    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    step, todo = _step(db, client, org)
    assert step == "Validée par le médecin" and todo.startswith("Accord de ")

    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    assert _step(db, client, org) == (
        "Accord de la personne",
        f"Mise en vigueur par {lead} (responsable du plan)",
    )

    services.activate_plan(org.coord, plan, SYSTEM)
    assert _step(db, client, org) == ("En vigueur", "")

    services.start_revision(org.coord, plan, SYSTEM)
    db.session.commit()
    body = text(client.get(plan_url(org)))
    assert "Révision en cours" in body and current_step(body) == "Brouillon"
    assert "Publication de la révision par" in body

    services.close_plan(org.coord, plan, "Fin", SYSTEM)
    db.session.commit()
    body = text(client.get(plan_url(org)))
    assert current_step(body) == "Clos" and "À faire :" not in body


def test_progress_bar_of_a_plan_in_force_after_a_follow_up_version(db, client, auth, org):
    """A follow-up version (action statuses) of a plan in force carries no approvals of its
    own: the plan is still validated and agreed, the bar must not show those steps to come."""
    org.patient.gp_user_id = org.gp.id
    plan = make_plan(db, org)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(org.coord, plan, SYSTEM)
    content = draft(db, plan)
    objective, action = content.actions()[0]
    action.status = ActionStatus.DONE
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    assert services.publish_version(org.coord, plan, "Suivi", SYSTEM) is not None
    db.session.commit()
    auth.login(org.coord)
    body = text(client.get(plan_url(org)))
    assert current_step(body) == "En vigueur"
    bar = body.split('class="progress-steps"', 1)[1].split("</ol>", 1)[0]
    assert "(à venir)" not in bar and bar.count("(étape franchie)") == 4


def test_progress_bar_is_an_ordered_list_with_words_not_only_colour(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.nurse)
    body = text(client.get(plan_url(org)))
    bar = body.split('class="progress-steps"', 1)[1].split("</ol>", 1)[0]
    assert bar.count("<li") == 5 and bar.count('aria-current="step"') == 1
    assert "(étape actuelle)" in bar and "(à venir)" in bar
