"""Messaging reads: the members of a patient conversation, computed in one query, are exactly
the users whose access basis is a circle basis (care_teams.access.access_basis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_teams import access
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    Enrolment,
    TeamMembership,
)
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.messaging import queries, services
from ptap.messaging.models import Message
from ptap.messaging.permissions import CIRCLE_BASES
from tests.factories import add_member, make_patient, make_team, make_user


def _invite(db, patient, user, *, days=10, revoked=False):
    db.session.add(
        CircleInvitation(
            patient_id=patient.id,
            user_id=user.id,
            invited_by_id=user.id,
            expires_at=utcnow() + timedelta(days=days),
            revoked_at=utcnow() if revoked else None,
        )
    )


@pytest.fixture
def circle_world(db):
    """A patient followed by a team, and one user for every way in (or not) of its circle."""
    team = make_team()
    enroller = make_user(role="coordinator")
    add_member(team, enroller, "coordinator")
    patient = make_patient(team, enroller)
    users: dict[str, User] = {"enroller": enroller}

    def user(name, **kw):
        users[name] = make_user(**kw)
        return users[name]

    add_member(team, user("member"))
    add_member(team, user("other_coordinator", role="coordinator"), "coordinator")
    yesterday = clock.paris_today() - timedelta(days=1)
    tomorrow = clock.paris_today() + timedelta(days=1)
    add_member(team, user("left"), ends_on=yesterday)
    add_member(team, user("not_yet"), starts_on=tomorrow)
    inactive = user("inactive")
    inactive.active = False
    add_member(team, inactive)
    add_member(team, user("admin", role="admin", profession="administrative"))
    _invite(db, patient, user("invited"))
    _invite(db, patient, user("invite_expired"), days=-1)
    _invite(db, patient, user("invite_revoked"), revoked=True)
    db.session.add(
        BreakGlassAccess(
            patient_id=patient.id,
            user_id=user("emergency").id,
            reason="urgence",
            expires_at=utcnow() + timedelta(hours=4),
        )
    )
    add_member(make_team(), user("outsider"))
    db.session.flush()
    conversation = services.get_or_create_patient_conversation(enroller, patient)
    db.session.commit()
    return patient, conversation, users


def _by_rule(patient, users):
    return sorted(
        u.id for u in users.values() if access.access_basis(u.id, patient) in CIRCLE_BASES
    )


def _names(ids, users):
    return sorted(name for name, u in users.items() if u.id in ids)


def test_patient_members_are_the_circle_bases_with_consent(circle_world):
    patient, conversation, users = circle_world
    members = queries.member_ids(conversation)
    assert members == _by_rule(patient, users)
    assert _names(members, users) == ["enroller", "invited", "member", "other_coordinator"]


def test_patient_members_without_consent_are_the_enrolling_coordinator(circle_world, db):
    patient, conversation, users = circle_world
    patient.sharing_consent = False
    db.session.commit()
    members = queries.member_ids(conversation)
    assert members == _by_rule(patient, users)
    assert _names(members, users) == ["enroller"]


def test_patient_members_when_the_enroller_no_longer_coordinates(circle_world, db):
    patient, conversation, users = circle_world
    membership = db.session.scalars(
        sa.select(TeamMembership).filter_by(user_id=users["enroller"].id)
    ).one()
    membership.role = "member"
    db.session.commit()
    assert queries.member_ids(conversation) == _by_rule(patient, users)
    patient.sharing_consent = False
    db.session.commit()
    assert queries.member_ids(conversation) == _by_rule(patient, users) == []


def test_patient_members_once_the_enrolment_ended(circle_world, db):
    patient, conversation, users = circle_world
    for enrolment in db.session.scalars(sa.select(Enrolment)):
        enrolment.ended_at = utcnow()
    db.session.commit()
    assert queries.member_ids(conversation) == _by_rule(patient, users) == []


def test_merged_patient_has_no_members(circle_world, db):
    patient, conversation, users = circle_world
    other = make_patient(make_team(), users["enroller"])
    patient.merged_into_id = other.id
    db.session.commit()
    assert queries.member_ids(conversation) == _by_rule(patient, users) == []


def test_patient_members_cost_one_query_whatever_the_circle(circle_world, db, count_queries):
    patient, conversation, users = circle_world
    team = db.session.get(CareTeam, db.session.scalars(sa.select(Enrolment.team_id)).first())
    with count_queries() as few:
        queries.member_ids(conversation)
    for _ in range(50):
        add_member(team, make_user())
    db.session.commit()
    with count_queries() as many:
        members = queries.member_ids(conversation)
    assert len(members) == 54
    assert len(many) == len(few) <= 3  # the conversation and patient (expired), the members


def test_the_broadcast_payload_is_the_stored_message(world, patient_conversation, db, monkeypatch):
    """`message_created` is built without reading back: it must equal the payload of the
    stored message (what the API and the catch-up serve)."""
    from ptap.extensions import socketio
    from ptap.messaging.attachments import UploadedFile
    from ptap.messaging.services import MessageDraft

    emitted = {}
    monkeypatch.setattr(socketio, "emit", lambda event, data, **kw: emitted.setdefault(event, data))
    draft = MessageDraft(
        "with-file",
        f"Compte rendu pour @[{world.member.id}]",
        "urgent",
        attachments=(UploadedFile("cr.pdf", b"%PDF-1.7\n" + b"0" * 64),),
    )
    sent = services.send_message(world.coord, patient_conversation, draft, world.ctx(world.coord))
    db.session.commit()
    db.session.expire_all()
    built = emitted["message_created"]
    assert built == queries.message_payload(db.session.get(Message, sent.message.id))
    assert built["attachments"] and "<" in built["body_html"]
