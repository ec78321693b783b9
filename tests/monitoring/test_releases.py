"""Stored releases: the job protects the quarters, requests only read them."""

from __future__ import annotations

from datetime import date

import pytest

from ptap.extensions import db as _db
from ptap.monitoring import levels, releases, secrecy, tasks
from ptap.monitoring.models import MonitoringCount, MonitoringRelease, MonitoringReport
from tests.conftest import AuthActions
from tests.factories import add_member, make_user

RANGE = "from=2026-01&to=2026-03"
PAGES = ["/monitoring", "/monitoring/export.csv", "/monitoring/export.json"]
API = "/api/v1/monitoring/indicators"


def _count(team, value, month=date(2026, 1, 1), dimension="new"):
    row = MonitoringCount(
        territory_id=team.territory_id,
        team_id=team.id,
        month=month,
        indicator="file",
        dimension=dimension,
        value=value,
    )
    _db.session.add(row)
    _db.session.commit()
    return row


def analyst():
    return make_user(role="ars_analyst", profession="public_health")


def _no_solver(monkeypatch):
    def boom(*_args, **_kwargs):
        raise AssertionError("the secrecy solver ran in a request")

    monkeypatch.setattr(releases, "protect_quarter", boom)
    monkeypatch.setattr(levels, "protect_linked", boom)
    monkeypatch.setattr(secrecy, "protect_linked", boom)


def test_pages_api_and_exports_never_run_the_solver(client, auth, db, world, monkeypatch):
    _count(world.teams[0], 4321)
    assert tasks.store_releases() == 1  # one quarter of the region, every reader's source
    _no_solver(monkeypatch)
    auth.login(analyst())
    for url in [*PAGES, API]:
        response = client.get(f"{url}?{RANGE}")
        assert response.status_code == 200, url
        assert "4321" in response.get_data(as_text=True), url
    team = world.teams[0]
    response = client.get(f"{API}?{RANGE}&team={team.id}")
    assert response.status_code == 200 and response.get_json()["figures_as_of"] is None


def test_a_coordinator_reads_the_release_of_their_teams(client, auth, db, world, monkeypatch):
    _count(world.teams[0], 4321)
    tasks.store_releases()
    _no_solver(monkeypatch)
    auth.login(world.coordinators[0])
    body = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert "4321" in body and "chiffres du" not in body


def test_job_is_idempotent_and_follows_a_change(client, auth, db, world):
    row = _count(world.teams[0], 4321)
    assert tasks.store_releases() == 1
    assert tasks.store_releases() == 0  # nothing changed: nothing computed
    stored = db.session.query(MonitoringRelease).filter_by(scope="all").one()
    before = stored.computed_at
    row.value = 4400
    db.session.commit()
    assert tasks.store_releases() == 1
    db.session.refresh(stored)
    assert stored.computed_at >= before
    assert stored.payload["nodes"]["0:0"]["file"][0][0] == 4400
    auth.login(analyst())
    body = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert "4400" in body and "chiffres du" not in body


def test_a_rewrite_with_the_same_counts_is_not_solved_again(client, auth, db, world, monkeypatch):
    row = _count(world.teams[0], 4321)
    tasks.store_releases()
    db.session.delete(row)
    db.session.commit()
    _count(world.teams[0], 4321)  # as the job rewrites the current month: new ids
    _no_solver(monkeypatch)
    assert tasks.store_releases() == 0
    auth.login(analyst())
    body = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert "4321" in body and "chiffres du" not in body


def test_refresh_job_stores_the_releases_then_computes_nothing(db, world, monkeypatch):
    _count(world.teams[1], 250)
    tasks.refresh_monitoring_aggregates()
    scopes = {r.scope for r in db.session.query(MonitoringRelease)}
    assert scopes == {"all"}  # no release per coordinator: each team is protected once
    _no_solver(monkeypatch)
    tasks.refresh_monitoring_aggregates()  # a second run: every checksum matches


def test_a_stale_release_is_shown_with_its_date(client, auth, db, world, monkeypatch):
    row = _count(world.teams[0], 4321)
    tasks.store_releases()
    row.value = 4400  # the aggregates changed; the job has not run since
    db.session.commit()
    _no_solver(monkeypatch)
    auth.login(analyst())
    body = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert "chiffres du" in body and "4321" in body and "4400" not in body
    api = client.get(f"{API}?{RANGE}").get_json()
    assert api["figures_as_of"] is not None
    text = client.get(f"/monitoring/export.csv?{RANGE}").get_data(as_text=True)
    assert "chiffres du" in text


@pytest.mark.parametrize("url", [*PAGES, API])
def test_nothing_is_shown_before_the_first_release(client, auth, db, world, monkeypatch, url):
    _count(world.teams[0], 4321)
    _count(world.teams[1], 7, dimension="exits")
    _no_solver(monkeypatch)
    auth.login(analyst())
    response = client.get(f"{url}?{RANGE}")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Indicateurs en cours de calcul" in body
    assert "4321" not in body and ">7<" not in body


def test_a_period_without_activity_needs_no_release(client, auth, db, world, monkeypatch):
    _no_solver(monkeypatch)
    auth.login(analyst())
    response = client.get(f"{API}?from=2020-01&to=2020-03")
    assert response.status_code == 200
    cells = [c for i in response.get_json()["indicators"] for r in i["rows"] for c in r["cells"]]
    assert cells and all(c["value"] == 0 for c in cells)


def test_a_report_waits_for_its_release(db, world):
    _count(world.teams[0], 4321)
    report = MonitoringReport(year=2026, quarter=1, requested_by_id=analyst().id)
    db.session.add(report)
    db.session.commit()
    tasks.render_monitoring_reports()
    db.session.refresh(report)
    assert report.status == "pending" and report.pdf is None


def _small_quarter(world, marker=None):
    """Small counts in every team, so that each table needs complementary hidden cells."""
    for k, team in enumerate(world.teams):
        for m, month in enumerate((date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))):
            _count(team, 3 + 40 * ((k + m) % 2), month, "new")
            ongoing = marker if (marker and k == 2 and m == 0) else 60 + 7 * k + m
            _count(team, ongoing, month, "ongoing")
            _count(team, 2 + 30 * ((k + m + 1) % 2), month, "closed")


def _team_tables(client, team_id):
    response = client.get(f"{API}?{RANGE}&team={team_id}")
    assert response.status_code == 200
    return response.get_json()["indicators"]


def _as(app, user):
    client = app.test_client()
    AuthActions(client).login(user)
    return client


def test_a_team_is_protected_once_whatever_the_readers_teams(app, db, world):
    """A coordinator in {A} and later in {A, B} sees A's table with the same hidden cells
    (two different protections of one table could be combined to recover a hidden count)."""
    _small_quarter(world)
    first, second = world.teams[0], world.teams[1]
    coordinator = make_user(role="coordinator", profession="nurse")
    add_member(first, coordinator, "coordinator")
    tasks.store_releases()
    alone = _team_tables(_as(app, coordinator), first.id)
    cells = [c for i in alone for r in i["rows"] for c in r["cells"]]
    assert any(c["suppressed"] for c in cells) and any(not c["suppressed"] for c in cells)
    add_member(second, coordinator, "coordinator")
    db.session.commit()
    assert tasks.store_releases() == 0  # the coordinators' teams are no part of the problem
    assert _team_tables(_as(app, coordinator), first.id) == alone
    assert _team_tables(_as(app, world.coordinators[0]), first.id) == alone
    assert _team_tables(_as(app, analyst()), first.id) == alone


def test_a_coordinator_sees_only_their_teams(client, auth, db, world):
    _small_quarter(world, marker=4321)  # a figure of the other territory's team
    tasks.store_releases()
    coordinator = world.coordinators[0]
    auth.login(coordinator)
    own = _team_tables(client, world.teams[0].id)
    # No team chosen, or a territory: their first team, never a sum over other teams.
    assert client.get(f"{API}?{RANGE}").get_json()["indicators"] == own
    north = world.teams[0].territory_id
    assert client.get(f"{API}?{RANGE}&territory={north}").get_json()["indicators"] == own
    south = world.teams[2].territory_id
    body = client.get(f"{API}?{RANGE}&territory={south}").get_data(as_text=True)
    assert "4321" not in body
    assert client.get(f"{API}?{RANGE}&team={world.teams[2].id}").status_code == 403
    page = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert "4321" not in page
