"""Everything an ARS analyst can reach is free of any patient's identity (issue 12 #5).

The crawl starts from the home page and the URL map: it requests every GET rule of the
application (path parameters filled with real ids of patients, teams, plans, filings...),
follows every link of every HTML page, requests every GET operation of the OpenAPI document,
the exports with several filters, and a quarterly report's PDF (its text extracted). Every
response, errors included, is searched for every patient's names, INS, birth date, address,
free-text notes and messages, and for patient ids in URLs or JSON. What is searched is the
text as a reader gets it: JSON parsed and dumped again without unicode escapes, HTML entities
unescaped, a PDF's extracted text. The companion test plants identity in the API and the page
and expects the crawl to fail.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from collections import deque
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pypdf
import pytest
from flask import Flask

from ptap.core import clock
from ptap.extensions import db
from ptap.monitoring.models import MonitoringReport
from ptap.monitoring.tasks import refresh_monitoring_aggregates, render_monitoring_reports
from tests.factories import make_user
from tests.monitoring.conftest import START, simulate

HREF = re.compile(r"""(?:href|src|action)=["']([^"'#]+)""")
FREE_TEXTS = ("Note libre confidentielle", "Message libre", "Dr Requérant Secret", "texte libre")


def _needles(world) -> list[str]:
    needles = list(FREE_TEXTS)
    for p in world.patients:
        if p.ins_matricule:
            needles.append(p.ins_matricule)
        needles += [
            p.birth_name,
            p.first_names,
            p.first_names.split()[0],
            p.address,
            f"{p.birth_day:02d}/{p.birth_month:02d}/{p.birth_year}",
            f"{p.birth_year}-{p.birth_month:02d}-{p.birth_day:02d}",
        ]
    return needles


def _patient_id_patterns(world) -> list[re.Pattern[str]]:
    ids = "|".join(str(p.id) for p in world.patients)
    return [
        re.compile(rf"/patients/({ids})\b"),
        re.compile(rf'"patient(?:_id)?"\s*:\s*({ids})\b'),
    ]


def _fill(rule: str, values: dict[str, list[int]]) -> list[str]:
    """Return the rule's paths with every placeholder filled with real ids (a few each)."""
    names = re.findall(r"<(?:\w+:)?(\w+)>", rule)
    if not names:
        return [rule]
    paths = []
    for i in range(2):
        path = rule
        for name in names:
            pool = values.get(name) or [1]
            path = re.sub(rf"<(?:\w+:)?{name}>", str(pool[i % len(pool)]), path)
        paths.append(path)
    return paths


def _readable(response) -> str:
    """Return a response's text as its reader sees it (the raw text kept alongside)."""
    if response.mimetype == "application/pdf":
        reader = pypdf.PdfReader(io.BytesIO(response.data))
        return "".join(page.extract_text() for page in reader.pages)
    text = response.get_data(as_text=True)
    if response.is_json:
        with contextlib.suppress(ValueError):
            text += "\n" + json.dumps(json.loads(text), ensure_ascii=False)
    if response.mimetype in ("text/html", "text/csv", "text/plain"):
        text += "\n" + html.unescape(text)
    return text


def _crawl(client, start_urls: list[str], world, follow: bool = True) -> tuple[set[str], int]:
    """Fetch the urls (and the links of HTML pages); fail on any identity found."""
    needles = _needles(world)
    id_patterns = _patient_id_patterns(world)
    seen: set[str] = set()
    queue = deque(start_urls)
    fetched = 0
    while queue:
        url = queue.popleft()
        if url in seen or "/logout" in url:
            continue
        seen.add(url)
        with clock.frozen(START + timedelta(days=100)):
            response = client.get(url)
        fetched += 1
        text = _readable(response)
        for needle in needles:
            assert needle not in text, (url, needle)
        for pattern in id_patterns:
            assert not pattern.search(text), (url, pattern.pattern)
        if follow and response.mimetype == "text/html":
            for link in HREF.findall(response.get_data(as_text=True)):
                target = urljoin(url, html.unescape(link))
                parts = urlsplit(target)
                if parts.netloc or parts.path.startswith("/static/"):
                    continue
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen, fetched


@pytest.fixture
def crawled_world(db, world):
    end = simulate(world, 45, per_day=16)
    with clock.frozen(end):
        refresh_monitoring_aggregates()
    db.session.commit()
    return world


def test_ars_analyst_reaches_no_identifying_data(app: Flask, client, auth, crawled_world):
    world = crawled_world
    analyst = make_user(role="ars_analyst", profession="public_health")
    auth.login(analyst)
    with clock.frozen(START + timedelta(days=100)):
        auth.post("/monitoring/reports", {"year": "2026", "quarter": "1", "territory": ""})
        render_monitoring_reports()
    report = db.session.query(MonitoringReport).one()

    values = {
        "patient_id": [p.id for p in world.patients[:3]],
        "team_id": [t.id for t in world.teams],
        "plan_id": [p.id for p in world.plans[:2]],
        "submission_id": [s.id for s in world.submissions[:2]],
        "report_id": [report.id],
        "user_id": [u.id for u in world.users[:2]],
        "conversation_id": [c.id for c in list(world.conversations.values())[:2]],
        "number": [1],
    }
    start_urls = ["/", "/monitoring", "/api/v1/openapi.json"]
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and rule.endpoint != "static":
            start_urls += _fill(rule.rule, values)
    territory = world.teams[0].territory_id
    for query in (
        "",
        f"?territory={territory}",
        f"?team={world.teams[2].id}",
        "?from=2026-01&to=2026-02",
        "?team=abc",
        "?from=bad",
    ):
        start_urls += [
            f"/monitoring{query}",
            f"/monitoring/export.csv{query}",
            f"/monitoring/export.json{query}",
            f"/api/v1/monitoring/indicators{query}",
        ]

    seen, fetched = _crawl(client, start_urls, world)
    assert fetched > 40
    assert f"/monitoring/reports/{report.id}.pdf" in seen


def test_the_needles_would_be_found_where_identity_is_shown(client, auth, crawled_world):
    """The search is not blind: a coordinator's patient list shows the same needles."""
    world = crawled_world
    auth.login(world.coordinators[0])
    text = client.get("/patients").get_data(as_text=True)
    patient = next(
        p for p in world.patients if p.birth_name.upper() in text or p.birth_name in text
    )
    assert patient.birth_name in text
    assert any(pattern.search(text) for pattern in _patient_id_patterns(world))


@pytest.mark.parametrize("where", ["api", "page"])
def test_the_crawl_finds_identity_planted_in_a_response(
    client, auth, crawled_world, monkeypatch, where
):
    """The crawl is not blind to escaped text: an accented address with an apostrophe,
    unicode-escaped by the API's JSON or &#39;-escaped by the page, is still found."""
    from ptap.monitoring import queries, schemas

    world = crawled_world
    address = world.patients[0].address
    assert "É" in address and "'" in address
    if where == "api":
        real = schemas.IndicatorOut.of.__func__

        def leaky(cls, table):
            return real(cls, table).model_copy(update={"title": address})

        monkeypatch.setattr(schemas.IndicatorOut, "of", classmethod(leaky))
        url = "/api/v1/monitoring/indicators"
    else:
        monkeypatch.setattr(queries, "month_label", lambda month: address)
        url = "/monitoring"
    auth.login(make_user(role="ars_analyst", profession="public_health"))
    raw = client.get(url).get_data(as_text=True)
    assert address not in raw  # escaped: a plain search would miss it
    with pytest.raises(AssertionError) as found:
        _crawl(client, [url], world, follow=False)
    assert url in str(found.value) and "Église" in str(found.value)
