"""Meeting rules: quorum, decisions into the plan with provenance, conflicts, read-only
closed meetings, need-to-know on the agenda, guests, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import load_content
from ptap.care_plans.models import CarePlanVersion
from ptap.care_teams.models import CircleInvitation
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.signals import decisions_recorded
from ptap.extensions import db
from ptap.meetings import queries, services
from ptap.meetings.decisions import DecisionInput, describe
from ptap.meetings.models import MeetingDecision, MeetingStatus
from tests.factories import make_user
from tests.meetings.helpers import build_meeting_world, meeting_data, reach_quorum


def _decisions(w, review_on=None):
    review_on = review_on or clock.paris_today() + timedelta(days=90)
    return [
        DecisionInput("add_objective", {"key": "home", "title": "Adapter le logement"}),
        DecisionInput(
            "add_action",
            {
                "objective_key": "home",
                "what": "Visite d'ergothérapie",
                "action_type": "assessment",
                "assignee_user_id": w.nurse.id,
                "due_on": (clock.paris_today() + timedelta(days=15)).isoformat(),
            },
        ),
        DecisionInput("update_action", {"action_key": "kine", "status": "done"}),
        DecisionInput(
            "objective_unmet", {"objective_key": "obj1", "reason": "Refus de la personne"}
        ),
        DecisionInput("set_review_date", {"next_review_on": review_on.isoformat()}),
    ]


def _versions(plan_id):
    return db.session.scalars(
        sa.select(CarePlanVersion).filter_by(plan_id=plan_id).order_by(CarePlanVersion.number)
    ).all()


def test_schedule_invites_chair_and_secretary_and_validates(db):
    w = build_meeting_world()
    people = {p.user_id: p for p in queries.list_participants(w.meeting.id)}
    assert set(people) == {w.coord.id, w.nurse.id, w.physician.id, w.social.id}
    assert people[w.nurse.id].profession == "Infirmier·ère"
    with pytest.raises(InvalidInput) as exc:
        services.schedule_meeting(
            w.coord, w.team, meeting_data(w.coord, w.nurse, place="", video_url=""), SYSTEM
        )
    assert exc.value.field == "place"
    with pytest.raises(InvalidInput) as exc:
        services.schedule_meeting(w.coord, w.team, meeting_data(w.coord, w.outsider), SYSTEM)
    assert exc.value.field == "secretary_id"
    past = clock.now() - timedelta(days=2)
    with pytest.raises(InvalidInput) as exc:
        services.schedule_meeting(
            w.coord, w.team, meeting_data(w.coord, w.nurse, starts_at=past), SYSTEM
        )
    assert exc.value.field == "starts_at"
    with pytest.raises(PermissionDenied):
        services.schedule_meeting(w.outsider, w.team, meeting_data(w.coord, w.nurse), SYSTEM)


def test_quorum_missing_is_refused_in_french_and_nothing_stored(db):
    w = build_meeting_world()
    services.start_meeting(w.coord, w.meeting, SYSTEM)
    for person in (w.coord, w.nurse):  # two present, two professions
        services.record_attendance(w.coord, w.meeting, w.participant(person), "present", SYSTEM)
    check = services.check_quorum(w.meeting)
    assert not check.ok
    assert check.missing == ["2 professionnels présents sur 3 requis (il en manque 1)"]
    with pytest.raises(InvalidInput) as exc:
        services.record_decisions(w.coord, w.item, "Point", _decisions(w), w.version.id, SYSTEM)
    assert exc.value.field == "quorum"
    assert exc.value.message.startswith("Quorum non atteint : 2 professionnels présents")
    assert len(_versions(w.plan.id)) == 1
    assert db.session.scalar(sa.select(sa.func.count(MeetingDecision.id))) == 0


def test_quorum_counts_professions_and_is_configurable(db):
    w = build_meeting_world()
    other_nurse = make_user(profession="nurse")
    from tests.factories import add_member

    add_member(w.team, other_nurse)
    services.invite_members(w.coord, w.meeting, [other_nurse.id], SYSTEM)
    for person in (w.nurse, other_nurse):
        services.record_attendance(w.coord, w.meeting, w.participant(person), "present", SYSTEM)
    services.record_attendance(w.coord, w.meeting, w.participant(w.coord), "excused", SYSTEM)
    check = services.check_quorum(w.meeting)
    assert check.missing == [
        "2 professionnels présents sur 3 requis (il en manque 1)",
        "1 profession représentée sur 2 requises (il en manque 1)",
    ]
    with pytest.raises(PermissionDenied):
        services.set_quorum(w.nurse, w.team, 2, 1, SYSTEM)
    with pytest.raises(InvalidInput) as exc:
        services.set_quorum(w.coord, w.team, 2, 3, SYSTEM)
    assert exc.value.field == "min_professions"
    services.set_quorum(w.coord, w.team, 2, 1, SYSTEM)
    assert services.check_quorum(w.meeting).ok


def test_decisions_produce_the_expected_version_with_provenance(db):
    w = build_meeting_world()
    reach_quorum(w)
    review_on = clock.paris_today() + timedelta(days=90)
    sent = []
    version = services.record_decisions(
        w.coord, w.item, "Chutes en baisse.", _decisions(w, review_on), w.version.id, SYSTEM
    )
    assert version is not None
    assert version.number == 2
    day = clock.paris_day(w.meeting.starts_at)
    assert version.provenance_kind == "meeting"
    assert version.provenance_ref == f"meeting:{w.meeting.id}/item:{w.item.id}"
    assert version.provenance_label == f"Décidé en concertation du {day:%d/%m/%Y}"
    assert version.change_summary.startswith("Nouvel objectif : Adapter le logement ; ")
    content = load_content(version.content)
    assert [o.key for o in content.objectives] == ["obj1", "home"]
    assert content.objectives[0].actions[0].status == "done"
    new_action = content.objectives[1].actions[0]
    assert (new_action.what, new_action.assignee_user_id) == ("Visite d'ergothérapie", w.nurse.id)
    assert content.unmet_objectives[0].objective == "Prévenir les chutes"
    assert content.unmet_objectives[0].reason == "Refus de la personne"
    assert content.next_review_on == review_on
    assert w.plan.current_version_id == version.id
    assert (w.item.status, w.item.plan_version_id, w.item.summary) == (
        "discussed",
        version.id,
        "Chutes en baisse.",
    )
    rows = db.session.scalars(sa.select(MeetingDecision).order_by(MeetingDecision.position)).all()
    assert [r.kind for r in rows][:2] == ["add_objective", "add_action"]
    assert {r.plan_version_id for r in rows} == {version.id}
    lines = [describe(r.kind, r.payload) for r in rows]
    assert lines[2] == "Action modifiée : Bilan kiné : statut « Réalisée »"
    assert lines[3] == "Objectif non atteint : Prévenir les chutes (Refus de la personne)"
    assert version.change_summary == " ; ".join(lines)
    decisions_recorded.connect(lambda _s, **kw: sent.append(kw), weak=False)
    db.session.commit()
    assert sent and sent[-1]["plan_version_id"] == version.id
    decisions_recorded.receivers.clear()


def test_conflict_when_the_plan_moved_meanwhile(db):
    w = build_meeting_world()
    reach_quorum(w)
    content = load_content(w.plan.draft)
    content.expectations = "Rester chez elle"
    plan_services.save_draft(w.coord, w.plan, content, w.plan.draft_revision, SYSTEM)
    with pytest.raises(Conflict) as exc:  # a pending draft
        services.record_decisions(w.coord, w.item, "", _decisions(w), w.version.id, SYSTEM)
    assert "non publiées" in exc.value.message
    moved = plan_services.publish_version(w.coord, w.plan, "Attentes", SYSTEM)
    assert moved is not None
    with pytest.raises(Conflict) as exc:  # based on version 1, version 2 exists
        services.record_decisions(w.coord, w.item, "", _decisions(w), w.version.id, SYSTEM)
    assert exc.value.field == "base_version_id"
    assert "version 2" in exc.value.message
    assert services.record_decisions(w.coord, w.item, "", _decisions(w), moved.id, SYSTEM)


def test_bad_decisions_name_the_field(db):
    w = build_meeting_world()
    reach_quorum(w)
    cases = [
        (DecisionInput("teleport", {}), "decisions[0].kind"),
        (
            DecisionInput("add_action", {"objective_key": "nope", "what": "x"}),
            "decisions[0].objective_key",
        ),
        (DecisionInput("add_action", {"objective_key": "obj1"}), "decisions[0].what"),
        (
            DecisionInput("update_action", {"action_key": "nope", "status": "done"}),
            "decisions[0].action_key",
        ),
        (
            DecisionInput("set_review_date", {"next_review_on": "2020-01-01"}),
            "decisions[0].next_review_on",
        ),
        (
            DecisionInput(
                "add_action", {"objective_key": "obj1", "what": "x", "due_on": "2020-01-01"}
            ),
            "decisions[0].due_on",
        ),
    ]
    for decision, field in cases:
        with pytest.raises(InvalidInput) as exc:
            services.record_decisions(w.coord, w.item, "", [decision], w.version.id, SYSTEM)
        assert exc.value.field == field
    assert len(_versions(w.plan.id)) == 1


def test_active_plan_needs_a_revision_decision(db):
    w = build_meeting_world()
    plan_services.record_approval(w.physician, w.plan, "gp_validation", "meeting", "", SYSTEM)
    plan_services.record_approval(w.coord, w.plan, "patient_agreement", "phone", "", SYSTEM)
    plan_services.activate_plan(w.coord, w.plan, SYSTEM)
    reach_quorum(w)
    add = [DecisionInput("add_objective", {"title": "Soutenir l'aidante"})]
    with pytest.raises(Conflict) as exc:
        services.record_decisions(w.coord, w.item, "", add, w.version.id, SYSTEM)
    assert "Révision du plan demandée" in exc.value.message
    db.session.rollback()
    w = build_meeting_world()
    plan_services.record_approval(w.physician, w.plan, "gp_validation", "meeting", "", SYSTEM)
    plan_services.record_approval(w.coord, w.plan, "patient_agreement", "phone", "", SYSTEM)
    plan_services.activate_plan(w.coord, w.plan, SYSTEM)
    reach_quorum(w)
    add.append(DecisionInput("request_revision", {"reason": "Aidante épuisée"}))
    version = services.record_decisions(w.coord, w.item, "", add, w.version.id, SYSTEM)
    assert version is not None and w.plan.status == "under_revision"


def test_patient_without_plan_gets_one_from_the_decisions(db):
    w = build_meeting_world()
    item = services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM, reason="no_plan")
    reach_quorum(w)
    with pytest.raises(InvalidInput) as exc:
        services.record_decisions(
            w.coord, item, "", [DecisionInput("add_objective", {"title": "Évaluer"})], None, SYSTEM
        )
    assert exc.value.field == "decisions"
    db.session.rollback()


def test_agenda_refuses_other_teams_patient_and_duplicates(db):
    w = build_meeting_world()
    with pytest.raises(PermissionDenied):
        services.add_agenda_item(w.coord, w.meeting, w.other_patient, SYSTEM)
    with pytest.raises(Conflict):
        services.add_agenda_item(w.coord, w.meeting, w.patient, SYSTEM)
    with pytest.raises(PermissionDenied):  # a member who does not run the meeting
        services.add_agenda_item(w.social, w.meeting, w.newcomer, SYSTEM)
    with pytest.raises(PermissionDenied):
        services.record_attendance(w.outsider, w.meeting, w.participant(w.nurse), "present", SYSTEM)


def test_closed_meeting_is_read_only(db):
    w = build_meeting_world()
    reach_quorum(w)
    services.close_meeting(w.coord, w.meeting, SYSTEM)
    assert w.meeting.status == MeetingStatus.CLOSED and w.meeting.closed_at is not None
    attempts = [
        lambda: services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM),
        lambda: services.remove_agenda_item(w.coord, w.meeting, w.item, SYSTEM),
        lambda: services.record_attendance(
            w.coord, w.meeting, w.participant(w.social), "present", SYSTEM
        ),
        lambda: services.record_decisions(w.coord, w.item, "", _decisions(w), w.version.id, SYSTEM),
        lambda: services.update_meeting(w.coord, w.meeting, meeting_data(w.coord, w.nurse), SYSTEM),
        lambda: services.cancel_meeting(w.coord, w.meeting, SYSTEM),
        lambda: services.invite_members(w.coord, w.meeting, [w.social.id], SYSTEM),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict) as exc:
            attempt()
        assert (
            exc.value.message == "Cette concertation est close : elle ne peut plus être modifiée."
        )


def test_lifecycle_and_ical_sequence(db):
    w = build_meeting_world()
    assert w.meeting.ical_sequence == 0
    later = w.meeting.starts_at + timedelta(days=1)
    services.update_meeting(
        w.coord, w.meeting, meeting_data(w.coord, w.nurse, starts_at=later), SYSTEM
    )
    assert w.meeting.ical_sequence == 1
    with pytest.raises(Conflict):
        services.close_meeting(w.coord, w.meeting, SYSTEM)
    services.cancel_meeting(w.coord, w.meeting, SYSTEM)
    assert (w.meeting.status, w.meeting.ical_sequence) == ("cancelled", 2)


def test_need_to_know_agenda_and_guest_sees_only_invited_patient(db):
    w = build_meeting_world()
    services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM)
    guest = make_user(profession="physiotherapist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)
    invitation = db.session.scalars(sa.select(CircleInvitation).filter_by(user_id=guest.id)).one()
    assert invitation.expires_at >= services.meeting_end(w.meeting)
    assert invitation.expires_at <= services.meeting_end(w.meeting) + timedelta(days=1)
    assert [i.patient_id for i in queries.visible_agenda(guest, w.meeting)] == [w.patient.id]
    assert queries.hidden_agenda_count(guest, w.meeting) == 0  # a guest: not even the size
    assert len(queries.visible_agenda(w.nurse, w.meeting)) == 2
    assert queries.visible_agenda(w.outsider, w.meeting) == []
    assert queries.get_meeting_for(guest, w.meeting.id) is w.meeting
    with pytest.raises(NotFound):
        queries.get_meeting_for(w.outsider, w.meeting.id)
    with pytest.raises(InvalidInput) as exc:  # not on the agenda
        services.invite_guest(w.coord, w.meeting, guest, [w.other_patient.id], SYSTEM)
    assert exc.value.field == "patient_ids"
    with pytest.raises(InvalidInput):  # a team member is not a guest
        services.invite_guest(w.coord, w.meeting, w.social, [w.patient.id], SYSTEM)
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id], SYSTEM)  # idempotent
    assert len(queries.guest_patient_ids(w.participant(guest).id)) == 1
    services.cancel_meeting(w.coord, w.meeting, SYSTEM)
    assert invitation.revoked_at is not None


def test_removing_a_patient_ends_the_guest_access_to_it(db):
    w = build_meeting_world()
    item = services.add_agenda_item(w.coord, w.meeting, w.newcomer, SYSTEM)
    guest = make_user(profession="physiotherapist")
    services.invite_guest(w.coord, w.meeting, guest, [w.patient.id, w.newcomer.id], SYSTEM)
    services.remove_agenda_item(w.coord, w.meeting, item, SYSTEM)
    assert [i.patient_id for i in queries.visible_agenda(guest, w.meeting)] == [w.patient.id]
    assert queries.guest_patient_ids(w.participant(guest).id) == {w.patient.id}
    ended = db.session.scalars(
        sa.select(CircleInvitation).filter_by(user_id=guest.id, patient_id=w.newcomer.id)
    ).one()
    assert ended.revoked_at is not None


def test_suggestions_from_the_team_data(db):
    w = build_meeting_world()
    suggestions = {s.patient_id: s for s in queries.suggest_agenda(w.team)}
    assert suggestions[w.patient.id].reason == "review_due"  # review within 20 days
    assert suggestions[w.newcomer.id].reason == "no_plan"
    assert w.other_patient.id not in suggestions
    later = clock.now() + timedelta(days=10)
    with clock.frozen(later):
        # the action was due 20 days before the review: now overdue, the more pressing reason
        suggestions = queries.suggest_agenda(w.team)
    reasons = {s.patient_id: s.reason for s in suggestions}
    assert reasons[w.patient.id] == "overdue_actions"
    assert [s.patient_id for s in suggestions] == [w.patient.id, w.newcomer.id]
    assert queries.suggest_agenda(w.team, user=w.outsider) == []


def test_unacknowledged_urgent_message_is_suggested_first(db):
    from ptap.messaging import services as messaging

    w = build_meeting_world()
    conversation = messaging.get_or_create_patient_conversation(w.nurse, w.newcomer)
    sent = messaging.send_message(
        w.nurse,
        conversation,
        messaging.MessageDraft(client_id="urgent-1", body="Chute ce matin", priority="urgent"),
        SYSTEM,
    )
    suggestions = queries.suggest_agenda(w.team)
    assert [(s.patient_id, s.reason) for s in suggestions][0] == (w.newcomer.id, "urgent_messages")
    messaging.acknowledge_message(w.coord, sent.message, SYSTEM)
    reasons = {s.patient_id: s.reason for s in queries.suggest_agenda(w.team)}
    assert reasons[w.newcomer.id] == "no_plan"


def test_an_action_decided_without_who_or_when_is_said_to_be_defined(db):
    """A meeting may decide an action before knowing who or when: it is then "à définir" (the
    coordinators' list), never an incomplete action; completing it later clears the mark."""
    from ptap.care_plans.services import list_actions_to_define

    w = build_meeting_world()
    reach_quorum(w)
    decided = [
        DecisionInput("add_objective", {"key": "home", "title": "Adapter le logement"}),
        DecisionInput("add_action", {"objective_key": "home", "what": "Trouver un ergothérapeute"}),
    ]
    version = services.record_decisions(w.coord, w.item, "", decided, w.version.id, SYSTEM)
    content = load_content(version.content)
    action = content.objectives[1].actions[0]
    assert action.to_define and not content.incomplete_actions()
    db.session.commit()
    assert [r.what for r in list_actions_to_define(w.coord)] == ["Trouver un ergothérapeute"]

    due = (clock.paris_today() + timedelta(days=20)).isoformat()
    completed = [
        DecisionInput(
            "update_action",
            {"action_key": action.key, "assignee_user_id": w.nurse.id, "due_on": due},
        )
    ]
    later = services.record_decisions(w.coord, w.item, "", completed, version.id, SYSTEM)
    assert not load_content(later.content).objectives[1].actions[0].to_define
    db.session.commit()
    assert list_actions_to_define(w.coord) == []
