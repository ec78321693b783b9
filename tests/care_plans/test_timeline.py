"""Bug: the Chronologie left out the GP's validation, the person's agreement, the plan coming
into force, DMP filings, actions done and messages (as counts per day, not their text)."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import ActionStatus, load_content
from ptap.care_teams.timeline import patient_timeline
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.messaging import services as messaging
from ptap.messaging.services import MessageDraft
from tests.care_plans.test_notices import plan_with_action
from tests.filings.conftest import make_row


def in_force_with_follow_up(db, org):
    """Version 1 validated, agreed, in force; version 2 records the action done."""
    plan = plan_with_action(db, org, org.nurse.id)
    services.publish_version(org.coord, plan, "v1", SYSTEM)
    services.record_approval(org.gp, plan, "gp_validation", "meeting", "", SYSTEM)
    services.record_approval(org.coord, plan, "patient_agreement", "in_person", "", SYSTEM)
    services.activate_plan(org.coord, plan, SYSTEM)
    content = load_content(plan.draft)
    content.objectives[0].actions[0].status = ActionStatus.DONE
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    services.publish_version(org.coord, plan, "Suivi", SYSTEM)
    return plan


def say(org, conversation, text: str) -> None:
    messaging.send_message(org.nurse, conversation, MessageDraft(client_id=text, body=text), SYSTEM)


def titles(patient_id: int) -> list[str]:
    return [e.title for e in patient_timeline(patient_id)]


def test_timeline_tells_the_plan_filings_and_message_counts(db, org):
    in_force_with_follow_up(db, org)
    conversation = messaging.get_or_create_patient_conversation(org.coord, org.patient)
    for text in ("Chute ce matin", "Pansement refait", "Appel à la fille"):
        say(org, conversation, text)
    filed = db.session.scalars(sa.select(DmpSubmission)).first()
    filed.status = SubmissionStatus.FILED
    make_row(org.patient, org.team, status=SubmissionStatus.FAILED, status_reason="Refus")
    db.session.commit()

    seen = titles(org.patient.id)
    ppcs = "Plan personnalisé de coordination"
    for title in (
        f"{ppcs} : version 1 validée par le médecin",
        f"{ppcs} : accord de la personne recueilli (version 1)",
        f"{ppcs} : en vigueur",
        f"{ppcs} : version 2 publiée",
        "Action réalisée : Bilan kiné",
        "3 messages dans la conversation du patient",
    ):
        assert title in seen, title
    assert any(t.startswith("Déposé au DMP") for t in seen)
    assert any(t.startswith("Échec du dépôt au DMP") for t in seen)
    # The messages' text never reaches the timeline.
    everything = " ".join(f"{e.title} {e.detail}" for e in patient_timeline(org.patient.id))
    assert "Chute ce matin" not in everything and "Pansement" not in everything
    # An action done once is told once, not again by each later version.
    assert seen.count("Action réalisée : Bilan kiné") == 1


def test_timeline_runs_a_fixed_number_of_queries(db, org, count_queries):
    in_force_with_follow_up(db, org)
    conversation = messaging.get_or_create_patient_conversation(org.coord, org.patient)
    say(org, conversation, "un")
    db.session.commit()
    db.session.expire_all()
    with count_queries() as small:
        patient_timeline(org.patient.id)
    for text in ("deux", "trois", "quatre"):
        say(org, conversation, text)
    make_row(org.patient, org.team, status=SubmissionStatus.FAILED)
    make_row(org.patient, org.team, status=SubmissionStatus.FILED)
    db.session.commit()
    db.session.expire_all()
    with count_queries() as large:
        entries = patient_timeline(org.patient.id)
    assert len(entries) > 0
    assert len(large) == len(small)
