"""The patient search: sources, need-to-know per hit, ranking, filters, query count."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ptap.care_teams.models import BreakGlassAccess
from ptap.core import clock
from ptap.search.queries import SearchFilters, search_patient
from tests.factories import add_member, make_patient, make_user
from tests.search.conftest import (
    add_event,
    add_filing,
    add_letter,
    add_meeting,
    add_version,
    plan_content,
    send,
    today,
)


@pytest.fixture(autouse=True)
def _request(app):
    """Hits carry their links: build them as a page would."""
    with app.test_request_context():
        yield


def test_every_source_is_searched_with_french_stemming_and_accents(world, db):
    add_version(world, 1, plan_content("Escaliers raides pour la chambre", "Sécuriser", "Rampe"))
    add_meeting(world, world.team, "RCP de mars", ["Décision : monter un lit au rez-de-chaussée"])
    add_letter(world, "Courrier au cardiologue", "Bilan de la décision de pose de rampe.")
    send(world, world.nurse, "Vu avec la famille pour l'escalier de la cave.")
    add_event(world, "Chute dans l'escalier")
    add_filing(world, "Compte rendu de cardiologie")
    db.session.commit()

    stairs = search_patient(world.coord, world.patient, "escalier")
    assert {h.document.kind for h in stairs.hits} == {"care_plan", "message", "care_event"}
    decision = search_patient(world.coord, world.patient, "decision")
    assert {h.document.kind for h in decision.hits} == {"meeting", "letter"}
    cardio = search_patient(world.coord, world.patient, "CARDIO")
    assert {h.document.kind for h in cardio.hits} == {"letter", "dmp_filing"}
    plan_hit = next(h for h in stairs.hits if h.document.kind == "care_plan")
    assert plan_hit.url == f"/patients/{world.patient.id}/care-plan/versions/1"
    assert "<mark>Escaliers</mark>" in str(plan_hit.snippet_html)
    message_hit = next(h for h in stairs.hits if h.document.kind == "message")
    assert message_hit.url.endswith(f"/conversations/{world.conversation.id}#m1")


def test_a_title_match_ranks_before_body_matches(world, db):
    add_letter(world, "Divers", "escalier escalier escalier, et encore l'escalier")
    add_letter(world, "Aménagement de l'escalier", "Rien d'autre.")
    db.session.commit()
    results = search_patient(world.coord, world.patient, "escalier")
    assert [h.document.title for h in results.hits] == ["Aménagement de l'escalier", "Divers"]


def test_more_matches_rank_first_then_the_most_recent(world, db):
    send(world, world.nurse, "escalier")
    send(world, world.nurse, "escalier et rampe de l'escalier")
    send(world, world.nurse, "encore l'escalier")
    db.session.commit()
    results = search_patient(world.coord, world.patient, "escalier")
    assert [h.snippet for h in results.hits] == [
        "escalier et rampe de l'escalier",
        "encore l'escalier",
        "escalier",
    ]


def test_a_meeting_of_another_team_the_user_does_not_attend_is_absent(world, db):
    add_member(world.other_team, make_user(), "member")
    add_meeting(world, world.other_team, "RCP Vienne", ["Escalier : décision de l'autre équipe"])
    add_meeting(world, world.team, "RCP Lyon", ["Escalier : décision de l'équipe"])
    db.session.commit()
    titles = [h.document.title for h in search_patient(world.coord, world.patient, "escalier").hits]
    assert titles == ["Concertation : RCP Lyon"]


def test_other_patients_and_retracted_messages_are_absent(world, db):
    other = make_patient(world.team, world.coord)
    send(world, world.nurse, "L'escalier du patient")
    retracted = send(world, world.nurse, "Escalier : message retiré")
    retracted.message.retracted_at = clock.now()
    saved = world.conversation
    world.conversation = None
    world.patient, mine = other, world.patient
    send(world, world.nurse, "Escalier d'un autre patient")
    add_letter(world, "Escalier", "Lettre d'un autre patient")
    world.patient, world.conversation = mine, saved
    db.session.commit()
    hits = search_patient(world.coord, world.patient, "escalier").hits
    assert [h.snippet for h in hits] == ["L'escalier du patient"]


def test_messages_are_absent_when_the_user_may_not_read_the_conversation(world, db, monkeypatch):
    send(world, world.nurse, "L'escalier de la cave")
    add_letter(world, "Escalier", "Lettre")
    db.session.commit()
    monkeypatch.setattr("ptap.search.sources.can_read_conversation", lambda user, conv: False)
    kinds = {h.document.kind for h in search_patient(world.coord, world.patient, "escalier").hits}
    assert kinds == {"letter"}


def test_break_the_glass_reader_finds_hits_but_not_other_teams_meetings(world, db):
    add_meeting(world, world.team, "RCP Lyon", ["Escalier : décision"])
    add_letter(world, "Escalier", "Lettre")
    db.session.add(
        BreakGlassAccess(
            user_id=world.outsider.id,
            patient_id=world.patient.id,
            reason="Urgence : appel du SAMU",
            expires_at=clock.now() + timedelta(hours=4),
        )
    )
    db.session.commit()
    kinds = {
        h.document.kind for h in search_patient(world.outsider, world.patient, "escalier").hits
    }
    assert kinds == {"letter"}


def test_type_and_date_filters(world, db):
    add_event(world, "Escalier, il y a longtemps", days_ago=100)
    add_event(world, "Escalier, récemment", days_ago=2)
    add_letter(world, "Escalier", "Lettre")
    db.session.commit()
    only_events = search_patient(
        world.coord, world.patient, "escalier", SearchFilters(frozenset({"care_event"}))
    )
    assert {h.document.kind for h in only_events.hits} == {"care_event"}
    assert only_events.total == 2
    recent = search_patient(
        world.coord,
        world.patient,
        "escalier",
        SearchFilters(frozenset({"care_event"}), since=today() - timedelta(days=10)),
    )
    assert [h.snippet for h in recent.hits] == ["Escalier, récemment"]
    old = search_patient(
        world.coord,
        world.patient,
        "escalier",
        SearchFilters(until=today() - timedelta(days=50)),
    )
    assert [h.snippet for h in old.hits] == ["Escalier, il y a longtemps"]


def test_results_are_paged_with_the_total(world, db):
    for i in range(25):
        send(world, world.nurse, f"escalier numéro {i}")
    db.session.commit()
    first = search_patient(world.coord, world.patient, "escalier", per_page=10)
    last = search_patient(world.coord, world.patient, "escalier", page=99, per_page=10)
    assert (first.total, first.pages, len(first.hits)) == (25, 3, 10)
    assert (last.page, len(last.hits)) == (3, 5)


def test_search_cost_does_not_grow_with_the_hits(world, db, count_queries):
    def fill(n: int, start: int) -> None:
        for i in range(start, start + n):
            send(world, world.nurse, f"escalier {i}")
            add_event(world, f"escalier {i}")
            add_letter(world, f"Escalier {i}", "Lettre")
            add_filing(world, f"Escalier {i}")
        add_version(world, start + 1, plan_content(f"Escalier {start}", "Objectif", "Action"))
        add_meeting(world, world.team, f"RCP {start}", ["Escalier"])
        db.session.commit()

    fill(1, 0)
    with count_queries() as few:
        assert search_patient(world.coord, world.patient, "escalier").total == 6
    fill(5, 10)
    with count_queries() as many:
        assert search_patient(world.coord, world.patient, "escalier").total == 28
    assert len(many) == len(few)


def test_plan_versions_repeating_a_later_one_are_folded_into_it(world, db):
    stairs = plan_content("Escaliers raides", "Sécuriser", "Rampe")
    add_version(world, 1, stairs)
    add_version(world, 2, stairs, summary="Suivi")
    add_version(world, 3, plan_content("Escaliers raides", "Sécuriser", "Main courante"))
    db.session.commit()
    hits = search_patient(world.coord, world.patient, "escalier").hits
    assert [(h.document.title, h.document.context) for h in hits] == [
        ("Plan de coordination, version 3", "Version 3 publiée"),
        (
            "Plan de coordination, version 2",
            "Version 2 publiée : Suivi · même contenu que la version 1",
        ),
    ]


def test_a_message_older_than_any_batch_is_found(world, db, monkeypatch):
    """No silent cap: the whole conversation is searched, a small batch at a time."""
    from ptap.search import sources

    # Before the fix the source kept only the MESSAGE_CAP most recent messages.
    monkeypatch.setattr(sources, "MESSAGE_CAP", 3, raising=False)
    monkeypatch.setattr(sources, "MESSAGE_BATCH", 3, raising=False)
    send(world, world.nurse, "La rampe de l'escalier est posée")
    for i in range(7):
        send(world, world.nurse, f"Passage {i} de l'infirmière")
    retracted = send(world, world.nurse, "Escalier : message retiré")
    retracted.message.retracted_at = clock.now()
    db.session.commit()
    results = search_patient(world.coord, world.patient, "escalier")
    assert [h.snippet for h in results.hits] == ["La rampe de l'escalier est posée"]
    assert results.hits[0].url.endswith("#m1")
    assert search_patient(world.coord, world.patient, "passage").total == 7


def test_a_meeting_guest_finds_only_the_patients_they_are_invited_for(world, db):
    """A guest of a meeting sees only their invited patients' items (visible_agenda), even
    when they read this patient on another basis (here break-the-glass)."""
    from ptap.meetings.models import MeetingGuestPatient, MeetingParticipant

    meeting = add_meeting(world, world.team, "RCP Lyon", ["Escalier : décision"])
    meeting.status = "planned"  # a guest takes part while the meeting is not over
    add_letter(world, "Escalier", "Lettre")
    other = make_patient(world.team, world.coord)
    guest = MeetingParticipant(meeting_id=meeting.id, user_id=world.outsider.id, role="guest")
    db.session.add(guest)
    db.session.flush()
    invited = MeetingGuestPatient(participant_id=guest.id, patient_id=other.id)
    db.session.add(invited)
    db.session.add(
        BreakGlassAccess(
            user_id=world.outsider.id,
            patient_id=world.patient.id,
            reason="Urgence : appel du SAMU",
            expires_at=clock.now() + timedelta(hours=4),
        )
    )
    db.session.commit()

    def kinds() -> set[str]:
        hits = search_patient(world.outsider, world.patient, "escalier").hits
        return {h.document.kind for h in hits}

    assert kinds() == {"letter"}
    invited.patient_id = world.patient.id  # invited for this patient: the item is theirs
    db.session.commit()
    assert kinds() == {"letter", "meeting"}
