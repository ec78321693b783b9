"""Bug: nobody was told when it mattered (only the overdue reminder arrived).

The GP learns a version awaits their validation, the coordinators that it was validated,
agreed and put in force, a professional that an action was assigned to them: in-app, live
after commit, and by an e-mail that carries a link only (no patient name, no health data).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.services import SYSTEM
from ptap.care_plans import notices, services
from ptap.care_plans.content import Action, Objective, PlanContent, Problem, load_content
from ptap.care_teams.models import ConsentRecord, Enrolment
from ptap.core.mail import MailMessage
from ptap.core.policy import can
from ptap.extensions import socketio
from tests.care_plans.test_views import enrolment
from tests.factories import add_member, make_team, make_user

MAIL = {"MAIL_TRANSPORT": "memory"}


def notes(db, user) -> list[tuple[str, str]]:
    return [
        (n.kind, n.link)
        for n in db.session.scalars(
            sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    ]


def plan_with_action(db, org, assignee_id):
    plan = services.create_plan(org.coord, enrolment(db, org.patient), SYSTEM)
    content = PlanContent(
        lead_user_id=org.coord.id,
        problems=[Problem(key="pb1", dimension="medical", description="Chutes répétées")],
        objectives=[
            Objective(
                key="obj1",
                title="Prévenir les chutes",
                problem_keys=["pb1"],
                actions=[Action(key="act1", what="Bilan kiné", assignee_user_id=assignee_id)],
            )
        ],
        next_review_on=date(2030, 6, 1),
    )
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    return plan


def test_gp_and_coordinators_are_told_each_lifecycle_step(app, db, org, monkeypatch):
    app.config.update(MAIL)
    emitted: list[tuple[str, object]] = []
    monkeypatch.setattr(socketio, "emit", lambda event, data, **kw: emitted.append((event, kw)))
    org.patient.gp_user_id = org.gp.id
    plan = plan_with_action(db, org, None)
    db.session.commit()
    link = f"/patients/{org.patient.id}/care-plan"

    services.publish_version(org.coord, plan, "v1", SYSTEM)
    assert notes(db, org.gp) == [("care_plan_to_validate", link)]
    assert emitted == []  # live, but only once committed
    db.session.commit()
    assert ("notification_created", {"to": f"user:{org.gp.id}", "namespace": "/"}) in emitted
    assert notes(db, org.coord) == []  # the actor is not told of their own step

    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    assert notes(db, org.coord) == [("care_plan_gp_validation", link)]
    assert len(notes(db, org.gp)) == 1  # not told of their own validation
    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(org.coord, plan, SYSTEM)
    db.session.commit()
    assert [k for k, _ in notes(db, org.coord)] == ["care_plan_gp_validation"]

    titles = [n.title for n in db.session.scalars(sa.select(Notification))]
    assert any("la version 1 attend votre validation" in t for t in titles)
    assert all(org.patient.birth_name not in t for t in titles)  # a link, not the name
    assert org.nurse.id not in {n.user_id for n in db.session.scalars(sa.select(Notification))}

    mails = list(db.session.scalars(sa.select(MailMessage)))
    assert {m.recipient for m in mails} == {org.gp.email, org.coord.email}
    for mail in mails:
        assert org.patient.birth_name not in mail.body + mail.subject
        assert "Chutes" not in mail.body
        assert "/notifications" in mail.body


def test_plan_in_force_and_agreement_reach_the_other_coordinators(app, db, org):
    colleague = make_user(role="coordinator", profession="nurse")
    add_member(org.team, colleague, "coordinator")
    plan = plan_with_action(db, org, None)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    services.record_approval(org.gp, plan, "gp_validation", "in_person", "", SYSTEM)
    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(org.coord, plan, SYSTEM)
    db.session.commit()
    assert [k for k, _ in notes(db, colleague)] == [
        "care_plan_gp_validation",
        "care_plan_patient_agreement",
        "care_plan_active",
    ]


def test_new_assignee_is_told_once_not_on_every_save(app, db, org):
    app.config.update(MAIL)
    plan = plan_with_action(db, org, org.nurse.id)
    db.session.commit()
    assert notes(db, org.nurse) == [("task_assigned", "/tasks")]
    # Another save that keeps the assignment tells no one again.
    content = load_content(plan.draft)
    content.expectations = "Rester chez moi"
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    db.session.commit()
    assert len(notes(db, org.nurse)) == 1
    # Reassigned: only the new assignee hears of it; assigning oneself tells nobody.
    content = load_content(plan.draft)
    content.objectives[0].actions[0].assignee_user_id = org.gp.id
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    content = load_content(plan.draft)
    content.objectives[0].actions[0].assignee_user_id = org.coord.id
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    db.session.commit()
    assert notes(db, org.gp) == [("task_assigned", "/tasks")]
    assert len(notes(db, org.nurse)) == 1
    assert notes(db, org.coord) == []
    mail = db.session.scalars(sa.select(MailMessage).where(MailMessage.recipient == org.gp.email))
    assert "Bilan kiné" not in mail.one().body


def test_nothing_is_told_when_the_step_fails(app, db, org):
    plan = plan_with_action(db, org, None)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    try:
        services.activate_plan(org.coord, plan, SYSTEM)
    except Exception:  # noqa: BLE001 - refused: not validated yet
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == before


def test_coordinators_who_cannot_read_the_plan_are_not_told(app, db, org):
    plan = plan_with_action(db, org, None)
    colleague = make_user(role="coordinator", profession="nurse")
    add_member(org.team, colleague, "coordinator")
    other_team = make_team("Équipe Villeurbanne")
    other_coord = make_user(role="coordinator", profession="nurse")
    add_member(other_team, other_coord, "coordinator")
    db.session.add(
        Enrolment(
            patient_id=org.patient.id,
            team_id=other_team.id,
            requested_on=date(2026, 1, 5),
            requester_kind="gp",
            problem_categories="medical",
            enrolled_by_id=org.coord.id,
        )
    )
    # The patient refuses sharing: only the coordinator who enrolled them still sees the plan.
    org.patient.sharing_consent = False
    db.session.add(
        ConsentRecord(
            patient_id=org.patient.id,
            kind="sharing",
            given=False,
            method="oral",
            recorded_by_id=org.coord.id,
        )
    )
    db.session.flush()
    assert not can(other_coord, "care_plan.read", plan)
    assert not can(colleague, "care_plan.read", plan)
    notices.tell_coordinators(plan, org.gp, "care_plan_active", "Plan en vigueur")
    db.session.commit()
    assert notes(db, org.coord) == [("care_plan_active", f"/patients/{org.patient.id}/care-plan")]
    assert notes(db, colleague) == [] and notes(db, other_coord) == []
