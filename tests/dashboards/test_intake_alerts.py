"""Requests waiting for a first answer (against the team's target) and recent care-pathway
breaks: they appear, clear when fixed, show on the page and API, and are pushed live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ptap.care_events import services as care_events
from ptap.core import clock
from ptap.dashboards import queries
from ptap.dashboards.alerts import AlertKind
from ptap.intake import services as intake
from tests.dashboards.conftest import NS, api_headers, ctx, kinds_of, received

#: A Monday morning in Paris (no public holiday around).
MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _register(world, *, patient=None, received_at=MONDAY, urgent=False, name="Dr Martin"):
    data = intake.RequestData(
        received_at=received_at,
        requester_kind="gp",
        channel="phone",
        requester_name=name,
        problem_categories=("medical",),
        urgent=urgent,
        patient_id=patient.id if patient is not None else None,
    )
    req = intake.register_request(world.coord, world.team, data, ctx(world.coord))
    from ptap.extensions import db

    db.session.commit()
    return req


def test_waiting_request_counts_working_days_against_the_target(db, world):
    with clock.frozen(MONDAY + timedelta(hours=1)):
        req = _register(world)
    with clock.frozen(MONDAY + timedelta(days=1, hours=2)):  # Tuesday: 1 working day of 2
        [waiting] = queries.build_dashboard(world.team.id, world.coord.id).requests
        assert (waiting.request_id, waiting.elapsed, waiting.target, waiting.late) == (
            req.id,
            1,
            2,
            False,
        )
    with clock.frozen(MONDAY + timedelta(days=3)):  # Thursday: past the 2 working days
        board = queries.build_dashboard(world.team.id, world.coord.id)
        [waiting] = board.requests
        assert waiting.late and waiting.elapsed == 3
        assert board.counts[AlertKind.WAITING_REQUESTS] == 1
        intake.answer_request(world.coord, req, "Rappelé, visite prévue", ctx(world.coord))
        db.session.commit()
        board = queries.build_dashboard(world.team.id, world.coord.id)
        assert board.requests == [] and board.counts[AlertKind.WAITING_REQUESTS] == 0


def test_request_about_a_followed_patient_shows_on_their_row(db, world):
    with clock.frozen(MONDAY):
        req = _register(world, patient=world.patient)
        assert AlertKind.WAITING_REQUESTS in kinds_of(world, world.patient)
        intake.answer_request(world.coord, req, "Pris en charge", ctx(world.coord))
        db.session.commit()
        assert AlertKind.WAITING_REQUESTS not in kinds_of(world, world.patient)


def test_another_teams_requests_are_not_shown(db, world):
    data = intake.RequestData(
        received_at=clock.now(),
        requester_kind="gp",
        channel="phone",
        problem_categories=("social",),
    )
    intake.register_request(world.other_coord, world.other_team, data, ctx(world.other_coord))
    db.session.commit()
    assert queries.build_dashboard(world.team.id, world.coord.id).requests == []


def test_recent_break_appears_then_clears_when_withdrawn_or_old(db, world):
    today = clock.paris_today()
    event = care_events.record_care_event(
        world.nurse,
        world.patient,
        care_events.CareEventData("unplanned_hospitalisation", today - timedelta(days=2)),
        ctx(world.nurse),
    )
    db.session.commit()
    assert AlertKind.CARE_BREAKS in kinds_of(world, world.patient)
    with clock.frozen(clock.now() + timedelta(days=13)):
        assert AlertKind.CARE_BREAKS not in kinds_of(world, world.patient)  # no longer recent
    care_events.withdraw_care_event(world.coord, event, ctx(world.coord))
    db.session.commit()
    assert AlertKind.CARE_BREAKS not in kinds_of(world, world.patient)


def test_a_return_home_is_no_break(db, world):
    care_events.record_care_event(
        world.nurse,
        world.patient,
        care_events.CareEventData("return_home", clock.paris_today()),
        ctx(world.nurse),
    )
    db.session.commit()
    assert AlertKind.CARE_BREAKS not in kinds_of(world, world.patient)


def test_page_and_api_show_requests_and_breaks(db, client, auth, world):
    _register(world, urgent=True, received_at=clock.now() - timedelta(hours=1))
    care_events.record_care_event(
        world.nurse,
        world.patient,
        care_events.CareEventData("emergency_visit", clock.paris_today()),
        ctx(world.nurse),
    )
    db.session.commit()
    data = client.get(
        f"/api/v1/dashboard/teams/{world.team.id}", headers=api_headers(world.coord)
    ).get_json()
    [req] = data["waiting_requests"]
    assert req["urgent"] and req["requester"].startswith("Dr Martin")
    assert "sur 2" in req["clock"]
    [row] = data["patients"]
    assert row["alerts"][0]["kind"] == "care_breaks"
    auth.login(world.coord)
    body = client.get(f"/teams/{world.team.id}/dashboard").get_data(as_text=True)
    assert "Sollicitations sans première réponse" in body and "Dr Martin" in body
    assert "Passage aux urgences le" in body
    fragment = client.get(f"/teams/{world.team.id}/dashboard/requests")
    assert fragment.status_code == 200 and 'data-count="1"' in fragment.get_data(as_text=True)


def test_requests_and_breaks_are_pushed_live(db, dashboard_socket, world):
    sock = dashboard_socket(world.coord)
    sock.emit("join_team", {"team_id": world.team.id}, namespace=NS, callback=True)
    received(sock)
    _register(world, received_at=clock.now() - timedelta(minutes=5))
    [event] = [e["args"][0] for e in received(sock, "dashboard_changed")]
    assert event == {"team_id": world.team.id, "patient_ids": [], "requests": True}
    care_events.record_care_event(
        world.nurse,
        world.patient,
        care_events.CareEventData("caregiver_loss", clock.paris_today()),
        ctx(world.nurse),
    )
    db.session.commit()
    [event] = [e["args"][0] for e in received(sock, "dashboard_changed")]
    assert event == {"team_id": world.team.id, "patient_ids": [world.patient.id], "requests": False}


def test_only_the_first_requests_are_read_urgent_then_late_then_oldest(
    db, client, auth, world, count_queries
):
    import sqlalchemy as sa

    from ptap.intake.models import SupportRequest

    wednesday = MONDAY + timedelta(days=2)
    with clock.frozen(MONDAY):
        old = [_register(world, received_at=MONDAY + timedelta(minutes=i)) for i in range(4)]
    with clock.frozen(wednesday + timedelta(hours=2)):
        fresh = [_register(world, received_at=wednesday + timedelta(minutes=i)) for i in range(2)]
        urgent = [
            _register(world, received_at=wednesday + timedelta(hours=1, minutes=i), urgent=True)
            for i in range(2)
        ]
        about_patient = _register(world, patient=world.patient, received_at=wednesday)
    thursday = MONDAY + timedelta(days=3)
    first_ids = [r.id for r in urgent + old]
    about_patient_id = about_patient.id
    with clock.frozen(thursday):
        for obj in list(db.session.identity_map.values()):
            if isinstance(obj, SupportRequest):
                db.session.expunge(obj)
        team_id = world.team.id
        loaded: list[int] = []

        def note_load(target, _context):
            loaded.append(target.id)

        sa.event.listen(SupportRequest, "load", note_load)
        try:
            with count_queries() as seen:
                waiting = queries.waiting_requests(team_id, thursday)
        finally:
            sa.event.remove(SupportRequest, "load", note_load)
        assert len(seen) == 1  # the requests (each with its own target), whatever the number
        assert len(loaded) == 6  # not the 9 waiting
        assert waiting.total == 9
        assert [w.request_id for w in waiting.first] == first_ids
        assert all(w.late for w in waiting.first[2:])
        board = queries.build_dashboard(world.team.id, world.coord.id)
        assert board.counts[AlertKind.WAITING_REQUESTS] == 9
        assert len(board.requests) == 6
        # A request beyond the first six still shows on its patient's row.
        assert about_patient_id not in [w.request_id for w in board.requests]
        assert AlertKind.WAITING_REQUESTS in kinds_of(world, world.patient)
    auth.login(world.coord)
    html = client.get(f"/teams/{world.team.id}/dashboard/requests").get_data(as_text=True)
    assert 'data-count="9"' in html
    assert "6 premières sur 9" in html
    assert html.count('class="request-item') == 6
    assert fresh  # received after the late ones, not urgent: not among the first six


def test_a_requester_named_as_their_kind_is_not_said_twice(app):
    from ptap.dashboards.present import request_view
    from ptap.dashboards.queries import WaitingRequest

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def view(kind: str, name: str) -> str:
        waiting = WaitingRequest(
            request_id=1,
            received_at=now,
            requester_kind=kind,
            requester_name=name,
            channel="phone",
            categories=(),
            urgent=False,
            patient_id=None,
            elapsed=0,
            target=2,
            due_at=now + timedelta(days=2),
            late=False,
        )
        with app.test_request_context():
            return request_view(waiting, today=now.date()).requester

    assert view("patient", "La personne elle-même") == "La personne elle-même"
    assert view("patient", " la personne elle-même ") == "La personne elle-même"
    assert view("caregiver", "Mme Petit (fille)") == "Mme Petit (fille) (un aidant)"
    assert view("gp", "") == "Médecin traitant"
