"""Messaging pages: list, thread readable without JavaScript, no-JS send, access refusals."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core.errors import PermissionDenied
from ptap.messaging import services
from ptap.messaging.models import Acknowledgement, Conversation, Message
from tests.factories import add_member, make_user
from tests.messaging.conftest import send


def thread(conversation) -> str:
    return f"/conversations/{conversation.id}"


def test_list_shows_conversations_with_unread_badges(auth, client, world, team_conversation):
    send(world.member, team_conversation, "Bonjour l'équipe")
    send(world.member, team_conversation, "Deuxième message")
    auth.login(world.coord)
    page = client.get("/conversations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Équipe Croix-Rousse" in html
    assert "2 non lus" in html
    assert 'action="/conversations/team"' in html
    assert 'action="/conversations/direct"' in html
    assert "Messagerie" in html  # navigation entry


def test_thread_renders_messages_in_order_and_marks_read(auth, client, world, team_conversation):
    send(world.member, team_conversation, "Premier **important**")
    send(world.member, team_conversation, "Second", priority="urgent")
    auth.login(world.coord)
    html = client.get(thread(team_conversation)).get_data(as_text=True)
    assert html.index("Premier") < html.index("Second")
    assert "<strong>important</strong>" in html
    assert world.member.full_name in html
    assert "Urgent" in html
    assert "Accuser réception" in html
    assert 'id="m1"' in html and 'id="m2"' in html
    assert "Aucun message" not in html.split('id="thread-empty"')[1].split(">")[0]
    assert "data-conversation-unread" not in client.get("/conversations").get_data(as_text=True)


def test_thread_time_is_paris_time(auth, client, world, team_conversation, db):
    from datetime import UTC, datetime

    message = send(world.member, team_conversation, "Heure").message
    message.created_at = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)
    db.session.commit()
    auth.login(world.coord)
    assert "15/01/2026 à 13:30" in client.get(thread(team_conversation)).get_data(as_text=True)


def test_no_js_send_redirects_to_the_message(auth, client, world, team_conversation, db):
    auth.login(world.coord)
    page = client.get(thread(team_conversation)).get_data(as_text=True)
    client_id = re.search(r'name="client_id" value="([0-9a-f]{32})"', page).group(1)
    data = {"body": "Envoyé sans JavaScript", "client_id": client_id}
    response = auth.post(f"{thread(team_conversation)}/messages", data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{thread(team_conversation)}#m1")
    # A double submit of the same form does not create a second message.
    auth.post(f"{thread(team_conversation)}/messages", data)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    html = client.get(thread(team_conversation)).get_data(as_text=True)
    assert "Envoyé sans JavaScript" in html


def test_no_js_send_without_client_id_and_urgent(auth, client, world, team_conversation, db):
    auth.login(world.coord)
    response = auth.post(
        f"{thread(team_conversation)}/messages", {"body": "Vite", "priority": "urgent"}
    )
    assert response.status_code == 302
    message = db.session.scalars(sa.select(Message)).one()
    assert message.priority == "urgent" and len(message.client_id) == 32


def test_empty_message_is_refused_on_the_page_itself(auth, client, world, team_conversation, db):
    auth.login(world.coord)
    response = auth.post(f"{thread(team_conversation)}/messages", {"body": "  "})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Écrivez un message ou joignez un fichier." in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_acknowledge_form(auth, client, world, team_conversation, db):
    message = send(world.member, team_conversation, "Urgent", priority="urgent").message
    db.session.commit()
    auth.login(world.coord)
    url = f"{thread(team_conversation)}/messages/{message.id}/acknowledge"
    assert auth.post(url).status_code == 302
    assert db.session.scalar(sa.select(Acknowledgement.user_id)) == world.coord.id
    html = client.get(thread(team_conversation)).get_data(as_text=True)
    name = world.coord.full_name
    assert re.search(rf"Pris en compte par {name} le \d{{2}}/\d{{2}} à \d{{2}}:\d{{2}}", html)
    assert 'data-ack="' not in html  # acknowledged: no button any more


def test_acknowledgements_say_who_and_when_in_paris_time(auth, client, world, db):
    from datetime import UTC, datetime

    conversation = services.get_or_create_team_conversation(world.coord, world.team)
    doctor = make_user(first_name="Xavier", last_name="Médecin", profession="physician")
    add_member(world.team, doctor)
    message = send(world.coord, conversation, "Chute", priority="urgent").message
    ctx = services.AuditContext(actor_id=doctor.id, actor_label=doctor.email)
    services.acknowledge_message(doctor, message, ctx)
    db.session.execute(
        sa.update(Acknowledgement).values(at=datetime(2026, 12, 7, 9, 32, tzinfo=UTC))
    )
    db.session.commit()
    auth.login(world.coord)  # the author sees who took it into account
    html = client.get(thread(conversation)).get_data(as_text=True)
    assert "Pris en compte par Dr Xavier Médecin le 07/12 à 10:32" in html
    assert "En attente de prise en compte" not in html
    [payload] = client.get(f"/api/v1/conversations/{conversation.id}/messages").json["items"]
    assert payload["acknowledgements"] == [
        {"user_id": doctor.id, "name": "Dr Xavier Médecin", "at": "2026-12-07T09:32:00+00:00"}
    ]


def test_urgent_message_waits_for_acknowledgement(auth, client, world, team_conversation, db):
    send(world.coord, team_conversation, "Chute", priority="urgent")
    db.session.commit()
    auth.login(world.coord)
    html = client.get(thread(team_conversation)).get_data(as_text=True)
    assert "En attente de prise en compte." in html


def test_open_team_and_direct_conversations(auth, client, world, db):
    auth.login(world.coord)
    response = auth.post("/conversations/team", {"team_id": str(world.team.id)})
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200
    response = auth.post("/conversations/direct", {"user_id": str(world.member.id)})
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert world.member.full_name in html


def test_former_member_is_no_direct_recipient(auth, client, world, db):
    """Bug: a professional whose membership ended was still offered in "Professionnel"."""
    former = make_user(profession="nurse", first_name="Ancienne", last_name="Collègue")
    add_member(world.team, former, starts_on=date(2020, 1, 1), ends_on=date(2021, 1, 1))
    db.session.commit()
    auth.login(world.coord)
    page = client.get("/conversations").get_data(as_text=True)
    assert f'value="{world.member.id}"' in page
    assert f'value="{former.id}"' not in page
    assert "Collègue" not in page
    # The server refuses too: no conversation, a clear message.
    response = auth.post("/conversations/direct", {"user_id": str(former.id)})
    assert response.status_code == 302
    assert "Choisissez un professionnel de santé." in client.get("/conversations").get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0
    with pytest.raises(PermissionDenied):
        services.get_or_create_direct_conversation(world.coord, former)


def test_outsider_gets_404_and_cannot_post(auth, client, world, team_conversation, db):
    auth.login(world.outsider)
    assert client.get(thread(team_conversation)).status_code == 404
    response = auth.post(f"{thread(team_conversation)}/messages", {"body": "Intrus"})
    assert response.status_code == 404
    assert auth.post("/conversations/team", {"team_id": str(world.team.id)}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    assert client.get("/conversations/999999").status_code == 404


def test_thread_read_is_audited(auth, client, world, team_conversation, db):
    auth.login(world.coord)
    client.get(thread(team_conversation))
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.actor_id == world.coord.id)
    ).all()
    assert "message.read" in actions


@pytest.mark.parametrize("role", ["admin", "ars_analyst"])
def test_admin_and_ars_are_refused(auth, client, db, world, team_conversation, role):
    user = make_user(role=role, profession="administrative")
    db.session.commit()
    auth.login(user)
    assert client.get("/conversations").status_code == 403
    assert client.get(thread(team_conversation)).status_code == 403
    assert ">Messagerie<" not in client.get("/").get_data(as_text=True)


def test_xss_payload_is_inert(auth, client, world, team_conversation, db):
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)"> [a](javascript:alert(3))'
    send(world.member, team_conversation, payload)
    db.session.commit()
    auth.login(world.coord)
    html = client.get(thread(team_conversation)).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert 'href="javascript:' not in html


def test_list_page_links_to_more_conversations(auth, client, world, db, monkeypatch):
    from ptap.messaging import services, views
    from tests.factories import add_member, make_user

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for _ in range(3):
        other = make_user()
        add_member(world.team, other)  # a direct recipient still belongs to a team
        services.get_or_create_direct_conversation(world.coord, other)
    db.session.commit()
    auth.login(world.coord)
    first = client.get("/conversations").get_data(as_text=True)
    assert first.count('class="conversation"') == 2
    assert "Plus de conversations" in first
    cursor = first.split("/conversations?cursor=")[1].split('"')[0]
    second = client.get(f"/conversations?cursor={cursor}").get_data(as_text=True)
    assert second.count('class="conversation"') == 1
    assert "Plus de conversations" not in second
