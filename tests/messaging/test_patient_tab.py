"""The patient record's Messages tab: opened (or started by a POST) from the record, its unread
badge, and the one composer for text and files, without JavaScript."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from ptap.messaging import services
from ptap.messaging.models import Attachment, Conversation, Message
from tests.messaging.conftest import send

PDF = b"%PDF-1.7\n" + b"0" * 300


def tab(patient) -> str:
    return f"/patients/{patient.id}/messages"


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_record_links_to_the_messages_tab(auth, client, world):
    auth.login(world.coord)
    html = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert f'href="{tab(world.patient)}"' in html
    assert ">Messages<" in html or ">Messages " in html


def test_tab_without_conversation_offers_to_start_it(auth, client, world, db):
    auth.login(world.member)
    response = client.get(tab(world.patient))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(rf'href="{tab(world.patient)}" aria-current="page">Messages', html)
    assert "Démarrer la conversation du patient" in html
    assert 'id="message-form"' not in html
    assert count(db, Conversation) == 0  # a GET creates nothing


def test_start_is_a_post_with_csrf_then_the_thread_shows(auth, client, world, db):
    auth.login(world.member)
    assert client.post(f"{tab(world.patient)}/conversation").status_code == 400  # no token
    assert count(db, Conversation) == 0
    response = auth.post(f"{tab(world.patient)}/conversation")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{tab(world.patient)}#nouveau-message")
    conversation = db.session.scalars(sa.select(Conversation)).one()
    assert conversation.patient_id == world.patient.id
    html = client.get(tab(world.patient)).get_data(as_text=True)
    assert f'data-conversation-id="{conversation.id}"' in html
    assert f'action="/conversations/{conversation.id}/messages?from=record"' in html
    assert 'enctype="multipart/form-data"' in html
    # Twice: still one conversation.
    auth.post(f"{tab(world.patient)}/conversation")
    assert count(db, Conversation) == 1


def test_outsider_gets_the_usual_refusal(auth, client, world, db, patient_conversation):
    auth.login(world.outsider)
    assert client.get(tab(world.patient)).status_code == 404
    assert auth.post(f"{tab(world.patient)}/conversation").status_code == 404


def test_outsider_cannot_create_a_conversation(auth, client, world, db):
    auth.login(world.outsider)
    assert auth.post(f"{tab(world.patient)}/conversation").status_code == 404
    assert count(db, Conversation) == 0


def test_tab_badge_counts_the_viewers_unread_messages(auth, client, world, db):
    conversation = services.get_or_create_patient_conversation(world.coord, world.patient)
    send(world.member, conversation, "Passage ce matin")
    send(world.member, conversation, "Tension 13/8")
    db.session.commit()
    auth.login(world.coord)
    record = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    badge = re.search(r"Messages <span class=\"tab-badge\" data-tab-badge>(\d+)", record)
    assert badge and badge.group(1) == "2"
    # Opening the tab reads them: the badge goes.
    client.get(tab(world.patient))
    record = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert "data-tab-badge" not in record


def test_tab_badge_leaves_out_the_viewers_own_messages(auth, client, world, db):
    conversation = services.get_or_create_patient_conversation(world.coord, world.patient)
    send(world.member, conversation, "Passage ce matin")
    db.session.commit()
    auth.login(world.member)
    record = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert "data-tab-badge" not in record


def _send_form(auth, conversation, body, files=(), where="?from=record"):
    data = {"body": body, "client_id": "form-1"}
    if files:
        data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return auth.post(
        f"/conversations/{conversation.id}/messages{where}",
        data,
        content_type="multipart/form-data",
    )


def test_text_and_files_go_in_one_message_back_to_the_tab(
    auth, client, world, db, patient_conversation
):
    auth.login(world.coord)
    docx = _docx()
    response = _send_form(
        auth,
        patient_conversation,
        "Compte rendu et ordonnance",
        [("cr.pdf", PDF), ("synthese.docx", docx)],
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{tab(world.patient)}#m1")
    message = db.session.scalars(sa.select(Message)).one()
    assert message.body == "Compte rendu et ordonnance"
    names = db.session.scalars(sa.select(Attachment.filename).order_by(Attachment.id)).all()
    assert names == ["cr.pdf", "synthese.docx"]
    html = client.get(tab(world.patient)).get_data(as_text=True)
    assert "synthese.docx" in html and "cr.pdf" in html


def test_a_file_alone_is_a_message(auth, world, db, patient_conversation):
    auth.login(world.coord)
    assert _send_form(auth, patient_conversation, "", [("cr.pdf", PDF)]).status_code == 302
    assert count(db, Attachment) == 1


def test_refused_file_keeps_the_text_on_the_tab(auth, world, db, patient_conversation):
    auth.login(world.coord)
    response = _send_form(
        auth,
        patient_conversation,
        "Texte long à ne pas perdre",
        [("setup.docx", b"MZ\x90\x00" + b"\x00" * 64)],
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Type de fichier refusé pour « setup.docx »" in html
    assert "Choisissez de nouveau vos fichiers." in html
    assert ">Texte long à ne pas perdre</textarea>" in html
    assert 'aria-current="page">Messages' in html  # still in the record
    assert count(db, Message) == 0 and count(db, Attachment) == 0


def test_too_large_file_keeps_the_text_and_urgency(app, auth, world, db, team_conversation):
    app.config["MESSAGING_ATTACHMENT_MAX_MB"] = 0.001
    auth.login(world.coord)
    response = auth.post(
        f"/conversations/{team_conversation.id}/messages",
        {
            "body": "Gros fichier",
            "priority": "urgent",
            "files": [(io.BytesIO(PDF * 10), "gros.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "« gros.pdf » dépasse la taille maximale" in html
    assert ">Gros fichier</textarea>" in html
    assert 'value="urgent" id="priority" checked' in html
    assert count(db, Message) == 0


def test_empty_message_without_file_is_refused(auth, world, db, patient_conversation):
    auth.login(world.coord)
    response = _send_form(auth, patient_conversation, "   ")
    assert response.status_code == 422
    assert "Écrivez un message ou joignez un fichier." in response.get_data(as_text=True)


def test_too_many_files_are_refused(auth, world, db, patient_conversation):
    auth.login(world.coord)
    files = [(f"cr{i}.pdf", PDF) for i in range(services.MAX_ATTACHMENTS + 1)]
    response = _send_form(auth, patient_conversation, "Lot", files)
    assert response.status_code == 422
    assert "au plus 5 pièces jointes" in response.get_data(as_text=True)
    assert count(db, Attachment) == 0


def test_break_glass_reader_sees_the_thread_but_no_composer(
    auth, client, world, db, patient_conversation
):
    from datetime import timedelta

    from ptap.care_teams.models import BreakGlassAccess
    from ptap.core.models import utcnow

    send(world.coord, patient_conversation, "Note du cercle")
    db.session.add(
        BreakGlassAccess(
            patient_id=world.patient.id,
            user_id=world.outsider.id,
            reason="Appel du SAMU",
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    db.session.commit()
    auth.login(world.outsider)
    response = client.get(tab(world.patient))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Note du cercle" in html
    assert 'id="message-form"' not in html
    assert "Vous pouvez lire cette conversation mais pas y écrire." in html


def _docx() -> bytes:
    from tests.messaging.test_attachments import DOCX_BYTES

    return DOCX_BYTES
