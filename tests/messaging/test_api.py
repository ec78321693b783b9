"""Messaging API: need-to-know (404), catch-up in order, idempotent send, attachments, search."""

import io

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.care_teams import circle
from ptap.messaging.models import Attachment, Message
from tests.messaging.conftest import headers, send

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


def _url(conversation, tail="messages"):
    return f"/api/v1/conversations/{conversation.id}/{tail}"


def test_outsider_cannot_read_or_write_over_the_api(client, world, patient_conversation, db):
    send(world.coord, patient_conversation, "Secret médical")
    h = headers(world.outsider)
    assert client.get(_url(patient_conversation), headers=h).status_code == 404
    body = {"client_id": "c1", "body": "Intrus"}
    assert client.post(_url(patient_conversation), json=body, headers=h).status_code == 404
    opened = client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": world.patient.id},
        headers=h,
    )
    assert opened.status_code == 404
    assert client.get("/api/v1/conversations", headers=h).json["items"] == []


def test_open_conversation_and_list_with_unread(client, world, db):
    h = headers(world.member)
    opened = client.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": world.team.id}, headers=h
    )
    assert opened.status_code == 200
    conversation_id = opened.json["id"]
    client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "x1", "body": "Réunion jeudi"},
        headers=headers(world.coord),
    )
    [item] = client.get("/api/v1/conversations", headers=h).json["items"]
    assert (item["id"], item["unread"], item["last_seq"]) == (conversation_id, 1, 1)
    missing = client.post("/api/v1/conversations", json={"kind": "team"}, headers=h)
    assert missing.status_code == 422


def test_send_is_idempotent_on_client_id(client, world, team_conversation, db):
    h = headers(world.member)
    body = {"client_id": "uuid-42", "body": "Bonjour"}
    first = client.post(_url(team_conversation), json=body, headers=h)
    again = client.post(_url(team_conversation), json=body, headers=h)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"] and again.json["seq"] == first.json["seq"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_catch_up_after_a_sequence_in_order_none_missing(client, world, team_conversation, db):
    for i in range(1, 8):
        send(world.coord if i % 2 else world.member, team_conversation, f"message {i}")
    h = headers(world.member)
    seen, cursor = [], None
    while True:
        query = "?after=3&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(_url(team_conversation) + query, headers=h).json
        seen += [(m["seq"], m["body"]) for m in page["items"]]
        cursor = page["page"]["next_cursor"]
        if not cursor:
            break
    assert seen == [(s, f"message {s}") for s in range(4, 8)]
    assert client.get(_url(team_conversation) + "?after=x", headers=h).status_code == 422


def test_patient_message_reads_are_audited(client, world, patient_conversation, db):
    send(world.coord, patient_conversation, "Bilan")
    client.get(_url(patient_conversation) + "?after=0", headers=headers(world.member))
    event = db.session.scalars(
        sa.select(AuditEvent).filter_by(action="message.read", actor_id=world.member.id)
    ).one()
    assert event.patient_id == world.patient.id


def test_edit_retract_acknowledge_over_the_api(client, world, patient_conversation, db):
    h = headers(world.coord)
    sent = client.post(
        _url(patient_conversation),
        json={"client_id": "u1", "body": "Chute", "priority": "urgent"},
        headers=h,
    ).json
    edited = client.patch(
        f"/api/v1/messages/{sent['id']}", json={"body": "Chute ce matin"}, headers=h
    )
    assert edited.status_code == 200 and edited.json["edited_at"]
    other = client.patch(
        f"/api/v1/messages/{sent['id']}", json={"body": "x"}, headers=headers(world.member)
    )
    assert other.status_code == 403
    acked = client.post(f"/api/v1/messages/{sent['id']}/acknowledge", headers=headers(world.member))
    assert acked.json["acknowledged_by"] == [world.member.id]
    retracted = client.post(f"/api/v1/messages/{sent['id']}/retract", headers=h)
    assert retracted.json["body"] == "" and retracted.json["retracted_at"]
    outsider = client.post(
        f"/api/v1/messages/{sent['id']}/retract", headers=headers(world.outsider)
    )
    assert outsider.status_code == 404


def test_mark_read_over_the_api(client, world, team_conversation, db):
    for _ in range(3):
        send(world.coord, team_conversation)
    response = client.post(
        _url(team_conversation, "read"), json={"seq": 2}, headers=headers(world.member)
    )
    assert response.json == {
        "conversation_id": team_conversation.id,
        "last_read_seq": 2,
        "unread": 1,
    }


def _upload(client, conversation, user, name, content, client_id="f1"):
    return client.post(
        _url(conversation, "attachments"),
        data={"file": (io.BytesIO(content), name), "client_id": client_id, "body": "CR"},
        headers=headers(user),
        content_type="multipart/form-data",
    )


def test_attachment_round_trip_with_the_sniffed_type(client, world, patient_conversation, db):
    response = _upload(client, patient_conversation, world.coord, "compte-rendu.pdf", PDF)
    assert response.status_code == 201
    [meta] = response.json["attachments"]
    assert (meta["content_type"], meta["filename"]) == ("application/pdf", "compte-rendu.pdf")
    download = client.get(meta["url"], headers=headers(world.member))
    assert download.status_code == 200
    assert download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()
    assert client.get(meta["url"], headers=headers(world.outsider)).status_code == 404
    stored = db.session.scalars(sa.select(Attachment)).one()
    assert stored.storage_path.startswith("messages/") and "/" not in stored.storage_path[9:]


def test_attachment_is_encrypted_at_rest_with_owner_only_modes(
    app, client, world, patient_conversation, db
):
    from pathlib import Path

    from ptap.messaging.attachments import MAGIC, attachment_path

    response = _upload(client, patient_conversation, world.coord, "compte-rendu.pdf", PDF)
    assert response.status_code == 201
    stored = db.session.scalars(sa.select(Attachment)).one()
    path = attachment_path(stored.storage_path)
    on_disk = path.read_bytes()
    assert on_disk.startswith(MAGIC)
    assert PDF not in on_disk and b"%PDF" not in on_disk
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    key_file = Path(app.config["MESSAGING_ATTACHMENT_KEY_FILE"])
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().strip() not in on_disk
    download = client.get(response.json["attachments"][0]["url"], headers=headers(world.member))
    assert download.data == PDF
    download.close()


def test_attachment_copied_under_another_name_or_with_another_key_does_not_decrypt(
    app, client, world, patient_conversation, db
):
    import pytest
    from cryptography.exceptions import InvalidTag

    from ptap.messaging.attachments import attachment_path, read_attachment

    _upload(client, patient_conversation, world.coord, "compte-rendu.pdf", PDF)
    stored = db.session.scalars(sa.select(Attachment)).one()
    path = attachment_path(stored.storage_path)
    assert read_attachment(stored.storage_path) == PDF
    path.with_name("copie").write_bytes(path.read_bytes())
    with pytest.raises(InvalidTag):
        read_attachment("messages/copie")
    app.extensions.pop("ptap_attachment_key")
    app.config["MESSAGING_ATTACHMENT_KEY"] = "B" * 43
    with pytest.raises(InvalidTag):
        read_attachment(stored.storage_path)


def test_production_never_generates_the_attachment_key(app, tmp_path):
    import pytest

    from ptap.messaging.attachments import AttachmentKeyError, attachment_key

    app.extensions.pop("ptap_attachment_key", None)
    app.config.update(ENV="production", MESSAGING_ATTACHMENT_KEY="")
    app.config["MESSAGING_ATTACHMENT_KEY_FILE"] = str(tmp_path / "absent.key")
    with pytest.raises(AttachmentKeyError):
        attachment_key()
    assert not (tmp_path / "absent.key").exists()


def test_pdf_name_with_png_bytes_is_stored_as_png(client, world, patient_conversation, db):
    response = _upload(client, patient_conversation, world.coord, "scan.pdf", PNG)
    assert response.status_code == 201
    [meta] = response.json["attachments"]
    assert (meta["content_type"], meta["filename"]) == ("image/png", "scan.png")
    download = client.get(meta["url"], headers=headers(world.coord))
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"].startswith("inline;")
    download.close()


def test_executable_renamed_pdf_is_refused(client, world, patient_conversation, db):
    response = _upload(client, patient_conversation, world.coord, "ordonnance.pdf", EXE)
    assert response.status_code == 422
    assert response.json["field"] == "file"
    html = _upload(client, patient_conversation, world.coord, "x.pdf", b"<html><script>", "f2")
    assert html.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_oversized_attachment_is_refused(app, client, world, patient_conversation, db):
    app.config["MESSAGING_ATTACHMENT_MAX_MB"] = 0.001  # about 1 kB
    response = _upload(client, patient_conversation, world.coord, "gros.pdf", PDF + b"0" * 2048)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    app.config["MAX_CONTENT_LENGTH"] = 1024  # the whole request too large: 413 as well
    response = _upload(client, patient_conversation, world.coord, "gros.pdf", PDF + b"0" * 2048)
    assert response.status_code == 413


def test_search_finds_only_readable_messages(client, world, patient_conversation, db):
    from ptap.messaging import services

    send(world.coord, patient_conversation, "La kinésithérapie reprend lundi")
    direct = services.get_or_create_direct_conversation(world.outsider, world.coord)
    send(world.outsider, direct, "Kinésithérapie : question privée")

    def hits(user, q):
        response = client.get(f"/api/v1/messages/search?q={q}", headers=headers(user))
        assert response.status_code == 200
        return sorted(m["body"] for m in response.json["items"])

    assert hits(world.member, "kinésithérapie") == ["La kinésithérapie reprend lundi"]
    assert hits(world.coord, "kinésithérapie") == [
        "Kinésithérapie : question privée",
        "La kinésithérapie reprend lundi",
    ]
    assert hits(world.outsider, "kinésithérapie") == ["Kinésithérapie : question privée"]
    # Leaving the circle (consent withdrawn) removes the patient's messages from results.
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    assert hits(world.member, "kinésithérapie") == []
    assert (
        client.get("/api/v1/messages/search?q=%22", headers=headers(world.member)).status_code
        == 422
    )


def test_search_query_syntax_cannot_be_injected(client, world, team_conversation, db):
    send(world.coord, team_conversation, "pansement refait")
    for q in ['pansement" OR "x', "pansement*", "NEAR(pansement refait)", "body:pansement"]:
        response = client.get(f"/api/v1/messages/search?q={q}", headers=headers(world.member))
        assert response.status_code == 200, q


def _direct_conversations(world, db, count):
    from ptap.messaging import services
    from tests.factories import add_member, make_user

    made = []
    for _ in range(count):
        other = make_user()
        add_member(world.team, other)  # a direct recipient still belongs to a team
        conversation = services.get_or_create_direct_conversation(world.coord, other)
        send(world.coord, conversation, "Bonjour")
        made.append(conversation.id)
    db.session.commit()
    return made


def test_conversation_list_pages_by_cursor_without_gaps_or_repeats(client, world, db):
    made = _direct_conversations(world, db, 5)
    h = headers(world.coord)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/conversations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=h).json
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["page"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(made)  # each once
    assert seen == sorted(made, reverse=True)  # same activity: newest id first
    bad = client.get("/api/v1/conversations?cursor=eyJ4Ijp0cnVlfQ", headers=h)
    assert bad.status_code == 422
    assert bad.json["field"] == "cursor"


def test_conversation_list_costs_the_same_queries_for_2_or_20(client, world, db, count_queries):
    h = headers(world.coord)
    costs = []
    for count in (2, 18):
        _direct_conversations(world, db, count)
        with count_queries() as statements:
            response = client.get("/api/v1/conversations?limit=50", headers=h)
        assert response.status_code == 200
        costs.append(len(statements))
    assert costs[0] == costs[1]
