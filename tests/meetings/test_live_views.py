"""The live meeting screen: what each participant sees (need-to-know), the chair's controls,
the decisions form and its French errors (nothing stored, nothing typed lost), and a fixed
number of queries whatever the agenda's size."""

# ruff: noqa: F811 - the shared fixtures are imported, then requested by name

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.core import clock
from ptap.meetings import queries, services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import Meeting, MeetingDecision
from tests.factories import make_patient, make_user
from tests.filings.conftest import api_headers
from tests.meetings.live_helpers import build_live_world, live_world  # noqa: F401 - fixture


def url(w, suffix: str = "") -> str:
    return f"/meetings/{w.meeting.id}/live{suffix}"


def _on_screen(db, lw) -> None:
    services.set_current_item(lw.w.coord, lw.w.meeting, lw.w.item, SYSTEM)
    db.session.commit()


def test_participant_sees_the_patient_discussed_agenda_and_attendance(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    auth.login(w.physician)
    page = client.get(url(w))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "BERNARD" in html and "LEROY" in html  # the agenda
    assert "Prévenir les chutes" in html and "Bilan kiné" in html  # the plan summary
    assert w.nurse.full_name in html  # the action's assignee
    assert "Prochaine réévaluation" in html
    assert "Quorum atteint" in html
    assert "Médecin" in html and "Infirmier·ère" in html  # professions
    assert "Enregistrer les décisions" not in html  # the secretary records them
    assert 'id="live-state"' in html and "meeting_live.js" in html


def test_guest_sees_only_the_patient_they_are_invited_for(client, auth, db, live_world):
    w, second, guest = live_world.w, live_world.second, live_world.guest
    services.set_current_item(w.coord, w.meeting, second, SYSTEM)
    db.session.commit()
    auth.login(guest)
    html = client.get(url(w)).get_data(as_text=True)
    assert "BERNARD" in html
    assert "LEROY" not in html
    assert "hors de vos patients" not in html  # a guest does not learn the agenda size
    assert "ne fait pas partie des personnes que vous suivez" in html
    state = client.get(url(w, "/state"))
    assert state.status_code == 200 and "LEROY" not in state.get_data(as_text=True)


@pytest.mark.parametrize("who", ["outsider", "admin"])
def test_strangers_and_wrong_roles_get_nothing(client, auth, db, live_world, who):
    w = live_world.w
    user = w.outsider if who == "outsider" else make_user(role="admin", profession="administrative")
    auth.login(user)
    for path in (url(w), url(w, "/state")):
        response = client.get(path)
        assert response.status_code in (403, 404)
        assert "BERNARD" not in response.get_data(as_text=True)


def test_only_the_chair_secretary_or_coordinators_run_the_meeting(client, auth, db):
    lw = build_live_world(started=False)
    w = lw.w
    auth.login(w.physician)
    refused = auth.post(url(w, "/start"))
    assert refused.status_code == 403
    assert db.session.get(Meeting, w.meeting.id).status == "planned"

    auth.post("/logout")
    auth.login(w.coord)
    html = client.get(url(w)).get_data(as_text=True)
    assert "Ouvrir la séance" in html
    for person in (w.coord, w.physician, w.nurse):
        response = auth.post(
            url(w, f"/participants/{w.participant(person).id}/attendance"),
            {"attendance": "present"},
        )
        assert response.status_code == 302
    assert auth.post(url(w, "/start")).status_code == 302
    html = client.get(url(w)).get_data(as_text=True)
    assert "Commencer par la première personne" in html
    assert auth.post(url(w, "/current"), {"item_id": str(w.item.id)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Meeting, w.meeting.id).current_item_id == w.item.id
    html = client.get(url(w)).get_data(as_text=True)
    assert "Personne suivante" in html and "Enregistrer les décisions" in html
    assert auth.post(url(w, "/current"), {"item_id": str(lw.second.id)}).status_code == 302
    assert auth.post(url(w, "/close")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Meeting, w.meeting.id).status == "closed"
    html = client.get(url(w)).get_data(as_text=True)
    assert "lecture seule" in html and "Enregistrer les décisions" not in html


def _form(lw, **over):
    w = lw.w
    data = {
        "base_version_id": str(w.version.id),
        "summary": "Chute la semaine dernière ; kiné à renforcer.",
        "u-kine-status": "in_progress",
        "u-kine-due_on": "",
        "u-kine-assignee_user_id": str(w.nurse.id),
        "action_what": "Évaluation ergothérapique du domicile",
        "action_objective": "obj1",
        "action_assignee": str(w.physician.id),
        "action_due_on": (clock.paris_day(w.meeting.starts_at) + timedelta(days=15)).isoformat(),
        "next_review_on": (clock.paris_day(w.meeting.starts_at) + timedelta(days=60)).isoformat(),
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _decide_url(lw, item=None):
    return url(lw.w, f"/items/{(item or lw.w.item).id}/decisions")


def _versions(db, w) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CarePlanVersion)
        .where(CarePlanVersion.plan_id == w.plan.id)
    )


def test_decisions_form_records_the_next_plan_version(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    auth.login(w.coord)  # the chair, who coordinates the patient's care
    response = auth.post(_decide_url(live_world), _form(live_world))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert _versions(db, w) == 2
    kinds = db.session.scalars(sa.select(MeetingDecision.kind).order_by(MeetingDecision.position))
    assert list(kinds) == ["add_action", "update_action", "set_review_date"]
    html = client.get(url(w)).get_data(as_text=True)
    assert "Décisions enregistrées : version 2 du plan." in html
    assert "Évaluation ergothérapique du domicile" in html
    assert "Décidé en séance" in html


def test_decisions_errors_are_french_and_keep_what_was_typed(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    auth.login(w.coord)
    response = auth.post(
        _decide_url(live_world),
        _form(live_world, action_objective="", unmet_objective="obj1", unmet_reason=""),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Les décisions ne sont pas enregistrées" in html
    assert "Choisissez l&#39;objectif de la nouvelle action." in html
    assert "Indiquez pourquoi l&#39;objectif n&#39;est pas atteint." in html
    assert "Évaluation ergothérapique du domicile" in html  # nothing typed is lost
    assert "Chute la semaine dernière" in html
    assert _versions(db, w) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingDecision)) == 0

    # A due date before the meeting: refused by the service, shown next to its input.
    early = clock.paris_day(w.meeting.starts_at) - timedelta(days=3)
    response = auth.post(
        _decide_url(live_world), _form(live_world, action_due_on=early.isoformat())
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "L&#39;échéance ne peut pas précéder la date de la concertation." in html
    assert 'href="#action_due_on"' in html
    assert _versions(db, w) == 1


def test_missing_quorum_is_a_clear_refusal(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    services.record_attendance(w.coord, w.meeting, w.participant(w.physician), "absent", SYSTEM)
    db.session.commit()
    auth.login(w.coord)
    response = auth.post(_decide_url(live_world), _form(live_world))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Quorum non atteint" in html and "il en manque 1" in html
    assert "Évaluation ergothérapique du domicile" in html
    assert _versions(db, w) == 1


def test_a_plan_moved_meanwhile_is_a_conflict_then_can_be_resent(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    auth.login(w.coord)
    stale = _form(live_world)
    # Someone publishes a version while the secretary types.
    plan = db.session.get(CarePlan, w.plan.id)
    services.record_decisions(
        w.coord,
        w.item,
        "",
        [DecisionInput("set_review_date", {"next_review_on": stale["next_review_on"]})],
        w.version.id,
        SYSTEM,
    )
    db.session.commit()
    assert plan is not None and _versions(db, w) == 2
    response = auth.post(_decide_url(live_world), stale)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Le plan a changé depuis l&#39;ouverture de ce dossier" in html
    assert "Évaluation ergothérapique du domicile" in html
    # The form now names the latest version: sending again applies the decisions to it.
    newest = db.session.scalar(
        sa.select(CarePlanVersion.id)
        .where(CarePlanVersion.plan_id == w.plan.id)
        .order_by(CarePlanVersion.number.desc())
    )
    assert f'value="{newest}"' in html
    again = auth.post(_decide_url(live_world), {**stale, "base_version_id": str(newest)})
    assert again.status_code == 302
    assert _versions(db, w) == 3


def test_a_patient_hidden_from_the_viewer_cannot_be_decided_on(client, auth, db, live_world):
    second, guest = live_world.second, live_world.guest
    auth.login(guest)
    response = auth.post(_decide_url(live_world, second), {"summary": "x"})
    assert response.status_code == 404
    assert "LEROY" not in response.get_data(as_text=True)


def _agenda_of(db, lw, n: int) -> None:
    w = lw.w
    have = len(queries.list_items(w.meeting.id))
    for _ in range(n - have):
        patient = make_patient(w.team, w.coord)
        services.add_agenda_item(w.coord, w.meeting, patient, SYSTEM)
    db.session.commit()


@pytest.mark.parametrize("path", ["", "/state"])
def test_query_count_does_not_grow_with_the_agenda(
    client, auth, db, live_world, count_queries, path
):
    _on_screen(db, live_world)
    auth.login(live_world.w.coord)
    counts = []
    for n in (2, 20):
        _agenda_of(db, live_world, n)
        client.get(url(live_world.w, path))  # once-a-minute session bookkeeping
        with count_queries() as seen:
            response = client.get(url(live_world.w, path))
        assert response.status_code == 200
        assert response.get_data(as_text=True).count("live-agenda-who") == n
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


def _audited(db, patient_id: int) -> int:
    from ptap.audit.models import AuditEvent

    rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "patient.list"))
    return sum(1 for e in rows if str(patient_id) in e.reason.split(": ")[-1].split(","))


def test_the_screen_and_a_refused_form_are_audited(client, auth, db, live_world):
    w, second = live_world.w, live_world.second
    _on_screen(db, live_world)
    auth.login(w.coord)
    assert client.get(url(w)).status_code == 200
    assert _audited(db, w.patient.id) == 1 and _audited(db, second.patient_id) == 1
    refused = auth.post(_decide_url(live_world), _form(live_world, action_objective=""))
    assert refused.status_code == 422
    assert _audited(db, w.patient.id) == 2  # the page shown again names them again


def test_a_secretary_who_may_not_publish_the_plan_is_told_why(client, auth, db, live_world):
    w = live_world.w
    _on_screen(db, live_world)
    auth.login(w.nurse)  # takes the minutes, but neither leads nor coordinates the plan
    screen = client.get(url(w)).get_data(as_text=True)
    assert "Vous ne pouvez pas modifier le plan de cette personne" in screen
    assert "base_version_id" not in screen  # no decisions form offered
    response = auth.post(_decide_url(live_world), _form(live_world))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Vous ne pouvez pas modifier le plan de cette personne" in html
    assert "base_version_id" not in html  # still no form: they may not record
    assert _versions(db, w) == 1
    auth.post("/logout")
    headers = api_headers(w.nurse)
    db.session.commit()
    body = {
        "patient_id": w.patient.id,
        "summary": "",
        "base_version_id": w.version.id,
        "decisions": [],
    }
    api = client.post(f"/api/v1/meetings/{w.meeting.id}/decisions", json=body, headers=headers)
    assert api.status_code == 403 and "coordinateurs" in api.json["detail"], api.json
