"""Pathway-events page and API: tab, record, errors, timeline, withdrawal, access."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ptap.core import clock
from tests.factories import add_member, make_patient, make_team, make_user
from tests.filings.conftest import api_headers


def recent() -> str:
    return (clock.paris_today() - timedelta(days=3)).isoformat()


@pytest.fixture
def world(db):
    team, other = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    add_member(other, outsider, "coordinator")
    patient = make_patient(team, coord)
    db.session.commit()
    return {"coord": coord, "member": member, "outsider": outsider, "patient": patient}


def test_the_record_links_to_the_events_page(client, auth, world):
    auth.login(world["member"])
    pid = world["patient"].id
    record = client.get(f"/patients/{pid}").get_data(as_text=True)
    assert f'href="/patients/{pid}/events"' in record


def test_member_records_an_event_shown_on_the_timeline(client, auth, world):
    auth.login(world["member"])
    pid = world["patient"].id
    bad = auth.post(f"/patients/{pid}/events", {"kind": "", "occurred_on": "2099-01-01"})
    assert bad.status_code == 422
    assert "Choisissez le type d&#39;événement." in bad.get_data(as_text=True)
    future = auth.post(
        f"/patients/{pid}/events", {"kind": "emergency_visit", "occurred_on": "2099-01-01"}
    )
    assert future.status_code == 422
    assert "La date de l&#39;événement est dans le futur." in future.get_data(as_text=True)
    ok = auth.post(
        f"/patients/{pid}/events",
        {"kind": "emergency_visit", "occurred_on": recent(), "note": "Chute la nuit."},
    )
    assert ok.status_code == 302
    page = client.get(f"/patients/{pid}/events").get_data(as_text=True)
    assert "Passage aux urgences" in page and "Chute la nuit." in page
    record = client.get(f"/patients/{pid}").get_data(as_text=True)
    assert "Rupture de parcours : Passage aux urgences" in record


def test_outsiders_get_404_and_analysts_403(client, auth, db, world):
    pid = world["patient"].id
    analyst = make_user(role="ars_analyst", profession="other")
    db.session.commit()
    headers = api_headers(analyst)
    assert client.get(f"/api/v1/patients/{pid}/events", headers=headers).status_code == 403
    auth.login(world["outsider"])
    assert client.get(f"/patients/{pid}/events").status_code == 404
    response = auth.post(
        f"/patients/{pid}/events", {"kind": "emergency_visit", "occurred_on": recent()}
    )
    assert response.status_code == 404


def test_api_records_lists_and_withdraws(client, world):
    pid = world["patient"].id
    member = api_headers(world["member"])
    bad = client.post(
        f"/api/v1/patients/{pid}/events",
        json={"kind": "alien", "occurred_on": recent()},
        headers=member,
    )
    assert bad.status_code == 422 and bad.json["field"] == "kind"
    created = client.post(
        f"/api/v1/patients/{pid}/events",
        json={"kind": "unplanned_hospitalisation", "occurred_on": recent(), "note": "AVC"},
        headers=member,
    )
    assert created.status_code == 201 and created.json["is_break"] is True
    items = client.get(f"/api/v1/patients/{pid}/events", headers=member).json["items"]
    assert [e["kind"] for e in items] == ["unplanned_hospitalisation"]
    outsider = api_headers(world["outsider"])
    assert client.get(f"/api/v1/patients/{pid}/events", headers=outsider).status_code == 404
    eid = created.json["id"]
    url = f"/api/v1/patients/{pid}/events/{eid}"
    assert client.delete(url, headers=outsider).status_code == 404
    assert client.delete(url, headers=member).status_code == 204
    assert client.delete(url, headers=member).status_code == 409
    assert client.get(f"/api/v1/patients/{pid}/events", headers=member).json["items"] == []


def _add_events(world, count: int, start: int = 0) -> None:
    from ptap.audit.services import SYSTEM
    from ptap.care_events import services

    today = clock.paris_today()
    for i in range(start, start + count):
        # Every other event is the coordinator's, so some rows are not withdrawable by the member.
        author = world["member"] if i % 2 else world["coord"]
        services.record_care_event(
            author,
            world["patient"],
            services.CareEventData(
                kind="emergency_visit", occurred_on=today - timedelta(days=i), note=f"n°{i}"
            ),
            SYSTEM,
        )


def test_the_events_page_runs_a_constant_number_of_queries(client, auth, world, db, count_queries):
    pid = world["patient"].id
    auth.login(world["member"])
    _add_events(world, 3)
    db.session.commit()
    with count_queries() as few:
        page = client.get(f"/patients/{pid}/events").get_data(as_text=True)
    assert page.count("Retirer (enregistré par erreur)") == 1  # the member's own event
    _add_events(world, 27, start=3)
    db.session.commit()
    with count_queries() as many:
        page = client.get(f"/patients/{pid}/events").get_data(as_text=True)
    assert page.count("Retirer (enregistré par erreur)") == 15
    assert len(many) == len(few)
    auth.post("/logout")
    auth.login(world["coord"])  # a coordinator of the team may withdraw every event
    page = client.get(f"/patients/{pid}/events").get_data(as_text=True)
    assert page.count("Retirer (enregistré par erreur)") == 30


def test_the_events_page_and_api_are_paged(client, auth, world, db):
    from ptap.care_events.views import PAGE_SIZE

    pid = world["patient"].id
    _add_events(world, PAGE_SIZE + 2)
    db.session.commit()
    auth.login(world["member"])
    first = client.get(f"/patients/{pid}/events").get_data(as_text=True)
    assert first.count('class="cell-note">Enregistré') == PAGE_SIZE
    assert f"Page 1 sur 2 ({PAGE_SIZE + 2} événements)" in first and "page=2" in first
    second = client.get(f"/patients/{pid}/events?page=2").get_data(as_text=True)
    assert second.count('class="cell-note">Enregistré') == 2 and f"n°{PAGE_SIZE + 1}" in second
    headers = api_headers(world["member"])
    url = f"/api/v1/patients/{pid}/events"
    body = client.get(url, query_string={"limit": 20}, headers=headers).json
    notes = [e["note"] for e in body["items"]]
    while body["page"]["next_cursor"]:
        query = {"limit": 20, "cursor": body["page"]["next_cursor"]}
        body = client.get(url, query_string=query, headers=headers).json
        notes += [e["note"] for e in body["items"]]
    assert notes == [f"n°{i}" for i in range(PAGE_SIZE + 2)]  # most recent first, each once
