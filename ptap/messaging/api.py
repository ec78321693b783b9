"""JSON API of messaging: conversations, messages (catch-up after a sequence), attachments,
search, and turning a message into a care-plan action.

A conversation the caller may not read answers 404, exactly like one that does not exist.
Reads of messages are audited (patient messages are health data).
"""

from __future__ import annotations

import dataclasses
import io
import logging

from flask import jsonify, request, send_file
from flask_login import current_user

from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.api import api_route, page_limit, paginate_by_id
from ptap.core.blobs import BlobNotFound
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import can
from ptap.extensions import db
from ptap.messaging import permissions, queries, services
from ptap.messaging.attachments import IMAGE_TYPES, UploadedFile, read_attachment
from ptap.messaging.models import Attachment, Conversation, Message
from ptap.messaging.schemas import (
    ActionFromMessage,
    CarePlanActionOut,
    ConversationCreate,
    ConversationOut,
    MessageCreate,
    MessageEdit,
    MessageOut,
    ReadIn,
    ReadStateOut,
)

log = logging.getLogger(__name__)
TAGS = ("Messagerie",)
NO_ACCESS = "Conversation introuvable ou hors de votre cercle de soins."


def _user() -> User:
    return current_user._get_current_object()


def _conversation(conversation_id: int) -> Conversation:
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or not permissions.can_read_conversation(_user(), conversation):
        raise NotFound(NO_ACCESS)
    return conversation


def _message(message_id: int) -> Message:
    message = db.session.get(Message, message_id)
    if message is None:
        raise NotFound("Message introuvable.")
    _conversation(message.conversation_id)
    return message


def _out(message: Message) -> MessageOut:
    return MessageOut(**queries.message_payload(message))


def _existing(message: Message):
    """Answer a re-send (known client id) with the first message and 200, not 201."""
    response = jsonify(_out(message).model_dump(mode="json"))
    response.status_code = 200
    return response


def _summary(conversation: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(queries.conversation_summary(_user().id, conversation))


@api_route(
    "/conversations",
    summary="Mes conversations (patients de mon cercle, équipes, directes) avec les non-lus",
    access="conversations.list",
    response=ConversationOut,
    paginated=True,
    tags=TAGS,
)
@shows_patients("conversation list")
def list_conversations():
    page = queries.list_conversations(
        _user().id, limit=page_limit(), cursor=request.args.get("cursor")
    )
    note_patients_shown(c.patient_id for c in page.items)
    return page


@api_route(
    "/conversations",
    "POST",
    summary="Ouvrir (ou retrouver) la conversation d'un patient, d'une équipe, ou directe",
    access="conversations.list",
    body=ConversationCreate,
    response=ConversationOut,
    tags=TAGS,
)
def open_conversation(body: ConversationCreate):
    user = _user()
    if body.kind == "patient":
        patient = db.session.get(Patient, body.patient_id)
        if patient is None or not can(user, "conversation.open_patient", patient):
            raise NotFound("Patient introuvable ou hors de votre cercle de soins.")
        conversation = services.get_or_create_patient_conversation(user, patient)
        note_patients_shown([patient.id])  # the answer's title names the patient
    elif body.kind == "team":
        team = db.session.get(CareTeam, body.team_id)
        if team is None or not can(user, "conversation.open_team", team):
            raise NotFound("Équipe introuvable.", field="team_id")
        conversation = services.get_or_create_team_conversation(user, team)
    else:
        other = db.session.get(User, body.user_id)
        if other is None:
            raise InvalidInput("Professionnel introuvable.", field="user_id")
        conversation = services.get_or_create_direct_conversation(user, other)
    db.session.commit()
    return _summary(conversation)


@api_route(
    "/conversations/<int:conversation_id>/messages",
    summary="Les messages après une séquence, dans l'ordre (rattrapage après reconnexion ; "
    "lecture tracée)",
    access="conversations.list",
    response=MessageOut,
    paginated=True,
    tags=TAGS,
    query=(("after", "Séquence du dernier message déjà reçu (0 : depuis le début)"),),
)
def list_messages(conversation_id: int):
    conversation = _conversation(conversation_id)
    after = request.args.get("after", "0")
    if not after.isdecimal():
        raise InvalidInput("after doit être un entier positif.", field="after")
    services.record_read(_user(), conversation, request_context(), f"after seq {after}")
    db.session.commit()
    page = paginate_by_id(queries.messages_after_query(conversation.id, int(after)), Message.seq)
    return dataclasses.replace(
        page, items=[MessageOut(**p) for p in queries.payloads(list(page.items))]
    )


@api_route(
    "/conversations/<int:conversation_id>/messages",
    "POST",
    summary="Envoyer un message ; renvoyer le même client_id rend le message existant (200) "
    "au lieu d'en créer un second (201)",
    access="conversations.list",
    body=MessageCreate,
    response=MessageOut,
    status=201,
    tags=TAGS,
)
def send_message(conversation_id: int, body: MessageCreate):
    conversation = _conversation(conversation_id)
    draft = services.MessageDraft(body.client_id, body.body, body.priority, tuple(body.mentions))
    result = services.send_message(_user(), conversation, draft, request_context())
    db.session.commit()
    return _out(result.message) if result.created else _existing(result.message)


@api_route(
    "/conversations/<int:conversation_id>/attachments",
    "POST",
    summary="Envoyer un message avec ses pièces jointes (multipart : file ou files, une à cinq ; "
    "client_id, body et priority facultatifs) : PDF, image ou document Word, Excel, "
    "LibreOffice, type lu dans le contenu, taille limitée (413 au-delà)",
    access="conversations.list",
    response=MessageOut,
    status=201,
    tags=TAGS,
)
def upload_attachment(conversation_id: int):
    conversation = _conversation(conversation_id)
    files = [f for f in request.files.getlist("file") + request.files.getlist("files") if f]
    if not files:
        raise InvalidInput("Joignez un fichier.", field="file")
    draft = services.MessageDraft(
        request.form.get("client_id", ""),
        request.form.get("body", ""),
        request.form.get("priority", "normal"),
        attachments=tuple(UploadedFile(f.filename or "piece-jointe", f.read()) for f in files),
    )
    result = services.send_message(_user(), conversation, draft, request_context())
    db.session.commit()
    return _out(result.message) if result.created else _existing(result.message)


@api_route(
    "/attachments/<int:attachment_id>",
    summary="Télécharger une pièce jointe (membres de la conversation ; accès tracé)",
    access="conversations.list",
    tags=TAGS,
)
def download_attachment(attachment_id: int):
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("Pièce jointe introuvable.")
    message = _message(attachment.message_id)
    if message.retracted_at is not None:
        raise NotFound("Pièce jointe introuvable.")
    conversation = _conversation(message.conversation_id)
    services.record_read(_user(), conversation, request_context(), f"attachment {attachment.id}")
    db.session.commit()
    try:
        content = read_attachment(attachment.storage_path)  # decrypted in memory (bounded)
    except BlobNotFound:
        log.error("attachment %s: blob %s missing", attachment.id, attachment.storage_path)
        raise NotFound("Pièce jointe introuvable.") from None
    return send_file(
        io.BytesIO(content),
        mimetype=attachment.content_type,
        as_attachment=attachment.content_type not in IMAGE_TYPES,
        download_name=attachment.filename,
        max_age=0,
    )


@api_route(
    "/messages/<int:message_id>",
    "PATCH",
    summary="Modifier son message (dans les 15 minutes ; l'ancien texte reste tracé)",
    access="conversations.list",
    body=MessageEdit,
    response=MessageOut,
    tags=TAGS,
)
def edit_message(message_id: int, body: MessageEdit):
    message = _message(message_id)
    services.edit_message(_user(), message, body.body, request_context())
    db.session.commit()
    return _out(message)


@api_route(
    "/messages/<int:message_id>/retract",
    "POST",
    summary="Retirer son message : le texte disparaît, sa place et la trace restent",
    access="conversations.list",
    response=MessageOut,
    tags=TAGS,
)
def retract_message(message_id: int):
    message = _message(message_id)
    services.retract_message(_user(), message, request_context())
    db.session.commit()
    return _out(message)


@api_route(
    "/messages/<int:message_id>/acknowledge",
    "POST",
    summary="Accuser réception d'un message urgent (arrête les relances)",
    access="conversations.list",
    response=MessageOut,
    tags=TAGS,
)
def acknowledge_message(message_id: int):
    message = _message(message_id)
    services.acknowledge_message(_user(), message, request_context())
    db.session.commit()
    return _out(message)


@api_route(
    "/conversations/<int:conversation_id>/read",
    "POST",
    summary="Indiquer jusqu'où j'ai lu (accusés de lecture, compteurs de non-lus)",
    access="conversations.list",
    body=ReadIn,
    response=ReadStateOut,
    tags=TAGS,
)
def mark_read(conversation_id: int, body: ReadIn):
    conversation = _conversation(conversation_id)
    position = services.mark_read(_user(), conversation, body.seq)
    db.session.commit()
    unread = queries.unread_counts(_user().id, [conversation.id])[conversation.id]
    return ReadStateOut(conversation_id=conversation.id, last_read_seq=position, unread=unread)


@api_route(
    "/messages/search",
    summary="Rechercher dans les messages des conversations que je peux lire (recherche tracée)",
    access="conversations.list",
    response=MessageOut,
    paginated=True,
    tags=TAGS,
    query=(("q", "Mots à rechercher (tous requis ; le dernier peut être un début de mot)"),),
)
def search_messages():
    user = _user()
    page = paginate_by_id(
        queries.search_query(user.id, request.args.get("q", "")), Message.id, descending=True
    )
    for conversation in {m.conversation_id for m in page.items}:
        found = db.session.get(Conversation, conversation)
        if found is not None:
            services.record_read(user, found, request_context(), "search")
    db.session.commit()
    return dataclasses.replace(
        page, items=[MessageOut(**p) for p in queries.payloads(list(page.items))]
    )


@api_route(
    "/messages/<int:message_id>/care-plan-action",
    "POST",
    summary="Transformer un message patient en action du plan personnalisé (objectif choisi)",
    access="conversations.list",
    body=ActionFromMessage,
    response=CarePlanActionOut,
    status=201,
    tags=TAGS,
)
def message_to_action(message_id: int, body: ActionFromMessage):
    message = _message(message_id)
    plan, action = services.message_to_action(
        _user(), message, body.objective_key, request_context(), body.what, body.due_on
    )
    db.session.commit()
    return CarePlanActionOut(plan_id=plan.id, action_key=action.key, what=action.what)
