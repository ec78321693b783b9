"""Messaging services: access, idempotent sends, gap-free order, edits, retractions, reads."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.care_teams import circle
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.models import utcnow
from ptap.messaging import queries, services
from ptap.messaging.models import Mention, Message, MessageRevision
from tests.factories import make_user
from tests.messaging.conftest import send


def _notes(db, user, kind):
    return db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)
    ).all()


def test_outsider_cannot_open_or_write_the_patient_conversation(world, patient_conversation):
    with pytest.raises(PermissionDenied):
        services.get_or_create_patient_conversation(world.outsider, world.patient)
    with pytest.raises(PermissionDenied):
        send(world.outsider, patient_conversation)


def test_patient_conversation_is_one_per_patient(world, patient_conversation, db):
    again = services.get_or_create_patient_conversation(world.member, world.patient)
    assert again.id == patient_conversation.id


def test_admin_and_team_outsiders_never_take_part(world, team_conversation, db):
    admin = make_user(role="admin", profession="administrative")
    with pytest.raises(PermissionDenied):
        services.get_or_create_team_conversation(admin, world.team)
    with pytest.raises(PermissionDenied):
        services.get_or_create_team_conversation(world.outsider, world.team)
    with pytest.raises(PermissionDenied):
        services.get_or_create_direct_conversation(world.member, admin)


def test_direct_conversation_is_one_per_pair(world, db):
    a = services.get_or_create_direct_conversation(world.member, world.outsider)
    b = services.get_or_create_direct_conversation(world.outsider, world.member)
    assert a.id == b.id
    assert sorted(queries.member_ids(a)) == sorted([world.member.id, world.outsider.id])
    with pytest.raises(PermissionDenied):
        send(world.coord, a)


def test_duplicate_client_id_returns_the_first_message(world, team_conversation, db):
    first = send(world.member, team_conversation, "Premier", client_id="abc-1")
    again = send(world.member, team_conversation, "Autre texte", client_id="abc-1")
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert again.message.body == "Premier"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    # The same client id from another author is another message.
    other = send(world.coord, team_conversation, "Bonjour", client_id="abc-1")
    assert other.created and other.message.seq == 2


def test_sequence_is_gap_free_and_ordered(world, team_conversation, db):
    seqs = [send(world.member, team_conversation, f"m{i}").message.seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert team_conversation.last_seq == 5


def test_refused_send_leaves_no_gap(world, team_conversation, db):
    send(world.member, team_conversation, "un")
    with pytest.raises(InvalidInput):
        send(world.member, team_conversation, "   ")
    assert send(world.member, team_conversation, "deux").message.seq == 2


def test_mentions_notify_members_who_can_read(world, patient_conversation, db):
    result = send(
        world.coord,
        patient_conversation,
        f"Pouvez-vous passer @[{world.member.id}] ? cc @{world.outsider.email}",
    )
    assert result.notified == [world.member.id]
    assert [m.user_id for m in db.session.scalars(sa.select(Mention))] == [world.member.id]
    assert len(_notes(db, world.member, "message_mention")) == 1
    assert _notes(db, world.outsider, "message_mention") == []
    assert world.member.full_name in result.message.body_html


def test_mention_of_a_non_member_id_resolves_to_nobody(world, patient_conversation, db):
    result = send(
        world.coord,
        patient_conversation,
        f"Avis de @[{world.outsider.id}] et de @[{world.member.id}] ?",
        mentions=(world.outsider.id,),
    )
    assert result.notified == [world.member.id]
    assert [m.user_id for m in db.session.scalars(sa.select(Mention))] == [world.member.id]
    assert _notes(db, world.outsider, "message_mention") == []
    html = result.message.body_html
    assert f"@{world.outsider.full_name}<" not in html
    assert world.member.full_name in html
    assert "@membre" in html
    # An edit re-renders the mentions under the same rule.
    services.edit_message(
        world.coord, result.message, f"Plutôt @[{world.outsider.id}]", world.ctx(world.coord)
    )
    assert f"@{world.outsider.full_name}<" not in result.message.body_html


def test_urgent_message_notifies_every_other_member(world, patient_conversation, db):
    result = send(world.coord, patient_conversation, "Chute ce matin", priority="urgent")
    assert result.notified == [world.member.id]
    assert _notes(db, world.coord, "message_urgent") == []


def test_edit_within_window_keeps_the_old_text(world, team_conversation, db):
    message = send(world.member, team_conversation, "Rdv lundi").message
    services.edit_message(world.member, message, "Rdv mardi", world.ctx(world.member))
    assert message.body == "Rdv mardi" and message.edited_at is not None
    [revision] = db.session.scalars(sa.select(MessageRevision)).all()
    assert (revision.kind, revision.body) == ("edit", "Rdv lundi")
    event = db.session.scalars(sa.select(AuditEvent).filter_by(action="message.edit")).one()
    assert event.reason == f"revision {revision.id}"


def test_edit_after_fifteen_minutes_is_refused(world, team_conversation, db):
    message = send(world.member, team_conversation, "Rdv lundi").message
    later = message.created_at + timedelta(minutes=15, seconds=1)
    with pytest.raises(Conflict):
        services.edit_message(world.member, message, "Rdv mardi", world.ctx(world.member), later)
    assert message.body == "Rdv lundi"


def test_only_the_author_edits_or_retracts(world, team_conversation, db):
    message = send(world.member, team_conversation, "Rdv lundi").message
    with pytest.raises(PermissionDenied):
        services.edit_message(world.coord, message, "x", world.ctx(world.coord))
    with pytest.raises(PermissionDenied):
        services.retract_message(world.coord, message, world.ctx(world.coord))


def test_retract_keeps_the_row_and_removes_the_text(world, team_conversation, db):
    message = send(world.member, team_conversation, "Erreur de patient").message
    services.retract_message(world.member, message, world.ctx(world.member))
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(Message, message.id)
    assert row.retracted_at is not None and row.seq == 1
    assert row.body == "" and row.body_html == ""
    assert db.session.scalars(sa.select(MessageRevision.body)).all() == ["Erreur de patient"]
    assert db.session.scalars(sa.select(AuditEvent).filter_by(action="message.retract")).one()
    with pytest.raises(PermissionDenied):  # no second retraction, no edit afterwards
        services.edit_message(world.member, row, "x", world.ctx(world.member))


def test_read_position_and_unread_counts(world, team_conversation, db):
    for i in range(3):
        send(world.coord, team_conversation, f"m{i}")
    assert queries.unread_counts(world.member.id) == {team_conversation.id: 3}
    assert queries.unread_counts(world.coord.id) == {team_conversation.id: 0}
    services.mark_read(world.member, team_conversation, 2)
    assert queries.unread_counts(world.member.id) == {team_conversation.id: 1}
    services.mark_read(world.member, team_conversation, 1)  # never goes back
    services.mark_read(world.member, team_conversation, 99)  # never past the end
    assert queries.get_read_state(team_conversation.id, world.member.id) == 3


def test_acknowledge_only_urgent_messages(world, patient_conversation, db):
    normal = send(world.coord, patient_conversation, "Info").message
    with pytest.raises(InvalidInput):
        services.acknowledge_message(world.member, normal, world.ctx(world.member))
    urgent = send(world.coord, patient_conversation, "Urgent", priority="urgent").message
    services.acknowledge_message(world.member, urgent, world.ctx(world.member))
    services.acknowledge_message(world.member, urgent, world.ctx(world.member))  # idempotent
    assert queries.message_payload(urgent)["acknowledged_by"] == [world.member.id]


def test_withdrawn_consent_removes_members_but_not_the_coordinator(world, patient_conversation, db):
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    assert queries.member_ids(patient_conversation) == [world.coord.id]
    with pytest.raises(PermissionDenied):
        send(world.member, patient_conversation)


def test_list_conversations_shows_only_readable_ones(world, patient_conversation, db):
    team = services.get_or_create_team_conversation(world.coord, world.team)
    send(world.coord, team, "Réunion jeudi")
    listed = {c.id: c for c in queries.list_conversations(world.member.id, limit=50).items}
    assert set(listed) == {patient_conversation.id, team.id}
    assert listed[team.id].unread == 1
    assert listed[team.id].title == "Équipe Croix-Rousse"
    assert queries.list_conversations(world.outsider.id, limit=50).items == []


def test_message_becomes_a_care_plan_action(world, patient_conversation, db):
    from ptap.care_plans import services as plan_services
    from ptap.care_plans.content import Objective
    from ptap.care_teams.models import Enrolment

    enrolment = db.session.scalars(sa.select(Enrolment)).one()
    plan = plan_services.create_plan(world.coord, enrolment, world.ctx(world.coord))
    objective = plan_services.add_objective(
        world.coord, plan, Objective(title="Prévenir les chutes"), world.ctx(world.coord)
    )
    message = send(world.member, patient_conversation, "**Installer** une barre d'appui").message
    made_plan, action = services.message_to_action(
        world.member, message, objective.key, world.ctx(world.member)
    )
    assert made_plan.id == plan.id
    assert action.what == "Installer une barre d'appui"
    assert db.session.scalars(sa.select(AuditEvent).filter_by(action="message.to_action")).one()


def test_sent_at_is_recent(world, team_conversation, db):
    message = send(world.member, team_conversation).message
    assert utcnow() - message.created_at < timedelta(seconds=5)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def test_attachment_file_is_removed_when_the_message_rolls_back(app, world, team_conversation, db):
    from pathlib import Path

    from ptap.messaging.attachments import UploadedFile

    folder = Path(app.config["UPLOAD_FOLDER"]) / "messages"
    send(world.coord, team_conversation, "Photo", attachments=(UploadedFile("p.png", PNG),))
    assert len(list(folder.iterdir())) == 1
    db.session.rollback()  # the request failed after the file was written
    assert list(folder.iterdir()) == []
    send(world.coord, team_conversation, "Photo", attachments=(UploadedFile("p.png", PNG),))
    db.session.commit()
    db.session.rollback()  # a later rollback does not touch what was committed
    assert len(list(folder.iterdir())) == 1
