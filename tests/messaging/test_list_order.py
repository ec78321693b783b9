"""The conversation list: the most recent last message first (not the longest thread), pages
without gaps or repeats, ties broken by id."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ptap.core.errors import InvalidInput
from ptap.core.models import utcnow
from ptap.messaging import queries, services
from ptap.messaging.models import Conversation, Message
from tests.factories import add_member, make_patient, make_user
from tests.messaging.conftest import send


def _age(db, conversation: Conversation, **delta) -> None:
    """Move every message of the conversation (and its creation) back in time."""
    when = utcnow() - timedelta(**delta)
    db.session.execute(
        sa.update(Message).where(Message.conversation_id == conversation.id).values(created_at=when)
    )
    db.session.execute(
        sa.update(Conversation).where(Conversation.id == conversation.id).values(created_at=when)
    )


def _all_pages(user_id: int, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(20):
        page = queries.list_conversations(user_id, limit=limit, cursor=cursor)
        ids += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("the pages never end")


@pytest.fixture
def three(world, db, team_conversation, patient_conversation):
    """A long thread that went quiet, a short recent one, and one with no message yet."""
    for i in range(6):
        send(world.member, team_conversation, f"Ancien message {i}")
    _age(db, team_conversation, days=3)
    send(world.member, patient_conversation, "Nouvelle du jour")
    _age(db, patient_conversation, hours=1)
    colleague = make_user()
    add_member(world.team, colleague)
    direct = services.get_or_create_direct_conversation(world.coord, colleague)
    _age(db, direct, days=1)  # opened yesterday, still empty
    db.session.commit()
    return team_conversation, patient_conversation, direct


def test_most_recent_message_comes_first_whatever_the_sequence(world, three):
    long_quiet, short_recent, empty = three
    assert long_quiet.last_seq > short_recent.last_seq  # the old order put it first
    listed = [c.id for c in queries.list_conversations(world.coord.id, limit=50).items]
    assert listed == [short_recent.id, empty.id, long_quiet.id]


def test_pages_of_one_follow_the_same_order_without_repeat(world, three):
    long_quiet, short_recent, empty = three
    assert _all_pages(world.coord.id, limit=1) == [short_recent.id, empty.id, long_quiet.id]


def test_a_new_message_brings_its_conversation_to_the_top(world, three, db):
    long_quiet, short_recent, empty = three
    send(world.member, long_quiet, "Réveil du fil")
    db.session.commit()
    listed = [c.id for c in queries.list_conversations(world.coord.id, limit=50).items]
    assert listed == [long_quiet.id, short_recent.id, empty.id]


def test_ties_on_the_instant_are_broken_by_id_across_pages(world, db):
    when = utcnow() - timedelta(hours=2)
    made = []
    for _ in range(5):
        patient = make_patient(world.team, world.coord)
        conversation = services.get_or_create_patient_conversation(world.coord, patient)
        send(world.coord, conversation, "Même instant")
        made.append(conversation)
    db.session.execute(sa.update(Message).values(created_at=when))
    db.session.commit()
    expected = sorted((c.id for c in made), reverse=True)
    assert _all_pages(world.coord.id, limit=2) == expected
    assert _all_pages(world.coord.id, limit=50) == expected


def test_a_forged_cursor_is_refused(world, three):
    from ptap.core.api import encode_cursor

    for key in ("pas une date", "2026-12-07T10:00:00", 12):
        bad = encode_cursor({"after": 1, "key": [key]})
        with pytest.raises(InvalidInput):
            queries.list_conversations(world.coord.id, limit=1, cursor=bad)


def test_list_page_shows_the_recent_conversation_first(auth, client, world, three):
    long_quiet, short_recent, _ = three
    auth.login(world.coord)
    html = client.get("/conversations").get_data(as_text=True)
    assert html.index(f'data-conversation-id="{short_recent.id}"') < html.index(
        f'data-conversation-id="{long_quiet.id}"'
    )
