"""The dashboard page, its rows fragment and its API: access, filters, sorting, audit, and a
number of queries that does not grow with the caseload."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.care_teams.models import TeamMembership
from ptap.core import clock
from ptap.core.models import utcnow
from tests.dashboards.conftest import api_headers, enrolment_of, make_plan
from tests.factories import add_member, make_patient, make_user
from tests.filings.conftest import make_row


def text(response) -> str:
    return response.get_data(as_text=True)


def page(world) -> str:
    return f"/teams/{world.team.id}/dashboard"


def test_coordinator_lands_on_the_dashboard_after_login(db, client, auth, world):
    response = auth.login(world.coord)
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/dashboard"
    assert client.get("/dashboard").headers["Location"] == page(world)


def test_professional_keeps_the_home_page(db, client, auth, world):
    auth.login(world.nurse)
    response = client.get("/")
    assert response.status_code == 200 and "Bonjour" in text(response)
    assert "Tableau de bord" not in text(response)


def test_coordinator_of_several_teams_picks_one(db, client, auth, world):
    add_member(world.other_team, world.coord, "coordinator")
    auth.login(world.coord)
    body = text(client.get("/dashboard"))
    assert f'href="/teams/{world.team.id}/dashboard"' in body
    assert f'href="/teams/{world.other_team.id}/dashboard"' in body


def test_page_lists_the_teams_patients_with_links_to_fix(db, client, auth, world):
    today = clock.paris_today()
    make_plan(world, world.patient, due_on=today - timedelta(days=2))
    make_patient(world.team, world.coord, consent=False, birth_name="SANSACCORD")
    auth.login(world.coord)
    body = text(client.get(page(world)))
    assert "BERNARD Jeanne" in body and "SANSACCORD Jeanne" in body
    assert "VAISE" not in body  # another team's patient
    assert "1 action en retard" in body
    assert f'href="/patients/{world.patient.id}/care-plan"' in body
    assert "Recueillir l&#39;accord" in body
    assert 'id="count-overdue_actions">1<' in body


@pytest.mark.parametrize("who", ["nurse", "gp", "admin", "other_coord"])
def test_others_are_refused(db, client, auth, world, who):
    auth.login(getattr(world, who))
    assert client.get(page(world)).status_code == 403
    assert client.get(page(world) + f"/rows?patient_id={world.patient.id}").status_code == 403
    assert client.get(page(world) + "/requests").status_code == 403
    assert client.get(page(world) + "/workload").status_code == 403


def test_unknown_team_is_404_and_anonymous_goes_to_login(db, client, auth, world):
    assert client.get(page(world)).status_code in (302, 401)
    auth.login(world.coord)
    assert client.get("/teams/999999/dashboard").status_code == 404


def test_ended_coordinator_membership_closes_the_dashboard(db, client, auth, world):
    row = db.session.scalars(
        sa.select(TeamMembership).where(
            TeamMembership.user_id == world.coord.id, TeamMembership.team_id == world.team.id
        )
    ).one()
    row.ends_on = clock.paris_today() - timedelta(days=1)
    db.session.commit()
    auth.login(world.coord)
    assert client.get(page(world)).status_code == 403


def test_filters_by_alert_type_professional_and_commune(db, client, auth, world):
    today = clock.paris_today()
    make_plan(world, world.patient, due_on=today - timedelta(days=2))
    other = make_patient(
        world.team,
        world.coord,
        status="provisional",
        birth_name="VILLEURBANNE",
        city="Villeurbanne",
        postal_code="69100",
    )
    db.session.commit()
    make_plan(world, other, assignee=world.gp)
    auth.login(world.coord)
    only_late = text(client.get(page(world) + "?alert=overdue_actions"))
    assert "BERNARD" in only_late and "VILLEURBANNE Jeanne" not in only_late
    only_gp = text(client.get(page(world) + f"?professional={world.gp.id}"))
    assert "VILLEURBANNE Jeanne" in only_gp and "BERNARD Jeanne" not in only_gp
    in_lyon = text(client.get(page(world) + "?sector=69004+Lyon"))
    assert "BERNARD Jeanne" in in_lyon and "VILLEURBANNE Jeanne" not in in_lyon
    # An invalid filter is ignored by the page, refused by the API.
    assert client.get(page(world) + "?alert=nope&sort=bad").status_code == 200


def test_patients_without_alert_show_on_request(db, client, auth, world):
    calm = make_patient(world.team, world.coord, birth_name="CALME")
    db.session.commit()
    make_plan(world, calm)
    auth.login(world.coord)
    assert "CALME Jeanne" not in text(client.get(page(world)))
    body = text(client.get(page(world) + "?show=all"))
    assert "CALME Jeanne" in body and "Rien à faire pour l'instant" in body


def _order(body: str) -> list[str]:
    return re.findall(r'<tr id="patient-(\d+)"', body)


def test_sorting_by_urgency_and_by_name(db, client, auth, world):
    zed = make_patient(world.team, world.coord, status="provisional", birth_name="ZED")
    abel = make_patient(world.team, world.coord, consent=False, birth_name="ABEL")
    make_row(zed, world.team, by=world.coord, status="failed")
    db.session.commit()
    make_plan(world, world.patient, review_on=clock.paris_today() + timedelta(days=3))
    auth.login(world.coord)
    urgent_first = _order(text(client.get(page(world))))
    assert urgent_first == [str(zed.id), str(world.patient.id), str(abel.id)]
    by_name = _order(text(client.get(page(world) + "?sort=name")))
    assert by_name == [str(abel.id), str(world.patient.id), str(zed.id)]


def test_print_view(db, client, auth, world):
    make_patient(world.team, world.coord, status="provisional")
    auth.login(world.coord)
    body = text(client.get(page(world) + "?print=1"))
    assert "dashboard-print" in body and "data-print" in body
    assert 'class="dash-filters' not in body


def test_rows_fragment_answers_only_for_the_caseload(db, client, auth, world):
    make_row(world.patient, world.team, by=world.coord, status="failed")
    auth.login(world.coord)
    url = page(world) + f"/rows?patient_id={world.patient.id}&patient_id={world.other_patient.id}"
    body = text(client.get(url))
    assert f'id="patient-{world.patient.id}"' in body
    assert f'id="patient-{world.other_patient.id}"' not in body and "VAISE" not in body
    assert f"&#34;{world.other_patient.id}&#34;: null" in body
    for bad in ("", "?patient_id=abc", "?patient_id=0", "?patient_id=99999999999"):
        assert client.get(page(world) + "/rows" + bad).status_code == 422


def test_page_writes_one_audit_event_naming_the_patients_shown(db, client, auth, world):
    second = make_patient(world.team, world.coord, status="provisional")
    make_patient(world.team, world.coord)  # nothing to do: not shown, not named
    make_row(world.patient, world.team, by=world.coord, status="failed")
    auth.login(world.coord)
    before = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
    client.get(page(world))
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.id > before, AuditEvent.action == "patient.list")
    ).all()
    assert len(events) == 1
    named = set(events[0].reason.split(": ")[-1].split(","))
    assert named == {str(world.patient.id), str(second.id)}


def test_api_returns_the_dashboard(db, client, world):
    make_plan(world, world.patient, due_on=clock.paris_today() - timedelta(days=1))
    response = client.get(
        f"/api/v1/dashboard/teams/{world.team.id}", headers=api_headers(world.coord)
    )
    assert response.status_code == 200
    data = response.get_json()
    assert data["team_id"] == world.team.id and data["caseload_size"] == 1
    assert data["counts"]["overdue_actions"] == 1
    [row] = data["patients"]
    assert row["patient_id"] == world.patient.id
    assert row["alerts"][0]["kind"] == "overdue_actions"
    assert row["alerts"][0]["url"] == f"/patients/{world.patient.id}/care-plan"
    nurse = next(w for w in data["workload"] if w["user_id"] == world.nurse.id)
    assert (nurse["open_actions"], nurse["overdue"]) == (1, 1)


@pytest.mark.parametrize(
    ("who", "team", "status"),
    [
        ("other_coord", "team", 403),
        ("nurse", "team", 403),
        ("admin", "team", 403),
        ("coord", "missing", 404),
    ],
)
def test_api_refusals(db, client, world, who, team, status):
    team_id = world.team.id if team == "team" else 999999
    response = client.get(
        f"/api/v1/dashboard/teams/{team_id}", headers=api_headers(getattr(world, who))
    )
    assert response.status_code == status


@pytest.mark.parametrize("query", ["alert=nope", "sort=bad", "professional=x", "show=some"])
def test_api_refuses_invalid_filters(db, client, world, query):
    response = client.get(
        f"/api/v1/dashboard/teams/{world.team.id}?{query}", headers=api_headers(world.coord)
    )
    assert response.status_code == 422
    assert response.get_json()["field"] == query.split("=")[0]


def _caseload(world, n: int) -> None:
    """n patients, each with every alert type the data can give."""
    import uuid

    from ptap.care_events import services as care_events
    from ptap.care_teams.models import BreakGlassAccess
    from ptap.intake import services as intake
    from ptap.messaging import services as messaging
    from tests.dashboards.conftest import ctx

    stranger = make_user()
    add_member(world.other_team, stranger)
    today = clock.paris_today()
    for i in range(n):
        patient = make_patient(world.team, world.coord, status="provisional", city=f"C{i % 3}")
        make_row(patient, world.team, by=world.coord, status="failed")
        db_commit()
        make_plan(
            world, patient, due_on=today - timedelta(days=2), review_on=today + timedelta(days=3)
        )
        db_add(
            BreakGlassAccess(
                patient_id=patient.id,
                user_id=stranger.id,
                reason="Urgence",
                expires_at=utcnow() + timedelta(hours=2),
            )
        )
        conversation = messaging.get_or_create_patient_conversation(world.nurse, patient)
        draft = messaging.MessageDraft(uuid.uuid4().hex, "Chute", priority="urgent")
        messaging.send_message(world.nurse, conversation, draft, ctx(world.nurse))
        enrolment_of(patient, world.team).enrolled_at = utcnow() - timedelta(days=40)
        data = intake.RequestData(
            received_at=utcnow() - timedelta(days=5),
            requester_kind="caregiver",
            channel="phone",
            problem_categories=("social",),
            patient_id=patient.id,
        )
        intake.register_request(world.coord, world.team, data, ctx(world.coord))
        care_events.record_care_event(
            world.nurse,
            patient,
            care_events.CareEventData("emergency_visit", today),
            ctx(world.nurse),
        )
    db_commit()


def db_add(obj) -> None:
    from ptap.extensions import db

    db.session.add(obj)


def db_commit():
    from ptap.extensions import db

    db.session.commit()


@pytest.mark.parametrize("kind", ["page", "api", "rows"])
def test_query_count_does_not_grow_with_the_caseload(db, client, auth, world, count_queries, kind):
    headers = api_headers(world.coord) if kind == "api" else {}
    if kind != "api":
        auth.login(world.coord)
    counts = []
    for n in (3, 27):  # 3 patients, then 30
        _caseload(world, n)
        ids = "&".join(f"patient_id={i}" for i in range(1, 40))
        url = {
            "page": page(world),
            "api": f"/api/v1/dashboard/teams/{world.team.id}",
            "rows": page(world) + f"/rows?{ids}",
        }[kind]
        client.get(url, headers=headers)  # once-a-minute session/token bookkeeping
        with count_queries() as seen:
            response = client.get(url, headers=headers)
        assert response.status_code == 200
        assert "Chute" not in response.get_data(as_text=True)  # no message text shown
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
