"""Regressions of the live meeting screen found in review: what a guest learns of the agenda,
the wording of the quorum and of births, the version in force, the header kept live, the
guest whose invitations are all revoked, and which sockets a circle change re-checks."""

# ruff: noqa: F811 - the shared fixtures are imported, then requested by name

from __future__ import annotations

from ptap.audit.services import SYSTEM
from ptap.meetings import services
from tests.meetings.live_helpers import live_world, meeting_socket  # noqa: F401 - fixtures


def url(w, suffix: str = "") -> str:
    return f"/meetings/{w.meeting.id}/live{suffix}"


def test_a_guest_does_not_learn_the_agenda_size(client, auth, db, live_world):
    w, guest = live_world.w, live_world.guest
    auth.login(guest)
    for path in (url(w), url(w, "/state")):
        html = client.get(path).get_data(as_text=True)
        assert "BERNARD" in html and "LEROY" not in html
        assert "autre personne" not in html and "hors de vos patients" not in html


def test_quorum_and_birth_are_said_in_plain_french(client, auth, db, live_world):
    w = live_world.w
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    db.session.commit()
    auth.login(w.physician)
    html = client.get(url(w)).get_data(as_text=True)
    assert "requis : 3 présents de 2 professions différentes" in html
    assert "Née le " in html and "Né·e" not in html  # the patient is a woman


def test_the_stamp_and_the_refreshed_state_follow_the_header(client, auth, db, live_world):
    from datetime import timedelta

    from ptap.meetings.live_queries import load_live

    w = live_world.w
    before = load_live(w.physician, w.meeting).stamp
    stamps = {before}
    for change in (
        {"title": "RCP du jeudi (déplacée)"},
        {"starts_at": w.meeting.starts_at + timedelta(hours=1)},
        {"place": "Salle 2, maison de santé"},
        {"video_url": "https://visio.example.org/rcp-42"},
    ):
        for name, value in change.items():
            setattr(w.meeting, name, value)
        db.session.commit()
        stamp = load_live(w.physician, w.meeting).stamp
        assert stamp not in stamps, change  # a participant who missed it catches up
        stamps.add(stamp)
    auth.login(w.physician)
    html = client.get(url(w, "/state")).get_data(as_text=True)
    assert 'id="live-head"' in html and "RCP du jeudi (déplacée)" in html
    assert "Salle 2, maison de santé" in html and "https://visio.example.org/rcp-42" in html


def test_a_guest_whose_invitations_are_all_revoked_is_out_at_once(db, live_world, meeting_socket):
    from ptap.care_teams import circle
    from ptap.care_teams.models import CircleInvitation
    from ptap.extensions import socketio
    from ptap.meetings.live import NAMESPACE, admission, item_room, meeting_room
    from tests.meetings.live_helpers import join, received

    w, guest = live_world.w, live_world.guest
    outside = meeting_socket(guest)
    assert join(outside, w.meeting.id)["ok"] is True
    received(outside)
    invitation = db.session.scalars(
        db.select(CircleInvitation).filter_by(user_id=guest.id, patient_id=w.patient.id)
    ).one()
    circle.revoke_invitation(w.coord, w.patient, invitation.id, SYSTEM)
    db.session.commit()
    # No invitation left: not open-ended access but none at all, from now on.
    assert admission(guest, w.meeting) is None
    for room in (meeting_room(w.meeting.id), item_room(w.meeting.id, w.item.id)):
        assert list(socketio.server.manager.get_participants(NAMESPACE, room)) == []
    assert received(outside, "access_revoked") == [{"meeting_id": w.meeting.id}]
    assert join(outside, w.meeting.id)["ok"] is False
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    db.session.commit()
    assert received(outside) == []


def test_the_screen_shows_the_version_in_force_not_the_draft(client, auth, db, live_world):
    from ptap.care_plans import services as plan_services
    from ptap.care_plans.content import Action, load_content
    from ptap.meetings.live_present import decisions_form
    from ptap.meetings.live_queries import load_live

    w = live_world.w
    services.set_current_item(w.coord, w.meeting, w.item, SYSTEM)
    db.session.commit()
    auth.login(w.physician)
    assert "brouillon non publié" not in client.get(url(w)).get_data(as_text=True)
    stamp = load_live(w.physician, w.meeting).stamp

    # Unpublished work on the plan: a new action, and the objective renamed.
    content = load_content(w.plan.draft)
    objective = content.objectives[0]
    objective.title = "Objectif du brouillon"
    objective.actions.append(Action(key="repas", what="Portage des repas (brouillon)"))
    plan_services.save_draft(w.coord, w.plan, content, w.plan.draft_revision, SYSTEM)
    db.session.commit()

    html = client.get(url(w)).get_data(as_text=True)
    assert f"Version {w.version.number} du" in html
    assert "Prévenir les chutes" in html and "Bilan kiné" in html  # the published content
    assert "Objectif du brouillon" not in html and "Portage des repas" not in html
    assert "Un brouillon non publié est en cours" in html
    state = load_live(w.coord, w.meeting)
    assert state.stamp != stamp  # a participant who missed it catches up
    assert state.current is not None and state.current.draft_pending
    with client.application.test_request_context():
        keys = [key for key, _ in decisions_form(state.current).follow_ups]
    assert keys == ["kine"]  # no follow-up offered on a draft-only action


def test_a_circle_or_membership_change_rechecks_only_the_meetings_concerned(
    app, db, live_world, meeting_socket, monkeypatch
):
    from ptap.core.signals import circle_changed, team_membership_changed
    from ptap.meetings import live
    from tests.meetings.live_helpers import join, received

    w = live_world.w
    checked: list[tuple[int, int]] = []
    real = live.admission

    def counting(user, meeting):
        checked.append((user.id, meeting.id))
        return real(user, meeting)

    physician, nurse = meeting_socket(w.physician), meeting_socket(w.nurse)
    for sock in (physician, nurse):
        assert join(sock, w.meeting.id)["ok"] is True
        received(sock)
    monkeypatch.setattr(live, "admission", counting)
    # With a message queue, other processes' sockets are asked to join again: which ones?
    monkeypatch.setitem(app.config, "SOCKETIO_MESSAGE_QUEUE", "redis://other-processes")

    # A patient on no agenda of an open meeting: nothing is re-checked, nobody asked.
    circle_changed.send("care_teams", patient_id=w.other_patient.id)
    assert checked == []
    assert received(physician) == [] and received(nurse) == []

    # A patient on this meeting's agenda: its sockets, and its room only.
    circle_changed.send("care_teams", patient_id=w.patient.id)
    assert sorted(checked) == sorted([(w.physician.id, w.meeting.id), (w.nurse.id, w.meeting.id)])
    assert received(physician, "rejoin_required") == [{"meeting_id": w.meeting.id}]

    # A membership change: that member's sockets only.
    checked.clear()
    received(nurse)
    team_membership_changed.send("care_teams", team_id=w.team.id, user_id=w.nurse.id)
    assert checked == [(w.nurse.id, w.meeting.id)]
    team_membership_changed.send("care_teams", team_id=w.team.id + 1000, user_id=w.nurse.id)
    assert checked == [(w.nurse.id, w.meeting.id)]


def test_a_guest_does_not_learn_the_agenda_size_on_any_surface(app, client, auth, db, live_world):
    """The meeting page, the reports list and the API say nothing of the patients a guest does
    not see; a team member still learns how many are hidden from them (none here: the
    physician follows both)."""
    from tests.filings.conftest import api_headers

    w, guest = live_world.w, live_world.guest
    auth.login(guest)
    for path in (f"/meetings/{w.meeting.id}", f"/meetings/{w.meeting.id}/reports"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "BERNARD" in html and "LEROY" not in html, path
        assert "hors de votre cercle" not in html and "ne vous sont pas visibles" not in html
    answer = app.test_client().get(f"/api/v1/meetings/{w.meeting.id}", headers=api_headers(guest))
    assert answer.status_code == 200
    assert answer.json["hidden_agenda_items"] == 0
    assert len(answer.json["agenda"]) == 1
