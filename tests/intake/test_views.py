"""Request pages: navigation, queue with lateness, registration errors, actions, access."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from ptap.audit.services import SYSTEM
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.intake import services
from ptap.intake.models import SupportRequest
from tests.factories import add_member, make_team, make_user

NOW = datetime(2026, 4, 9, 9, 0, tzinfo=PARIS)  # Thursday after Easter


@pytest.fixture
def world(db):
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider, "coordinator")
    with clock.frozen(datetime(2026, 4, 3, 17, 30, tzinfo=PARIS)):
        late = services.register_request(
            coord,
            team,
            services.RequestData(
                received_at=datetime(2026, 4, 3, 17, 0, tzinfo=PARIS),
                requester_kind="caregiver",
                channel="phone",
                requester_name="Mme Petit (fille)",
                person_summary="Mère de 88 ans seule à domicile, chutes.",
                problem_categories=("dependency",),
                urgent=True,
            ),
            SYSTEM,
        )
    db.session.commit()
    return {"team": team, "coord": coord, "member": member, "outsider": outsider, "late": late}


@pytest.fixture
def login(auth):
    """Log in with the real clock (TOTP), then freeze it at NOW for the rest of the test."""
    stack = []

    def log_in(user):
        if stack:
            auth.post("/logout")
        while stack:
            stack.pop().__exit__(None, None, None)
        auth.login(user)
        frozen = clock.frozen(NOW)
        frozen.__enter__()
        stack.append(frozen)

    yield log_in
    while stack:
        stack.pop().__exit__(None, None, None)


def test_navigation_leads_to_the_queue_which_shows_lateness(client, auth, login, world):
    login(world["member"])
    home = client.get("/").get_data(as_text=True)
    assert 'href="/requests"' in home
    page = client.get("/requests").get_data(as_text=True)
    assert "Mme Petit (fille)" in page
    assert "En retard" in page and "1 demande en retard" in page
    assert "mercredi 8 avril 2026" in page
    assert "Urgent" in page


def test_outsider_sees_an_empty_queue_and_404_on_the_request(client, auth, login, world):
    login(world["outsider"])
    assert "Mme Petit" not in client.get("/requests").get_data(as_text=True)
    assert client.get(f"/requests/{world['late'].id}").status_code == 404


@pytest.mark.parametrize("role", ["ars_analyst", "admin"])
def test_analysts_and_admins_have_no_request_pages(client, auth, login, db, world, role):
    login(make_user(role=role, profession="other"))
    assert 'href="/requests"' not in client.get("/").get_data(as_text=True)
    for path in ("/requests", "/requests/new", f"/requests/{world['late'].id}"):
        assert client.get(path).status_code == 403


def test_register_keeps_what_was_typed_and_explains_errors(client, auth, login, world, db):
    login(world["member"])
    response = auth.post(
        "/requests/new",
        {
            "team_id": str(world["team"].id),
            "received_on": "2026-04-09",
            "received_time": "08:30",
            "channel": "",
            "requester_kind": "gp",
            "requester_name": "Dr Leroy",
            "person_summary": "Sortie d'hospitalisation sans aides en place.",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Dr Leroy" in page and "Sortie d&#39;hospitalisation sans aides en place." in page
    # Every missing answer at once, not one per attempt.
    assert "Indiquez par quel canal la demande est arrivée." in page
    assert "Indiquez au moins un motif de la demande." in page


def test_register_then_act_on_the_request(client, auth, login, world, db):
    login(world["member"])
    response = auth.post(
        "/requests/new",
        {
            "team_id": str(world["team"].id),
            "received_on": "2026-04-09",
            "received_time": "08:30",
            "channel": "mssante",
            "requester_kind": "hospital",
            "requester_name": "Service de gériatrie",
            "person_summary": "Sortie prévue lundi.",
            "problem_categories": ["hospital_discharge"],
        },
    )
    assert response.status_code == 302
    rid = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/requests/{rid}").get_data(as_text=True)
    assert "Répondre au demandeur" in page
    assert "Qualifier la demande" not in page  # a member does not triage
    response = auth.post(f"/requests/{rid}/triage", {"mission_type": "coordination"})
    assert response.status_code == 403
    answer = auth.post(
        f"/requests/{rid}/answer",
        {"answer_note": "", "answered_on": "2026-04-09", "answered_time": "09:00"},
    )
    assert answer.status_code == 422
    assert "Résumez la réponse apportée au demandeur." in answer.get_data(as_text=True)
    answer = auth.post(
        f"/requests/{rid}/answer",
        {
            "answer_note": "Rappel du service.",
            "answered_on": "2026-04-09",
            "answered_time": "09:00",
        },
    )
    assert answer.status_code == 302
    req = db.session.get(SupportRequest, rid)
    assert req.first_answer_at == datetime(2026, 4, 9, 7, 0, tzinfo=clock.now().tzinfo)


def test_coordinator_triages_and_closes(client, auth, login, world, db):
    rid = world["late"].id
    login(world["coord"])
    page = client.get(f"/requests/{rid}").get_data(as_text=True)
    assert "Qualifier la demande" in page
    assert "Inclure la personne" not in page  # qualify first
    bad = auth.post(f"/requests/{rid}/triage", {"mission_type": "nope"})
    assert bad.status_code == 422
    ok = auth.post(f"/requests/{rid}/triage", {"mission_type": "orientation", "urgent": "y"})
    assert ok.status_code == 302
    refused = auth.post(f"/requests/{rid}/close", {"outcome": "", "outcome_note": ""})
    assert refused.status_code == 422
    assert "Indiquez l&#39;issue de la demande." in refused.get_data(as_text=True)
    closed = auth.post(f"/requests/{rid}/close", {"outcome": "oriented", "outcome_note": "SSIAD"})
    assert closed.status_code == 302
    assert db.session.scalar(sa.select(SupportRequest.status).where(SupportRequest.id == rid)) == (
        "closed"
    )


def test_convert_page_creates_the_patient(client, auth, login, world, db):
    rid = world["late"].id
    login(world["coord"])
    auth.post(f"/requests/{rid}/triage", {"mission_type": "coordination"})
    from tests.factories import valid_nir

    response = auth.post(
        f"/requests/{rid}/convert",
        {
            "birth_name": "Petit",
            "first_names": "Jeanne",
            "birth_date-day": "02",
            "birth_date-month": "02",
            "birth_date-year": "1938",
            "sex": "F",
            "birthplace_code": "69381",
            "ins_matricule": valid_nir("F", 1938, 2),
            "ins_oid": "1.2.250.1.213.1.4.10",
            "identity_status": "validated",
            "identity_check_method": "passport",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    req = db.session.get(SupportRequest, rid)
    assert req.status == "converted" and req.patient_id
    assert response.headers["Location"].endswith(f"/patients/{req.patient_id}")
    # A member cannot open the conversion page.
    login(world["member"])
    assert client.get(f"/requests/{rid}/convert").status_code == 404


def test_targets_page(client, auth, login, world, db):
    team_id = world["team"].id
    login(world["member"])
    assert client.get(f"/teams/{team_id}/intake-targets").status_code == 200
    assert auth.post(f"/teams/{team_id}/intake-targets", {}).status_code == 403
    login(world["coord"])
    bad = auth.post(
        f"/teams/{team_id}/intake-targets",
        {"first_answer_working_days": "deux", "evaluation_working_days": "5", "ppcs_days": "30"},
    )
    assert bad.status_code == 422
    assert "Indiquez un nombre entier de jours." in bad.get_data(as_text=True)
    ok = auth.post(
        f"/teams/{team_id}/intake-targets",
        {"first_answer_working_days": "1", "evaluation_working_days": "5", "ppcs_days": "30"},
    )
    assert ok.status_code == 302
    login(world["outsider"])
    assert client.get(f"/teams/{team_id}/intake-targets").status_code == 404


def _register_many(team, user, count: int, start: datetime) -> None:
    from datetime import timedelta

    with clock.frozen(NOW):
        for i in range(count):
            services.register_request(
                user,
                team,
                services.RequestData(
                    received_at=start + timedelta(minutes=i),
                    requester_kind="gp",
                    channel="phone",
                    problem_categories=("medical",),
                ),
                SYSTEM,
            )


def _listed_ids(html: str) -> list[int]:
    import re

    return [int(i) for i in re.findall(r'class="request-link" href="/requests/(\d+)"', html)]


def test_the_queue_pages_through_every_request_with_true_counts(client, login, world, db):
    from ptap.intake.views import PAGE_SIZE

    _register_many(
        world["team"], world["coord"], PAGE_SIZE + 5, datetime(2026, 4, 7, 8, 0, tzinfo=PARIS)
    )
    db.session.commit()
    total = PAGE_SIZE + 6
    login(world["member"])
    first = client.get("/requests").get_data(as_text=True)
    assert f"{total} demandes en cours" in first and "page 1 sur 2" in first
    assert "page=2" in first and "Page suivante" in first
    second = client.get("/requests?page=2&status=open").get_data(as_text=True)
    assert "page 2 sur 2" in second and "Page précédente" in second
    ids_first, ids_second = _listed_ids(first), _listed_ids(second)
    assert len(ids_first) == PAGE_SIZE and len(ids_second) == 6
    everything = db.session.scalars(sa.select(SupportRequest.id)).all()
    assert sorted(ids_first + ids_second) == sorted(everything)
    # The urgent late request heads the queue.
    assert ids_first[0] == world["late"].id


def test_the_late_notice_counts_only_the_team_shown(client, login, world, db):
    second = make_team("DAC Givors")
    add_member(second, world["member"])
    _register_many(second, world["member"], 3, datetime(2026, 4, 2, 9, 0, tzinfo=PARIS))
    db.session.commit()
    login(world["member"])
    everything = client.get("/requests").get_data(as_text=True)
    assert "4 demandes en retard" in everything
    only_lyon = client.get(f"/requests?team={world['team'].id}").get_data(as_text=True)
    assert "1 demande en retard" in only_lyon and "4 demandes en retard" not in only_lyon
    assert "1 demande en cours" in only_lyon


def _edit_fields(**over):
    fields = {
        "received_on": "2026-04-03",
        "received_time": "17:00",
        "channel": "phone",
        "requester_kind": "caregiver",
        "requester_name": "Mme Petit (fille)",
        "requester_contact": "06 12 34 56 78",
        "person_summary": "Mère de 88 ans seule à domicile, chutes répétées.",
        "problem_categories": ["dependency", "social"],
        "urgent": "y",
    }
    fields.update(over)
    return fields


def _audited_updates(db, req):
    from ptap.audit.models import AuditEvent

    return db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "request.update", AuditEvent.object_id == str(req.id)
        )
    ).all()


def test_a_member_corrects_a_request_from_its_page(client, auth, login, world, db):
    req = world["late"]
    old_due = req.first_answer_due_at
    login(world["member"])
    page = client.get(f"/requests/{req.id}").get_data(as_text=True)
    assert f'href="/requests/{req.id}/edit"' in page
    form = client.get(f"/requests/{req.id}/edit").get_data(as_text=True)
    assert "Mme Petit (fille)" in form and 'value="2026-04-03"' in form and "17:00" in form
    response = auth.post(
        f"/requests/{req.id}/edit", _edit_fields(received_on="2026-04-07", received_time="10:15")
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/requests/{req.id}")
    db.session.refresh(req)
    assert req.requester_contact == "06 12 34 56 78"
    assert req.problem_categories.split() == ["dependency", "social"]
    assert req.received_at == datetime(2026, 4, 7, 10, 15, tzinfo=PARIS)
    assert req.first_answer_due_at > old_due  # the deadlines follow the new reception
    assert len(_audited_updates(db, req)) == 1
    assert "Demande corrigée." in client.get(f"/requests/{req.id}").get_data(as_text=True)


def test_a_refused_correction_keeps_what_was_typed_and_stores_nothing(
    client, auth, login, world, db
):
    req = world["late"]
    login(world["member"])
    response = auth.post(
        f"/requests/{req.id}/edit",
        _edit_fields(
            channel="",
            problem_categories=[],
            received_on="2026-05-20",  # in the future
            requester_name="Dr Leroy (corrigé)",
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Dr Leroy (corrigé)" in page  # nothing lost
    assert "Indiquez par quel canal la demande est arrivée." in page
    assert "Indiquez au moins un motif de la demande." in page
    assert 'class="error-summary' in page or "error-summary" in page
    response = auth.post(f"/requests/{req.id}/edit", _edit_fields(received_on="2026-05-20"))
    assert response.status_code == 422
    assert "La date de réception est dans le futur." in response.get_data(as_text=True)
    db.session.expire_all()
    assert req.requester_name == "Mme Petit (fille)" and req.channel == "phone"
    assert _audited_updates(db, req) == []


def test_another_teams_request_cannot_be_corrected(client, auth, login, world, db):
    req = world["late"]
    login(world["outsider"])
    assert client.get(f"/requests/{req.id}/edit").status_code == 404
    assert auth.post(f"/requests/{req.id}/edit", _edit_fields(channel="email")).status_code == 404
    db.session.expire_all()
    assert req.channel == "phone"


@pytest.mark.parametrize("role", ["ars_analyst", "admin"])
def test_other_roles_cannot_correct_a_request(client, auth, login, world, db, role):
    req = world["late"]
    login(make_user(role=role, profession="other"))
    assert client.get(f"/requests/{req.id}/edit").status_code == 403
    assert auth.post(f"/requests/{req.id}/edit", _edit_fields(channel="email")).status_code == 403
    db.session.expire_all()
    assert req.channel == "phone"


def test_a_closed_request_is_not_corrected(client, auth, login, world, db):
    req = world["late"]
    login(world["coord"])
    services.close_request(world["coord"], req, "duplicate", "", SYSTEM)
    db.session.commit()
    assert f'href="/requests/{req.id}/edit"' not in client.get(f"/requests/{req.id}").get_data(
        as_text=True
    )
    response = auth.post(f"/requests/{req.id}/edit", _edit_fields(channel="email"))
    assert response.status_code == 302
    db.session.refresh(req)
    assert req.channel == "phone"
