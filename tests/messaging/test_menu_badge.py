"""The main menu's unread-message total: one query, only the messages the user may read."""

from __future__ import annotations

import re

from ptap.messaging import queries, services
from tests.messaging.conftest import send


def badge(body: str) -> tuple[str, bool]:
    match = re.search(
        r'<span class="nav-badge" id="messages-unread-badge"( hidden)?>'
        r'<span id="messages-unread-count">(\d+)</span>',
        body,
    )
    assert match, "no messages badge"
    return match.group(2), match.group(1) is None


def test_the_menu_counts_unread_messages(
    client, auth, world, patient_conversation, team_conversation, db
):
    send(world.member, team_conversation, "Mon propre message")  # one's own: not unread
    send(world.coord, patient_conversation, "Passage ce soir")
    send(world.coord, team_conversation, "Réunion demain")
    send(world.coord, team_conversation, "Salle 2")
    db.session.commit()
    assert queries.unread_total(world.member.id) == 3
    assert queries.unread_total(world.outsider.id) == 0

    auth.login(world.member)
    assert badge(client.get("/account").get_data(as_text=True)) == ("3", True)

    services.mark_read(world.member, team_conversation, 4)
    db.session.commit()
    assert badge(client.get("/account").get_data(as_text=True)) == ("1", True)


def test_an_outsider_sees_no_count(client, auth, world, patient_conversation, db):
    send(world.coord, patient_conversation, "Passage ce soir")
    db.session.commit()
    auth.login(world.outsider)
    assert badge(client.get("/account").get_data(as_text=True)) == ("0", False)


def test_the_total_is_one_statement(
    app, world, patient_conversation, team_conversation, db, count_queries
):
    for _ in range(3):
        send(world.coord, patient_conversation, "x")
        send(world.coord, team_conversation, "y")
    db.session.commit()
    member_id = world.member.id
    with count_queries() as seen:
        assert queries.unread_total(member_id) == 6
    assert len(seen) == 1
