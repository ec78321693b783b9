"""Pages, API and exports of the monitoring: who sees what, secrecy marks, malformed filters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pypdf
import pytest

from ptap.core import clock
from ptap.monitoring.models import MonitoringReport
from ptap.monitoring.tasks import refresh_monitoring_aggregates, render_monitoring_reports
from tests.factories import make_user
from tests.filings.conftest import api_headers
from tests.monitoring.conftest import START, simulate

PAGES = ["/monitoring", "/monitoring/export.csv", "/monitoring/export.json"]
RANGE = "from=2026-01&to=2026-03"


@pytest.fixture
def filled(db, world):
    end = simulate(world, 60, per_day=14)
    with clock.frozen(end):
        refresh_monitoring_aggregates()
    db.session.commit()
    return world


def analyst():
    return make_user(role="ars_analyst", profession="public_health")


def test_analyst_lands_on_the_monitoring_page(client, auth, db):
    auth.login(analyst())
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/monitoring")


def test_page_shows_tables_charts_and_hidden_cells(client, auth, filled):
    auth.login(analyst())
    with clock.frozen(START + timedelta(days=60)):
        response = client.get(f"/monitoring?{RANGE}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "File active" in body and 'data-chart="chart-file"' in body
    assert "chart.js-4.6.2.umd.min.js" in body
    assert ">s</abbr>" in body  # small teams: some cells are hidden
    assert "&lt; 11" not in body  # one label whatever hid the cell
    assert "Non disponible" in body  # meetings
    assert "<script>" not in body  # CSP: no inline script


def test_api_marks_hidden_cells_without_their_value(client, auth, filled):
    auth.login(analyst())
    body = client.get(f"/api/v1/monitoring/indicators?{RANGE}").get_json()
    assert body["threshold"] == 11
    cells = [
        cell
        for ind in body["indicators"]
        for row in ind["rows"]
        for cell in [*row["cells"], row["total"] or {"value": 0, "suppressed": False}]
    ]
    hidden = [c for c in cells if c["suppressed"]]
    assert hidden and all(c["value"] is None for c in hidden)
    assert all(c["value"] == 0 or c["value"] >= 11 for c in cells if not c["suppressed"])
    meetings = next(i for i in body["indicators"] if i["key"] == "meetings")
    assert meetings["available"] is False


def test_exports_are_protected_too(client, auth, filled):
    auth.login(analyst())
    text = client.get(f"/monitoring/export.csv?{RANGE}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["indicateur", "mois", "colonne", "valeur"]
    values = [r[3] for r in rows[1:]]
    assert "s" in values and "< 11" not in values
    for v in values:
        assert not (v.isdigit() and 0 < int(v) < 11)
    export = client.get(f"/monitoring/export.json?{RANGE}")
    assert export.headers["Content-Disposition"].startswith("attachment")
    assert export.get_json()["indicators"]


def test_a_period_other_than_a_quarter_has_no_totals(client, auth, filled):
    auth.login(analyst())
    for period in ("from=2026-02&to=2026-03", "from=2026-01&to=2026-04"):
        text = client.get(f"/monitoring/export.csv?{period}").get_data(as_text=True)
        assert text.count(";trimestre;") == 0, period
        body = client.get(f"/api/v1/monitoring/indicators?{period}").get_json()
        for ind in body["indicators"]:
            assert not ind["totals"] and ind["total"] is None and ind["total_share"] is None
        assert "Trimestre</th>" not in client.get(f"/monitoring?{period}").get_data(as_text=True)
    text = client.get(f"/monitoring/export.csv?{RANGE}").get_data(as_text=True)
    assert ";trimestre;Total;" in text


def test_coordinator_sees_only_own_teams(client, auth, filled):
    coord = filled.coordinators[0]
    own, other = filled.teams[0], filled.teams[1]
    auth.login(coord)
    page = client.get(f"/monitoring?{RANGE}").get_data(as_text=True)
    assert own.name in page and other.name not in page
    assert client.get(f"/monitoring?team={other.id}").status_code == 403
    assert client.get(f"/api/v1/monitoring/indicators?team={other.id}").status_code == 403
    assert client.get(f"/monitoring/export.csv?team={other.id}").status_code == 403
    mine = client.get(f"/api/v1/monitoring/indicators?team={own.id}&{RANGE}")
    assert mine.status_code == 200
    # Without a team filter the coordinator's figures are those of their own team only.
    all_mine = client.get(f"/api/v1/monitoring/indicators?{RANGE}").get_json()
    assert all_mine["indicators"] == mine.get_json()["indicators"]
    assert client.get("/monitoring/reports").status_code == 403


@pytest.mark.parametrize(
    ("role", "profession"),
    [("professional", "physician"), ("admin", "administrative")],
)
def test_other_roles_are_refused(client, auth, db, role, profession):
    auth.login(make_user(role=role, profession=profession))
    for page in [*PAGES, "/monitoring/reports", "/api/v1/monitoring/indicators"]:
        assert client.get(page).status_code == 403, page


def test_coordinator_account_without_a_team_is_refused(client, auth, db):
    auth.login(make_user(role="coordinator", profession="nurse"))
    assert client.get("/monitoring").status_code == 403


def test_api_with_a_token(client, db, filled):
    user = analyst()
    response = client.get(
        f"/api/v1/monitoring/indicators?{RANGE}", headers=api_headers(user, ("api:read",))
    )
    assert response.status_code == 200


def test_anonymous_is_sent_to_login(client, db):
    assert client.get("/monitoring").status_code in (302, 401)
    assert client.get("/api/v1/monitoring/indicators").status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13", "from"),
        ("from=janvier", "from"),
        ("to=2026-01&from=2026-05", "from"),
        ("from=2010-01&to=2026-01", "from"),
        ("team=abc", "team"),
        ("team=99999", "team"),
        ("territory=99999", "territory"),
    ],
)
def test_malformed_filters_are_refused(client, auth, db, query, field):
    auth.login(analyst())
    response = client.get(f"/api/v1/monitoring/indicators?{query}")
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert client.get(f"/monitoring?{query}").status_code == 422


def test_quarterly_report_is_rendered_by_the_job_then_downloadable(client, auth, filled):
    user = analyst()
    auth.login(user)
    with clock.frozen(START + timedelta(days=100)):
        response = auth.post(
            "/monitoring/reports", {"year": "2026", "quarter": "1", "territory": ""}
        )
        assert response.status_code == 302
        page = client.get("/monitoring/reports").get_data(as_text=True)
        assert "En préparation" in page
        assert render_monitoring_reports() == 1
        page = client.get("/monitoring/reports").get_data(as_text=True)
    assert "Télécharger le PDF" in page
    from ptap.extensions import db

    report = db.session.query(MonitoringReport).one()
    pdf = client.get(f"/monitoring/reports/{report.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(pdf.data))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Rapport d'activité — T1 2026" in text
    assert "File active" in text and "« s »" in text and "< 11" not in text
    assert b"<svg" not in pdf.data  # drawn, not embedded as markup


def test_report_of_a_future_quarter_is_refused(client, auth, db):
    auth.login(analyst())
    with clock.frozen(START):
        response = auth.post(
            "/monitoring/reports", {"year": "2026", "quarter": "3", "territory": ""}
        )
    assert response.status_code == 422
    assert "pas encore commencé" in response.get_data(as_text=True)


def test_report_not_ready_is_not_downloadable(client, auth, db):
    user = analyst()
    auth.login(user)
    auth.post("/monitoring/reports", {"year": "2026", "quarter": "1", "territory": ""})
    from ptap.extensions import db as _db

    report = _db.session.query(MonitoringReport).one()
    assert client.get(f"/monitoring/reports/{report.id}.pdf").status_code == 404
