"""Care-plan pages: status codes, permissions, htmx fragments, conflicts, lifecycle, tasks."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import notify
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import (
    Action,
    ActionStatus,
    Objective,
    PlanContent,
    Problem,
    load_content,
)
from ptap.care_plans.documents import load_sources, version_document
from ptap.care_plans.fhir import version_bundle
from ptap.care_plans.models import CarePlan, PlanApproval
from ptap.care_teams.models import BreakGlassAccess, Enrolment
from ptap.core.models import utcnow
from tests.conftest import AuthActions, csrf_token
from tests.factories import add_member, make_patient, make_team, make_user

HTMX = {"HX-Request": "true"}


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


def enrolment(db, patient) -> Enrolment:
    return db.session.scalars(sa.select(Enrolment).filter_by(patient_id=patient.id)).one()


def make_plan(db, org, **content: Any) -> CarePlan:
    """Create the patient's plan with a problem, an objective with one action, and `content`."""
    plan = services.create_plan(org.coord, enrolment(db, org.patient), SYSTEM)
    data = PlanContent(
        lead_user_id=org.coord.id,
        problems=[Problem(key="pb1", dimension="medical", description="Chutes répétées")],
        expectations="Rester chez moi",
        objectives=[
            Objective(
                key="obj1",
                title="Prévenir les chutes",
                problem_keys=["pb1"],
                actions=[
                    Action(
                        key="act1",
                        what="Bilan kiné",
                        assignee_user_id=org.nurse.id,
                        due_on=date(2030, 5, 1),
                    )
                ],
            )
        ],
        next_review_on=date(2030, 6, 1),
    ).model_copy(update=content)
    services.save_draft(org.coord, plan, data, plan.draft_revision, SYSTEM)
    db.session.commit()
    return plan


def current_step(page: str) -> str:
    """Return the label of the progress bar's step marked aria-current="step"."""
    found = re.search(
        r'aria-current="step">\s*<span class="progress-mark"[^>]*>[^<]*</span>\s*'
        r'<span class="progress-label">([^<]+)</span>',
        page,
    )
    assert found, "no current step"
    return html.unescape(found.group(1))


def text(response) -> str:
    """Return the page's text with HTML entities decoded (French apostrophes are escaped)."""
    return html.unescape(response.get_data(as_text=True))


def plan_url(org, tail: str = "") -> str:
    return f"/patients/{org.patient.id}/care-plan{tail}"


def draft(db, plan: CarePlan) -> PlanContent:
    db.session.expire_all()
    return load_content(db.session.get(CarePlan, plan.id).draft)


# --- the plan page ---------------------------------------------------------------------------


def test_plan_page_shows_the_four_parts_and_audits_the_read(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.nurse)
    response = client.get(plan_url(org))
    body = text(response)
    assert response.status_code == 200
    for heading in (
        "1. Informations générales",
        "2. Synthèse de la situation",
        "3. Plan d'action",
        "4. Objectifs partagés non atteints",
    ):
        assert heading in body
    assert "Chutes répétées" in body and "Rester chez moi" in body and "Bilan kiné" in body
    reads = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "patient.read",
            AuditEvent.actor_id == org.nurse.id,
            AuditEvent.patient_id == org.patient.id,
        )
    ).all()
    assert any("care_plan" in e.reason for e in reads)


def test_plan_page_refused_to_outsider_404(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.outsider)
    assert client.get(plan_url(org)).status_code == 404
    assert client.get(plan_url(org, "/versions")).status_code == 404


@pytest.mark.parametrize("role", ["admin", "ars_analyst"])
def test_plan_page_refused_to_admin_and_ars_403(db, client, auth, org, role):
    make_plan(db, org)
    auth.login(make_user(role=role, profession="other"))
    assert client.get(plan_url(org)).status_code == 403
    assert client.get("/tasks").status_code == 403


def test_overdue_action_has_a_text_marker(db, client, auth, org):
    late = Action(key="late", what="Visite APA", due_on=date(2020, 1, 2))
    objective = Objective(key="o", title="Bouger", actions=[late])
    make_plan(db, org, objectives=[objective])
    auth.login(org.nurse)
    body = text(client.get(plan_url(org)))
    row = body[body.index('id="action-late"') :][:800]
    assert "action-overdue" in body and "En retard" in row


# --- creating the plan -----------------------------------------------------------------------


def test_coordinator_creates_the_plan(db, client, auth, org):
    auth.login(org.coord)
    assert "Créer le plan" in text(client.get(plan_url(org)))
    response = auth.post(plan_url(org))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(plan_url(org))
    plan = db.session.scalars(sa.select(CarePlan)).one()
    assert plan.patient_id == org.patient.id


def test_plain_member_cannot_create_the_plan(db, client, auth, org):
    auth.login(org.nurse)
    assert "Créer le plan" not in text(client.get(plan_url(org)))
    assert auth.post(plan_url(org)).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarePlan)) == 0


# --- inline action plan ----------------------------------------------------------------------


def action_form(objective_key: str, what: str, **more: str) -> dict[str, str]:
    prefix = f"a-{objective_key}-"
    data = {"what": what, "action_type": "care", "assignee_user_id": "", "due_on": ""}
    data.update(more)
    return {prefix + k: v for k, v in data.items()}


def test_add_action_with_htmx_returns_the_objective_fragment(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    form = action_form("obj1", "Portage des repas", assignee_user_id=str(org.gp.id))
    response = auth.post(plan_url(org, "/objectives/obj1/actions"), form, headers=HTMX)
    body = text(response)
    assert response.status_code == 200
    assert "Portage des repas" in body and 'id="objective-obj1"' in body
    assert "<html" not in body
    assert [a.what for _, a in draft(db, plan).actions()] == ["Bilan kiné", "Portage des repas"]


def test_add_action_without_javascript_redirects_to_the_plan(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    response = auth.post(plan_url(org, "/objectives/obj1/actions"), action_form("obj1", "Kiné"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(plan_url(org) + "#objective-obj1")
    assert len(draft(db, plan).actions()) == 2


def test_add_action_invalid_returns_the_form_with_its_error(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    response = auth.post(
        plan_url(org, "/objectives/obj1/actions"), action_form("obj1", ""), headers=HTMX
    )
    assert response.status_code == 422
    assert "Décrivez l'action." in text(response)
    assert len(draft(db, plan).actions()) == 1


def test_htmx_post_needs_the_csrf_token(db, client, auth, org):
    make_plan(db, org)
    auth.login(org.nurse)
    response = client.post(
        plan_url(org, "/objectives/obj1/actions"), data=action_form("obj1", "X"), headers=HTMX
    )
    assert response.status_code == 400
    token = csrf_token(client, "/account")
    response = client.post(
        plan_url(org, "/objectives/obj1/actions"),
        data=action_form("obj1", "X"),
        headers={**HTMX, "X-CSRFToken": token},
    )
    assert response.status_code == 200


def status_form(action: Action, status: str, reason: str = "") -> dict[str, str]:
    prefix = f"s-{action.key}-"
    return {
        prefix + "expected": action.model_dump_json(),
        prefix + "status": status,
        prefix + "not_achieved_reason": reason,
    }


def test_action_status_changes_inline(db, client, auth, org):
    plan = make_plan(db, org)
    seen = draft(db, plan).find_action("act1")[1]
    auth.login(org.nurse)
    response = auth.post(plan_url(org, "/actions/act1"), status_form(seen, "done"), headers=HTMX)
    assert response.status_code == 200
    assert "Statut mis à jour" in text(response)
    assert draft(db, plan).find_action("act1")[1].status == "done"


def test_action_status_not_achieved_needs_a_reason(db, client, auth, org):
    plan = make_plan(db, org)
    seen = draft(db, plan).find_action("act1")[1]
    auth.login(org.nurse)
    response = auth.post(
        plan_url(org, "/actions/act1"), status_form(seen, "not_achieved"), headers=HTMX
    )
    assert response.status_code == 422
    assert "Indiquez pourquoi" in text(response)
    assert draft(db, plan).find_action("act1")[1].status == "planned"


def test_action_status_conflict_overwrites_nothing(db, client, auth, org):
    plan = make_plan(db, org)
    seen = draft(db, plan).find_action("act1")[1]
    changed = seen.model_copy(update={"status": ActionStatus.IN_PROGRESS})
    services.update_action(org.gp, plan, seen, changed, SYSTEM)
    db.session.commit()
    auth.login(org.nurse)
    response = auth.post(plan_url(org, "/actions/act1"), status_form(seen, "done"), headers=HTMX)
    body = text(response)
    assert response.status_code == 409
    assert org.gp.full_name in body and "« En cours »" in body
    assert "n'a pas été enregistré" in body
    assert draft(db, plan).find_action("act1")[1].status == "in_progress"


def test_add_objective_from_the_plan_page(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    response = auth.post(plan_url(org, "/objectives"), {"title": "Soutenir l'aidante"})
    assert response.status_code == 302
    assert [o.title for o in draft(db, plan).objectives][-1] == "Soutenir l'aidante"


# --- the whole draft and concurrent edits ----------------------------------------------------


def draft_form(page: str, **changes: str) -> dict[str, str]:
    """Return the edit page's form as a browser would post it, with `changes` typed."""
    data: dict[str, str] = {}
    for tag in re.finditer(r"<(input|select|textarea)\b[^>]*>", page):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(0)))
        name = attrs.get("name")
        if not name or name == "csrf_token" or attrs.get("type") == "checkbox":
            continue
        if tag.group(1) == "input":
            data[name] = attrs.get("value", "")
        elif tag.group(1) == "textarea":
            rest = page[tag.end() :]
            data[name] = rest[: rest.index("</textarea>")].strip()
        else:
            block = page[tag.end() : page.index("</select>", tag.end())]
            chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', block) or re.search(
                r'<option[^>]*value="([^"]*)"[^>]*selected', block
            )
            data[name] = chosen.group(1) if chosen else ""
    data = {k: html.unescape(v) for k, v in data.items()}
    data.update(changes)
    return data


def test_edit_draft_saves_with_the_base_revision(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    page = client.get(plan_url(org, "/edit")).get_data(as_text=True)
    form = draft_form(page, preferences="Pas de visite le dimanche")
    form.update({"problems-1-dimension": "social", "problems-1-description": "Isolement"})
    response = auth.post(plan_url(org, "/edit"), form)
    assert response.status_code == 302
    saved = draft(db, plan)
    assert saved.preferences == "Pas de visite le dimanche"
    assert [p.description for p in saved.problems] == ["Chutes répétées", "Isolement"]
    assert [a.what for _, a in saved.actions()] == ["Bilan kiné"]  # kept from the draft


def test_concurrent_edit_shows_the_conflict_and_keeps_both_texts(db, app, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.nurse)
    other_client = app.test_client()
    other = AuthActions(other_client)
    other.login(org.coord)
    mine_page = client.get(plan_url(org, "/edit")).get_data(as_text=True)
    theirs_page = other_client.get(plan_url(org, "/edit")).get_data(as_text=True)

    first = draft_form(theirs_page, expectations="Rester à domicile avec sa fille")
    assert other.post(plan_url(org, "/edit"), first).status_code == 302

    second = draft_form(mine_page, expectations="Retourner au jardin")
    response = auth.post(plan_url(org, "/edit"), second)
    body = text(response)
    assert response.status_code == 409
    assert "Rester à domicile avec sa fille" in body  # their change, shown
    assert "Retourner au jardin" in body  # what I typed, kept in the form
    assert org.coord.full_name in body and "Attentes de la personne" in body
    assert draft(db, plan).expectations == "Rester à domicile avec sa fille"

    # Having compared, saving again (the page now carries their revision) replaces theirs.
    again = draft_form(response.get_data(as_text=True))
    assert again["expectations"] == "Retourner au jardin"
    assert auth.post(plan_url(org, "/edit"), again).status_code == 302
    assert draft(db, plan).expectations == "Retourner au jardin"


# --- publication and lifecycle ---------------------------------------------------------------


def test_publish_then_publish_unchanged_is_a_no_op(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.coord)
    response = auth.post(plan_url(org, "/versions"), {"summary": "Première version"})
    assert response.status_code == 302
    assert auth.post(plan_url(org, "/versions"), {"summary": "rien"}).status_code == 302
    body = text(client.get(plan_url(org)))
    assert "Aucune modification depuis la version 1 : rien n'a été publié." in body
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).current_version.number == 1


def test_published_version_says_its_true_standing_on_page_pdf_and_fhir(db, client, auth, org):
    """Bug: right after "Version 1 publiée", the page, the PDF and FHIR all said "Brouillon"."""
    plan = make_plan(db, org)
    auth.login(org.coord)
    assert "Brouillon : aucune version publiée" in text(client.get(plan_url(org)))
    assert auth.post(plan_url(org, "/versions"), {"summary": "v1"}).status_code == 302
    awaiting = "Version publiée, en attente de validation du médecin"
    for page in (plan_url(org), plan_url(org, "/versions/1")):
        body = text(client.get(page))
        assert awaiting in body
        assert "Brouillon : aucune version publiée" not in body
    # The progress bar says the same: "Publiée" is the current step, the GP acts next.
    body = text(client.get(plan_url(org)))
    assert current_step(body) == "Publiée"
    version = db.session.get(CarePlan, plan.id).current_version
    assert version_document(load_sources(version))["plan_status"] == awaiting
    fhir = next(
        e["resource"]
        for e in version_bundle(version)["entry"]
        if e["resource"]["resourceType"] == "CarePlan"
    )
    assert (fhir["status"], fhir["intent"]) == ("active", "proposal")
    assert fhir["note"][0]["text"] == f"Statut du plan dans PTAP : {awaiting}."

    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    db.session.commit()
    body = text(client.get(plan_url(org, "/versions/1")))
    assert "Validée et acceptée, à mettre en vigueur" in body
    # "L'accord" is masculine, "la validation" feminine.
    assert re.search(r"Accord de la personne</strong> :\s*recueilli le", body)
    assert re.search(r"Validation par le médecin</strong> :\s*recueillie le", body)
    services.activate_plan(org.coord, plan, SYSTEM)
    db.session.commit()
    assert "En vigueur" in text(client.get(plan_url(org, "/versions/1")))


def test_publish_without_next_review_date_is_refused(db, client, auth, org):
    make_plan(db, org, next_review_on=None)
    auth.login(org.coord)
    response = auth.post(plan_url(org, "/versions"), {"summary": "v1"})
    assert response.status_code == 422
    assert "La date de prochaine réévaluation est obligatoire." in text(response)


def test_nurse_cannot_record_gp_validation_but_physician_can(db, client, auth, org):
    plan = make_plan(db, org)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    db.session.commit()
    auth.login(org.nurse)
    assert "Enregistrer la validation du médecin" not in text(client.get(plan_url(org)))
    form = {"gp_validation-method": "in_person", "gp_validation-note": ""}
    assert auth.post(plan_url(org, "/approvals/gp_validation"), form).status_code == 403

    gp_client = AuthActions(client.application.test_client())
    gp_client.login(org.gp)
    page = text(gp_client.client.get(plan_url(org)))
    assert "Enregistrer la validation du médecin" in page
    assert gp_client.post(plan_url(org, "/approvals/gp_validation"), form).status_code == 302
    assert db.session.scalar(sa.select(PlanApproval.kind)) == "gp_validation"


def test_activate_without_patient_agreement_is_refused_clearly(db, client, auth, org):
    plan = make_plan(db, org)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    db.session.commit()
    auth.login(org.coord)
    response = auth.post(plan_url(org, "/activate"))
    assert response.status_code == 409
    assert "L'accord de la personne sur cette version est requis." in text(response)
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).status == "validated"


def test_full_lifecycle_through_the_pages(db, client, auth, org):
    plan = make_plan(db, org)
    auth.login(org.coord)
    auth.post(plan_url(org, "/versions"), {"summary": "v1"})
    services.record_approval(
        org.gp, db.session.get(CarePlan, plan.id), "gp_validation", "meeting", "", SYSTEM
    )
    form = {"patient_agreement-method": "in_person", "patient_agreement-note": "avec sa fille"}
    assert auth.post(plan_url(org, "/approvals/patient_agreement"), form).status_code == 302
    assert auth.post(plan_url(org, "/activate")).status_code == 302
    assert auth.post(plan_url(org, "/revision")).status_code == 302
    assert auth.post(plan_url(org, "/close"), {"close_reason": ""}).status_code == 422
    assert auth.post(plan_url(org, "/close"), {"close_reason": "Déménagement"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(CarePlan, plan.id).status == "closed"


# --- versions --------------------------------------------------------------------------------


def test_versions_list_version_page_and_comparison(db, client, auth, org):
    plan = make_plan(
        db,
        org,
        problems=[
            Problem(key="pb1", dimension="medical", description="Chutes répétées"),
            Problem(key="pb2", dimension="social", description="Isolement"),
        ],
    )
    services.publish_version(org.coord, plan, "Première version", SYSTEM)
    content = draft(db, plan)
    content.problems = [
        Problem(key="pb1", dimension="medical", description="Chutes répétées", priority="high"),
        Problem(key="pb3", dimension="environmental", description="Escalier dangereux"),
    ]
    plan = db.session.get(CarePlan, plan.id)
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    services.publish_version(org.coord, plan, "Logement", SYSTEM)
    db.session.commit()
    auth.login(org.nurse)

    body = text(client.get(plan_url(org, "/versions")))
    assert "Version 2" in body and "Version 1" in body and "« Logement »" in body
    assert body.index("Version 2") < body.index("Version 1")

    body = text(client.get(plan_url(org, "/versions/1")))
    assert "Isolement" in body and "Version ancienne" in body
    assert client.get(plan_url(org, "/versions/9")).status_code == 404

    body = text(client.get(plan_url(org, "/compare?from=1&to=2")))
    assert re.search(r"Ajouté :</strong>\s*Escalier dangereux", body)
    assert re.search(r"Retiré :</strong>\s*<span[^>]*>Isolement", body)
    assert re.search(r"Modifié :</strong>\s*Chutes répétées", body)
    assert re.search(r"Priorité</td><td[^>]*>.*Moyenne</td><td[^>]*>.*Haute</td>", body)
    assert client.get(plan_url(org, "/compare?from=x&to=2")).status_code == 404


# --- tasks -----------------------------------------------------------------------------------


def give_tasks(db, org, count: int) -> None:
    """Give the nurse `count` actions spread over several patients' plans."""
    per_patient = 3
    made = 0
    while made < count:
        patient = make_patient(org.team, org.coord)
        plan = services.create_plan(org.coord, enrolment(db, patient), SYSTEM)
        actions = [
            Action(
                what=f"Tâche {made + i}",
                assignee_user_id=org.nurse.id,
                due_on=date(2030, 1, 1) + timedelta(days=made + i),
            )
            for i in range(min(per_patient, count - made))
        ]
        content = PlanContent(objectives=[Objective(title="Objectif", actions=actions)])
        services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
        made += len(actions)
    db.session.commit()


def test_tasks_list_overdue_first_and_links_to_the_plan(db, client, auth, org):
    late = Action(
        key="late",
        what="Renouveler l'ordonnance",
        assignee_user_id=org.nurse.id,
        due_on=date(2020, 3, 1),
    )
    soon = Action(
        key="soon", what="Bilan kiné", assignee_user_id=org.nurse.id, due_on=date(2030, 1, 1)
    )
    make_plan(db, org, objectives=[Objective(key="o", title="Soins", actions=[soon, late])])
    auth.login(org.nurse)
    body = text(client.get("/tasks"))
    assert body.index("Renouveler l'ordonnance") < body.index("Bilan kiné")
    assert "1 en retard" in body
    assert f'href="{plan_url(org)}#action-late"' in body
    assert client.get("/tasks?sort=patient").status_code == 200


def test_tasks_page_runs_a_constant_number_of_queries(db, client, auth, org, count_queries):
    auth.login(org.nurse)
    give_tasks(db, org, 3)
    client.get("/tasks")
    with count_queries() as few:
        body = text(client.get("/tasks"))
    assert body.count("Tâche ") == 3
    give_tasks(db, org, 12)
    with count_queries() as many:
        body = text(client.get("/tasks"))
    assert body.count("Tâche ") == 15
    assert len(many) == len(few)


# --- emergency access ------------------------------------------------------------------------


def test_emergency_visitor_reads_but_cannot_edit(db, client, auth, org):
    make_plan(db, org)
    db.session.add(
        BreakGlassAccess(
            patient_id=org.patient.id,
            user_id=org.outsider.id,
            reason="Appel du SAMU, patiente inconsciente à domicile",
            expires_at=utcnow() + timedelta(hours=4),
        )
    )
    db.session.commit()
    auth.login(org.outsider)
    page = client.get(plan_url(org))
    assert page.status_code == 200
    assert "Modifier le brouillon" not in text(page)
    posts = {
        "/objectives/obj1/actions": action_form("obj1", "Action en urgence"),
        "/edit": {"base_revision": "1"},
        "/objectives": {"title": "X"},
    }
    for tail, data in posts.items():
        assert auth.post(plan_url(org, tail), data, headers=HTMX).status_code == 403
    assert client.get(plan_url(org, "/edit")).status_code == 403


# --- notifications badge ---------------------------------------------------------------------


def test_header_shows_the_unread_notification_count(db, client, auth, org):
    auth.login(org.nurse)
    body = text(client.get("/"))
    assert 'id="unread-badge" hidden' in body
    notify(org.nurse.id, "task_due", "Action à réaliser", "/tasks")
    notify(org.nurse.id, "task_due", "Autre action", "/tasks")
    db.session.commit()
    body = text(client.get("/"))
    assert re.search(r'id="unread-badge"><span id="unread-count">2</span>', body)
    assert "notifications.js" in body and "socket.io-4.8.4.min.js" in body


def test_anonymous_pages_load_no_socket_client(db, client):
    body = text(client.get("/login"))
    assert "socket.io" not in body and "unread-badge" not in body


@pytest.mark.parametrize("sort", ["due", "patient"])
def test_tasks_page_links_to_more_tasks(db, client, auth, org, monkeypatch, sort):
    from ptap.care_plans.views import tasks as task_views

    monkeypatch.setattr(task_views, "PAGE_SIZE", 4)
    give_tasks(db, org, 6)
    auth.login(org.nurse)
    first = client.get(f"/tasks?sort={sort}").get_data(as_text=True)
    assert "6 actions à réaliser" in first  # the total, not the page
    assert text_count(first) == 4
    link = re.search(r'href="(/tasks\?[^"]*cursor=[^"]+)"[^>]*>Plus d', first)
    assert link is not None
    assert f"sort={sort}" in link.group(1)
    second = client.get(html.unescape(link.group(1))).get_data(as_text=True)
    assert text_count(second) == 2
    assert "Plus d'actions" not in html.unescape(second)
    assert set(_task_names(first)).isdisjoint(_task_names(second))


def text_count(page: str) -> int:
    return len(_task_names(page))


def _task_names(page: str) -> list[str]:
    return re.findall(r"Tâche \d+", page)
