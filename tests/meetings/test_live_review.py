"""Regressions of the live meeting screen found in review: what a guest learns of the agenda,
the wording of the quorum and of births, the version in force, the header kept live, the
guest whose invitations are all revoked, and which sockets a circle change re-checks."""

# ruff: noqa: F811 - the shared fixtures are imported, then requested by name

from __future__ import annotations

from ptap.audit.services import SYSTEM
from ptap.meetings import services
from tests.meetings.live_helpers import live_world  # noqa: F401 - fixture


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
