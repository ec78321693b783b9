"""The /meetings namespace: who may join a meeting's room, what reaches each participant
after a commit (and nothing after a rollback), need-to-know per agenda patient, and the
catch-up of a socket that reconnects."""

# ruff: noqa: F811 - the shared fixtures are imported, then requested by name

from __future__ import annotations

from datetime import timedelta

from ptap.audit.services import SYSTEM
from ptap.core import clock
from ptap.extensions import socketio
from ptap.meetings import services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.live import NAMESPACE, item_room, meeting_room
from ptap.meetings.models import Meeting
from tests.factories import make_user
from tests.meetings.live_helpers import (  # noqa: F401 - fixtures
    NS,
    join,
    live_world,
    meeting_socket,
    received,
)


def _in_room(room: str) -> list[str]:
    return [sid for sid, _ in socketio.server.manager.get_participants(NAMESPACE, room)]


def _joined(meeting_socket, user, meeting):
    sock = meeting_socket(user)
    assert sock.is_connected(NS)
    ack = join(sock, meeting.id)
    assert ack["ok"] is True, ack
    received(sock)
    return sock, ack


def test_wrong_roles_and_strangers_cannot_join(app, client, db, live_world, meeting_socket):
    w = live_world.w
    anonymous = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert not anonymous.is_connected(NS)
    admin = make_user(role="admin", profession="administrative")
    analyst = make_user(role="ars_analyst", profession="public_health")
    assert not meeting_socket(admin).is_connected(NS)
    assert not meeting_socket(analyst).is_connected(NS)
    # A physician of another team, neither member nor participant: refused, in no room.
    sock = meeting_socket(w.outsider)
    ack = join(sock, w.meeting.id)
    assert ack == {
        "ok": False,
        "error": "Concertation introuvable ou réservée à son équipe et à ses participants.",
        "field": "meeting_id",
    }
    assert _in_room(meeting_room(w.meeting.id)) == []
    assert join(sock, 999_999)["ok"] is False
    bad = sock.emit("join_meeting", {"meeting_id": "x"}, namespace=NS, callback=True)
    assert bad["ok"] is False and bad["field"] == "meeting_id"


def test_current_patient_change_reaches_a_second_participant(db, live_world, meeting_socket):
    w = live_world.w
    chair, _ = _joined(meeting_socket, w.coord, w.meeting)
    physician, _ = _joined(meeting_socket, w.physician, w.meeting)
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    assert received(physician) == []  # nothing before the commit
    db.session.commit()
    expected = {"meeting_id": w.meeting.id, "what": "current_item"}
    assert received(physician, "meeting_changed") == [expected]
    assert received(chair, "meeting_changed") == [expected]

    services.record_attendance(w.coord, w.meeting, w.participant(w.social), "present", SYSTEM)
    db.session.commit()
    assert received(physician, "meeting_changed") == [
        {"meeting_id": w.meeting.id, "what": "attendance"}
    ]


def test_nothing_is_pushed_after_a_rollback(db, live_world, meeting_socket):
    w = live_world.w
    physician, _ = _joined(meeting_socket, w.physician, w.meeting)
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    db.session.rollback()
    db.session.commit()
    assert received(physician) == []


def _decide(w, item, base_version_id, review_days=40):
    review = (clock.paris_day(w.meeting.starts_at) + timedelta(days=review_days)).isoformat()
    return services.record_decisions(
        w.coord,
        item,
        "Discuté en séance",
        [DecisionInput("set_review_date", {"next_review_on": review})],
        base_version_id,
        SYSTEM,
    )


def test_a_guest_gets_no_event_about_a_patient_they_may_not_see(db, live_world, meeting_socket):
    w, second, guest = live_world.w, live_world.second, live_world.guest
    member, _ = _joined(meeting_socket, w.physician, w.meeting)
    outside, _ = _joined(meeting_socket, guest, w.meeting)
    # The guest is in the room of the patient they were invited for, not the other one's.
    rooms_of = {
        room: len(_in_room(room))
        for room in (item_room(w.meeting.id, w.item.id), item_room(w.meeting.id, second.id))
    }
    assert rooms_of == {
        item_room(w.meeting.id, w.item.id): 2,
        item_room(w.meeting.id, second.id): 1,
    }

    _decide(w, second, None)  # the newcomer: no plan yet, the decisions open it
    db.session.commit()
    about_second = {"meeting_id": w.meeting.id, "item_id": second.id, "what": "decisions"}
    assert received(member, "item_changed") == [about_second]
    assert received(outside) == []  # not a word, not even "something was decided"

    _decide(w, w.item, w.version.id)
    db.session.commit()
    about_first = {"meeting_id": w.meeting.id, "item_id": w.item.id, "what": "decisions"}
    assert received(outside, "item_changed") == [about_first]

    # The current patient moving to the newcomer: the guest hears the meeting moved on,
    # without the item or the patient.
    services.set_current_item(w.coord, w.meeting, second, SYSTEM)
    db.session.commit()
    assert received(outside) == [{"meeting_id": w.meeting.id, "what": "current_item"}]


def test_reconnecting_participant_catches_up_with_the_stamp(db, live_world, meeting_socket):
    w = live_world.w
    physician, first = _joined(meeting_socket, w.physician, w.meeting)
    physician.disconnect(NS)
    # Missed while away: the current patient and an attendance.
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    services.record_attendance(w.coord, w.meeting, w.participant(w.social), "excused", SYSTEM)
    db.session.commit()

    back, again = _joined(meeting_socket, w.physician, w.meeting)
    assert again["stamp"] != first["stamp"]  # the page compares: it refetches the state
    # Joining again with nothing new gives the same stamp: no needless refetch.
    assert join(back, w.meeting.id)["stamp"] == again["stamp"]
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)  # no change at all
    db.session.commit()
    received(back)
    assert join(back, w.meeting.id)["stamp"] == again["stamp"]


def test_a_guest_stamp_ignores_patients_they_may_not_see(db, live_world, meeting_socket):
    w, second, guest = live_world.w, live_world.second, live_world.guest
    outside, first = _joined(meeting_socket, guest, w.meeting)
    _decide(w, second, None)
    db.session.commit()
    assert join(outside, w.meeting.id)["stamp"] == first["stamp"]


def test_access_ending_by_date_stops_deliveries_before_any_job(db, live_world, meeting_socket):
    w, guest = live_world.w, live_world.guest
    outside, _ = _joined(meeting_socket, guest, w.meeting)
    member, _ = _joined(meeting_socket, w.physician, w.meeting)
    end = services.guest_access_end(w.meeting)
    with clock.frozen(end + timedelta(minutes=1)):
        services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
        db.session.commit()
        assert received(outside) == []
        assert received(member, "meeting_changed") != []


def test_a_guest_removed_from_the_circle_leaves_the_patient_room(db, live_world, meeting_socket):
    from ptap.care_teams import circle
    from ptap.care_teams.models import CircleInvitation

    w, guest = live_world.w, live_world.guest
    # Invited for the newcomer too: one invitation is left after the revocation.
    services.invite_guest(w.coord, w.meeting, guest, [live_world.second.patient_id], SYSTEM)
    db.session.commit()
    outside, _ = _joined(meeting_socket, guest, w.meeting)
    invitation = db.session.scalars(
        db.select(CircleInvitation).filter_by(user_id=guest.id, patient_id=w.patient.id)
    ).one()
    circle.revoke_invitation(w.coord, w.patient, invitation.id, SYSTEM)
    db.session.commit()  # circle_changed: this process's sockets are re-admitted at once
    assert _in_room(item_room(w.meeting.id, w.item.id)) == []
    # Still invited for the newcomer: still a participant (a guest with no invitation left is
    # out at once: tests/meetings/test_live_review.py).
    assert len(_in_room(meeting_room(w.meeting.id))) == 1
    _decide(w, w.item, w.version.id)
    db.session.commit()
    assert received(outside, "item_changed") == []


def test_closing_reaches_everyone(db, live_world, meeting_socket):
    w = live_world.w
    physician, _ = _joined(meeting_socket, w.physician, w.meeting)
    services.close_meeting(w.coord, w.meeting, SYSTEM)
    db.session.commit()
    assert received(physician, "meeting_changed") == [{"meeting_id": w.meeting.id, "what": "close"}]
    assert db.session.get(Meeting, w.meeting.id).status == "closed"
