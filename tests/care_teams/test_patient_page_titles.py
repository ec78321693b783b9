"""Every patient page names the person in its H1; the section is an H2 below it."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.factories import add_member, make_patient, make_team, make_user

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.S)

#: The patient-scoped pages, by URL suffix after /patients/<id>.
PATIENT_PAGES = [
    "",
    "/identity",
    "/consents",
    "/circle",
    "/access-log",
    "/events",
    "/letters",
    "/meetings",
    "/dmp",
    "/care-plan",
]
# The plan's versions, comparison and draft pages need a plan: the template check below
# covers them.


@pytest.fixture
def followed(db):
    team = make_team("Équipe Lyon Nord")
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord, used_name="Lambert", used_first_name="Odette")
    db.session.commit()
    return coord, patient


@pytest.mark.parametrize("suffix", PATIENT_PAGES)
def test_the_patient_name_is_the_only_h1(client, auth, followed, suffix):
    coord, patient = followed
    auth.login(coord)
    response = client.get(f"/patients/{patient.id}{suffix}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    headings = H1.findall(body)
    assert len(headings) == 1, headings
    assert html.unescape(headings[0]).strip() == patient.display_name
    # The section heading, when the page has one, comes right below as an H2.
    assert '<h2 class="page-title"' in body or suffix == "/dmp"


def test_no_patient_template_keeps_its_own_h1():
    """The shared header carries the H1: a page that includes it must not add another."""
    including = [
        path
        for path in TEMPLATES.rglob("*.html")
        if "care_teams/_patient_header.html" in path.read_text(encoding="utf-8")
    ]
    assert len(including) >= 15
    offenders = [str(p) for p in including if "<h1" in p.read_text(encoding="utf-8")]
    assert offenders == []
    header = (TEMPLATES / "care_teams" / "_patient_header.html").read_text(encoding="utf-8")
    assert '<h1 class="patient-header-name">{{ patient.display_name }}</h1>' in header


def test_an_outsider_still_gets_no_patient_name(client, auth, followed, db):
    _coord, patient = followed
    outsider = make_user(profession="nurse")
    add_member(make_team("Équipe Vaise"), outsider)
    db.session.commit()
    auth.login(outsider)
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code in (403, 404)
    assert patient.display_name not in response.get_data(as_text=True)
