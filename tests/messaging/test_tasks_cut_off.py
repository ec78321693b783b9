"""Access that ends by date (invitation, break-the-glass, team membership) cuts live sockets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ptap.care_teams.models import BreakGlassAccess, CircleInvitation
from ptap.core import clock
from ptap.core.models import utcnow
from ptap.messaging import live, tasks
from tests.factories import add_member, make_patient, make_team, make_user


@pytest.fixture
def evicted(monkeypatch):
    calls: dict[str, list[int]] = {"patients": [], "teams": []}
    monkeypatch.setattr(live, "evict_from_patient_threads", calls["patients"].append)
    monkeypatch.setattr(live, "evict_from_team_threads", calls["teams"].append)
    return calls


def test_invitations_and_break_glass_that_just_expired_are_cut_off(db, evicted):
    team = make_team()
    coordinator = make_user(role="coordinator")
    add_member(team, coordinator, "coordinator")
    invited, expired_long_ago, glass = (make_patient(team, coordinator) for _ in range(3))
    guest = make_user()
    now = utcnow()
    for patient, expires in (
        (invited, now - timedelta(minutes=1)),
        (expired_long_ago, now - timedelta(hours=2)),
    ):
        db.session.add(
            CircleInvitation(
                patient_id=patient.id,
                user_id=guest.id,
                invited_by_id=coordinator.id,
                expires_at=expires,
            )
        )
    db.session.add(
        BreakGlassAccess(
            patient_id=glass.id,
            user_id=guest.id,
            reason="Urgence : chute la nuit, famille absente",
            expires_at=now - timedelta(seconds=30),
        )
    )
    db.session.flush()
    assert tasks.cut_off_expired_access(now) == {"patients": 2, "teams": 0}
    assert sorted(evicted["patients"]) == sorted([invited.id, glass.id])


def test_memberships_ended_yesterday_are_cut_off_just_after_midnight(db, evicted):
    team, other = make_team(), make_team()
    coordinator = make_user(role="coordinator")
    add_member(team, coordinator, "coordinator")
    leaving = make_user()
    membership = add_member(team, leaving)
    staying = add_member(other, make_user())
    # Membership days are Paris days: the cut-off runs just after Paris midnight (23:01 UTC).
    after_midnight = clock.paris_midnight(date(2026, 11, 26)) + timedelta(minutes=1)
    assert after_midnight == datetime(2026, 11, 25, 23, 1, tzinfo=UTC)
    membership.ends_on = date(2026, 11, 25)
    staying.ends_on = date(2026, 11, 27)
    db.session.flush()
    assert tasks.cut_off_expired_access(after_midnight)["teams"] == 1
    assert evicted["teams"] == [team.id]
    # Later in the day the same membership is not looked at again.
    evicted["teams"].clear()
    assert tasks.cut_off_expired_access(after_midnight + timedelta(hours=3))["teams"] == 0
