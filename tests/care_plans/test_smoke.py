from datetime import date

from ptap.audit.services import SYSTEM
from ptap.care_plans import queries, services
from ptap.care_plans.content import Action, Objective, PlanContent, Problem
from ptap.care_plans.tasks import send_care_plan_reminders
from ptap.care_teams.models import Enrolment
from tests.factories import add_member, make_patient, make_team, make_user


def test_plan_lifecycle_smoke(db):
    coord = make_user(role="coordinator", profession="nurse")
    gp = make_user(profession="physician")
    team = make_team()
    add_member(team, coord, "coordinator")
    add_member(team, gp)
    patient = make_patient(team, coord)
    enrolment = db.session.query(Enrolment).filter_by(patient_id=patient.id).one()
    plan = services.create_plan(coord, enrolment, SYSTEM)
    content = PlanContent(
        lead_user_id=coord.id,
        problems=[Problem(dimension="medical", description="Chutes répétées")],
        objectives=[
            Objective(
                title="Prévenir les chutes",
                actions=[
                    Action(what="Bilan kiné", assignee_user_id=gp.id, due_on=date(2026, 1, 10))
                ],
            )
        ],
        next_review_on=date(2026, 6, 1),
    )
    services.save_draft(coord, plan, content, plan.draft_revision, SYSTEM)
    v1 = services.publish_version(coord, plan, "Première version", SYSTEM)
    assert v1 is not None and v1.number == 1
    assert services.publish_version(coord, plan, "rien", SYSTEM) is None
    services.record_approval(gp, plan, "gp_validation", "in_person", "", SYSTEM)
    services.record_approval(coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(coord, plan, SYSTEM)
    assert plan.status == "active"
    tasks = queries.my_tasks(gp.id, today=date(2026, 1, 20))
    assert [t.overdue for t in tasks] == [True]
    assert send_care_plan_reminders(date(2026, 1, 20)) == 1
    assert send_care_plan_reminders(date(2026, 1, 20)) == 0
