"""The search page and API: reachable, escaped, audited, hostile input, errors, outsiders."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent, Outcome
from tests.filings.conftest import api_headers
from tests.search.conftest import add_letter, add_meeting, add_version, plan_content, send


def _events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_every_patient_page_has_the_search_box(client, auth, world):
    auth.login(world.nurse)
    pid = world.patient.id
    for path in (f"/patients/{pid}", f"/patients/{pid}/letters", f"/patients/{pid}/events"):
        page = client.get(path).get_data(as_text=True)
        assert f'action="/patients/{pid}/search"' in page
        assert '<label for="patient-search-q">' in page


def test_the_page_shows_ranked_highlighted_escaped_results(client, auth, db, world):
    add_version(world, 1, plan_content("Escaliers raides", "Sécuriser la maison", "Rampe"))
    add_letter(world, "Escalier <b>gras</b>", "Texte <script>alert('escalier')</script>")
    db.session.commit()
    auth.login(world.coord)
    response = client.get(f"/patients/{world.patient.id}/search?q=escalier")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 résultats pour « escalier »" in page
    assert "<script>alert" not in page and "<b>gras" not in page
    assert "&lt;script&gt;alert(&#39;<mark>escalier</mark>&#39;)&lt;/script&gt;" in page
    assert "<mark>Escalier</mark> &lt;b&gt;gras&lt;/b&gt;" in page
    assert page.index("Escalier</mark> &lt;b&gt;") < page.index("<mark>Escaliers</mark> raides")
    assert f'href="/patients/{world.patient.id}/care-plan/versions/1"' in page
    assert '<h2 class="page-title">Recherche dans le dossier</h2>' in page
    assert page.count("<h1") == 1


@pytest.mark.parametrize(
    "q",
    [
        '"escalier',
        'escalier"',
        "(escalier",
        "escalier)",
        "esc*",
        "*",
        "escalier NEAR rampe",
        "NEAR(escalier rampe, 2)",
        "escalier AND OR NOT",
        "col:escalier",
        "^escalier",
        "-escalier",
        "' OR 1=1 --",
        "%_%",
        "\x00",
        "é" * 5000,
        "escalier " * 1000,
    ],
)
def test_hostile_queries_never_fail(client, auth, db, world, q):
    send(world, world.nurse, "Rampe de l'escalier à poser")
    db.session.commit()
    auth.login(world.coord)
    page = client.get(f"/patients/{world.patient.id}/search", query_string={"q": q})
    assert page.status_code == 200
    headers = api_headers(world.coord, ("api:read",))
    api = client.get(
        f"/api/v1/patients/{world.patient.id}/search", query_string={"q": q}, headers=headers
    )
    assert api.status_code in (200, 422)
    if api.status_code == 422:
        assert "mot" in api.get_json()["detail"]


def test_empty_query_shows_the_form_without_results_or_search_event(client, auth, db, world):
    auth.login(world.coord)
    page = client.get(f"/patients/{world.patient.id}/search?q=")
    assert page.status_code == 200
    assert "résultat" not in page.get_data(as_text=True).split("Chercher</button>")[-1]
    assert _events(db, "patient.search") == []
    only_syntax = client.get(f"/patients/{world.patient.id}/search", query_string={"q": '"()*'})
    assert "Aucun mot à chercher" in only_syntax.get_data(as_text=True)


def test_bad_filters_re_render_the_form_with_422(client, auth, world):
    auth.login(world.coord)
    page = client.get(
        f"/patients/{world.patient.id}/search",
        query_string={"q": "escalier", "from": "2026-13-40", "types": "letter,bogus"},
    )
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert "Date invalide : « 2026-13-40 »" in body and "Type inconnu : bogus." in body
    assert 'value="escalier"' in body and 'value="2026-13-40"' in body


def test_api_results_filters_and_errors(client, db, world):
    add_letter(world, "Escalier", "Texte <script>x</script> escalier")
    add_meeting(world, world.team, "RCP", ["Escalier : décision"])
    db.session.commit()
    url = f"/api/v1/patients/{world.patient.id}/search"
    headers = api_headers(world.coord, ("api:read",))
    ok = client.get(url, query_string={"q": "escaliers", "types": "letter"}, headers=headers)
    assert ok.status_code == 200
    data = ok.get_json()
    assert data["total"] == 1 and data["counts_by_type"] == {"letter": 1}
    (item,) = data["items"]
    assert item["type"] == "letter" and item["url"].startswith("/letters/")
    assert "&lt;script&gt;" in item["snippet_html"] and "<script>" not in item["snippet_html"]
    start, end = item["snippet_marks"][0]
    assert item["snippet"][start:end].lower() == "escalier"
    for args, field in (
        ({"q": "escalier", "from": "hier"}, "from"),
        ({"q": "escalier", "to": "2026-02-30"}, "to"),
        ({"q": "escalier", "from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"q": "escalier", "types": "letter,nope"}, "types"),
        ({"q": ""}, "q"),
        ({}, "q"),
    ):
        refused = client.get(url, query_string=args, headers=headers)
        assert refused.status_code == 422, args
        assert field in str(refused.get_json()), args


def test_search_is_audited_without_the_query_text(client, auth, db, world):
    add_letter(world, "Sérologie VIH", "Résultat")
    db.session.commit()
    auth.login(world.coord)
    client.get(f"/patients/{world.patient.id}/search?q=VIH+sérologie&types=letter")
    (event,) = _events(db, "patient.search")
    assert event.patient_id == world.patient.id and event.actor_id == world.coord.id
    assert "VIH" not in event.reason and "rologie" not in event.reason
    assert "requête de 13 caractères" in event.reason and "types=letter" in event.reason
    assert "1 résultat" in event.reason
    reads = [e for e in _events(db, "patient.read") if "recherche" in e.reason]
    assert len(reads) == 1


def test_outsiders_get_the_audited_404(client, auth, db, world):
    add_letter(world, "Escalier", "Texte")
    db.session.commit()
    auth.login(world.outsider)
    assert client.get(f"/patients/{world.patient.id}/search?q=escalier").status_code == 404
    headers = api_headers(world.outsider, ("api:read",))
    api = client.get(f"/api/v1/patients/{world.patient.id}/search?q=escalier", headers=headers)
    assert api.status_code == 404
    assert client.get("/patients/999999/search?q=escalier").status_code == 404
    denied = [e for e in _events(db, "patient.read") if e.outcome == Outcome.DENIED]
    assert len(denied) == 2 and {e.actor_id for e in denied} == {world.outsider.id}
    assert _events(db, "patient.search") == []


def test_admins_may_not_search(client, db, world):
    from tests.factories import make_user

    admin = make_user(role="admin", profession="administrative")
    db.session.commit()
    headers = api_headers(admin, ("api:read",))
    api = client.get(f"/api/v1/patients/{world.patient.id}/search?q=x", headers=headers)
    assert api.status_code == 403


@pytest.mark.parametrize("page", ["²", "¹⁰", "-1", "1e3", "99999999999999999999", "0x10"])
def test_odd_page_numbers_fall_back_to_the_first_page(client, auth, db, world, page):
    """Digits `str.isdigit` accepts but `int` refuses (superscripts) gave a 500."""
    send(world, world.nurse, "Rampe de l'escalier à poser")
    db.session.commit()
    auth.login(world.coord)
    args = {"q": "escalier", "page": page}
    response = client.get(f"/patients/{world.patient.id}/search", query_string=args)
    assert response.status_code == 200
    headers = api_headers(world.coord, ("api:read",))
    api = client.get(
        f"/api/v1/patients/{world.patient.id}/search", query_string=args, headers=headers
    )
    assert api.status_code == 200 and api.get_json()["page"] == 1
