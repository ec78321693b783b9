"""Messaging pages: conversation list and threads (readable without JavaScript).

Every page works with plain forms (POST then redirect); ptap/static/js/messaging.js adds the
live thread on top (Socket.IO namespace /messaging). A conversation the user may not read
answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import access
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.care_teams.views.helpers import register_tab_badge
from ptap.core.actions import run_action
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.formatting import day_month_time
from ptap.core.policy import CLINICAL_ROLES, can, requires
from ptap.core.web import register_nav
from ptap.extensions import db
from ptap.messaging import permissions, queries, services
from ptap.messaging.attachments import EXTENSIONS, UploadedFile
from ptap.messaging.models import Conversation, Message, Priority

bp = Blueprint("messaging", __name__)

register_nav("Messagerie", "messaging.list_conversations", "conversations.list")


def _unread_for_patient(patient_id: int) -> int:
    """The current user's unread messages in the patient's conversation (record tab badge)."""
    if not current_user.is_authenticated:
        return 0
    conversation = queries.find_patient_conversation(patient_id)
    user = _user()
    if conversation is None or not permissions.can_read_conversation(user, conversation):
        return 0
    return queries.unread_counts(user.id, [conversation.id])[conversation.id]


register_tab_badge("messages", _unread_for_patient)


@bp.app_context_processor
def unread_messages() -> dict[str, Any]:
    """Template context: `unread_messages()`, the user's unread message total for the main
    menu. A callable, so only the pages that draw the menu pay its one query."""

    def total() -> int:
        if not has_request_context() or not current_user.is_authenticated:
            return 0
        if not can(current_user, "conversations.list"):
            return 0
        try:
            return queries.unread_total(current_user.id)
        except sa.exc.SQLAlchemyError:
            # The error pages render through here too: a broken database must not break them.
            db.session.rollback()
            return 0

    return {"unread_messages": total}


NO_ACCESS = "Conversation introuvable ou hors de votre cercle de soins."
#: The thread page shows the latest messages; the API pages through older ones.
THREAD_LIMIT = 200
#: Conversations per page of the list ("Plus de conversations" links to the next one).
PAGE_SIZE = 50
KIND_LABELS = {"patient": "Patient", "team": "Équipe", "direct": "Directe"}


def _user() -> User:
    return current_user._get_current_object()


def _conversation(conversation_id: int) -> Conversation:
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or not permissions.can_read_conversation(_user(), conversation):
        raise NotFound(NO_ACCESS)
    return conversation


def _thread_url(conversation_id: int, seq: int | None = None) -> str:
    url = url_for("messaging.show_conversation", conversation_id=conversation_id)
    return f"{url}#m{seq}" if seq else url


def _my_teams(user_id: int) -> list[CareTeam]:
    return list(
        db.session.scalars(
            sa.select(CareTeam)
            .where(CareTeam.id.in_(access.active_team_ids(user_id)))
            .order_by(CareTeam.name)
        )
    )


def _colleagues(user_id: int) -> list[User]:
    """The active clinicians sharing a current team with the user (direct conversations)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.id != user_id,
                User.active.is_(True),
                User.role.in_(CLINICAL_ROLES),
                User.id.in_(access.current_member_ids(access.active_team_ids(user_id))),
            )
            .order_by(User.last_name, User.first_name)
        )
    )


@bp.get("/conversations")
@shows_patients("conversation list")
@requires("conversations.list")
def list_conversations() -> str:
    user = _user()
    page = queries.list_conversations(
        user.id, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None
    )
    note_patients_shown(c.patient_id for c in page.items)
    return render_template(
        "messaging/list.html",
        conversations=page.items,
        next_cursor=page.next_cursor,
        kind_labels=KIND_LABELS,
        teams=_my_teams(user.id),
        colleagues=_colleagues(user.id),
    )


@bp.post("/conversations/team")
@requires("conversations.list")
def open_team_conversation() -> Response:
    user = _user()
    team_id = request.form.get("team_id", "")
    team = db.session.get(CareTeam, int(team_id)) if team_id.isdecimal() else None
    if team is None or not can(user, "conversation.open_team", team):
        raise NotFound("Équipe introuvable.")
    conversation = services.get_or_create_team_conversation(user, team)
    db.session.commit()
    return redirect(_thread_url(conversation.id))


@bp.post("/conversations/direct")
@requires("conversations.list")
def open_direct_conversation() -> Response:
    user = _user()
    user_id = request.form.get("user_id", "")
    other = db.session.get(User, int(user_id)) if user_id.isdecimal() else None
    if other is None or not can(user, "conversation.open_direct", other):
        flash("Choisissez un professionnel de santé.", "error")
        return redirect(url_for("messaging.list_conversations"))
    conversation = services.get_or_create_direct_conversation(user, other)
    db.session.commit()
    return redirect(_thread_url(conversation.id))


def _ack_labels(acks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**a, "label": day_month_time(datetime.fromisoformat(a["at"]))} for a in acks]


def _thread_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The latest messages in seq order, as payloads plus the datetimes the page formats."""
    first = max(0, conversation.last_seq - THREAD_LIMIT)
    messages = list(
        db.session.scalars(
            queries.messages_after_query(conversation.id, first).order_by(Message.seq)
        )
    )
    items = []
    for message, payload in zip(messages, queries.payloads(messages), strict=True):
        when: dict[str, Any] = {
            "created": message.created_at,
            "edited": message.edited_at,
            "retracted": message.retracted_at,
            "acknowledgements": _ack_labels(payload["acknowledgements"]),
        }
        items.append({**payload, **when})
    return items


#: What a message form holds besides its files (text up to 10,000 characters, fields, parts).
_FORM_ROOM = 256 * 1024


def _attachment_rules() -> dict[str, Any]:
    """What the composer tells of files (and messaging.js checks before sending)."""
    max_mb = current_app.config["MESSAGING_ATTACHMENT_MAX_MB"]
    allowed = current_app.config["MESSAGING_ATTACHMENT_TYPES"]
    # Every request is bounded by MAX_CONTENT_LENGTH (a larger one gets a bare 413 page and
    # the typed text is lost): the files together must fit in it, with room for the text.
    request_max = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    total_bytes = max(0, int(request_max) - _FORM_ROOM) if request_max else 0
    total = f", {total_bytes // (1024 * 1024)} Mo en tout" if total_bytes else ""
    return {
        "max_mb": max_mb,
        "max_bytes": int(float(max_mb) * 1024 * 1024),
        "max_total_bytes": total_bytes,
        "max_files": services.MAX_ATTACHMENTS,
        "accept": ",".join([*allowed, *(EXTENSIONS[t] for t in allowed if t in EXTENSIONS)]),
        "hint": f"PDF, images, documents Word, Excel ou LibreOffice (DOCX, XLSX, ODT, ODS) ; "
        f"{max_mb} Mo au plus par fichier{total}, {services.MAX_ATTACHMENTS} fichiers au plus.",
    }


def _thread_context(
    conversation: Conversation, *, in_record: bool, compose: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check and audit the read, mark it read, and return what `_thread.html` needs."""
    user = _user()
    services.record_read(user, conversation, request_context(), "page")
    messages = _thread_messages(conversation)
    if conversation.last_seq:
        services.mark_read(user, conversation, conversation.last_seq)
    send_url = url_for("messaging.send_message", conversation_id=conversation.id)
    return {
        "conversation": conversation,
        "messages": messages,
        "truncated": bool(messages) and messages[0]["seq"] > 1,
        "can_write": can(user, "conversation.write", conversation),
        "client_id": uuid.uuid4().hex,
        "user_id": user.id,
        "compose": compose or {"body": "", "urgent": False, "error": None},
        "send_url": send_url + ("?from=record" if in_record else ""),
        "attachment_rules": _attachment_rules(),
    }


def _render_thread(conversation: Conversation, compose: dict[str, Any] | None = None) -> str:
    context = _thread_context(conversation, in_record=False, compose=compose)
    title = queries.conversation_summary(_user().id, conversation).title
    db.session.commit()
    return render_template(
        "messaging/thread.html",
        title=title,
        kind_label=KIND_LABELS.get(conversation.kind, ""),
        **context,
    )


def _render_patient_page(patient: Patient, compose: dict[str, Any] | None = None) -> str:
    conversation = queries.find_patient_conversation(patient.id)
    context = (
        _thread_context(conversation, in_record=True, compose=compose)
        if conversation is not None and permissions.can_read_conversation(_user(), conversation)
        else {"conversation": None}
    )
    db.session.commit()
    return render_template(
        "messaging/patient.html",
        patient=patient,
        can_open=can(_user(), "conversation.open_patient", patient),
        **context,
    )


@bp.get("/conversations/<int:conversation_id>")
@requires("conversations.list")
def show_conversation(conversation_id: int) -> str:
    return _render_thread(_conversation(conversation_id))


@bp.get("/patients/<int:patient_id>/messages")
@requires("conversations.list")
def patient_messages(patient_id: int) -> str:
    """The record's Messages tab: the patient's conversation, or the button opening it."""
    patient = load_patient(patient_id, what="messages")
    return _render_patient_page(patient)


@bp.post("/patients/<int:patient_id>/messages/conversation")
@requires("conversations.list")
def open_patient_conversation(patient_id: int) -> Response:
    patient = load_patient(patient_id, "conversation.open_patient")
    services.get_or_create_patient_conversation(_user(), patient)
    db.session.commit()
    return redirect(
        url_for("messaging.patient_messages", patient_id=patient.id) + "#nouveau-message"
    )


def _draft_from_form() -> services.MessageDraft:
    files = [
        f for f in request.files.getlist("files") + request.files.getlist("file") if f.filename
    ]
    return services.MessageDraft(
        request.form.get("client_id", "").strip() or uuid.uuid4().hex,
        request.form.get("body", ""),
        Priority.URGENT if request.form.get("priority") == "urgent" else Priority.NORMAL,
        attachments=tuple(UploadedFile(f.filename or "", f.read()) for f in files),
    )


@bp.post("/conversations/<int:conversation_id>/messages")
@requires("conversations.list")
def send_message(conversation_id: int) -> Response | tuple[str, int]:
    """No-JS send of the text and its files (one multipart form); the client id the page
    carries makes a double submit a no-op. A refusal shows the page again, text kept."""
    user = _user()
    conversation = _conversation(conversation_id)
    in_record = request.args.get("from") == "record" and conversation.patient_id is not None
    draft = _draft_from_form()
    outcome = run_action(
        lambda: services.send_message(user, conversation, draft, request_context()),
        catch=(InvalidInput,),
    )
    if outcome.ok:
        seq = outcome.value.message.seq
        if in_record:
            url = url_for("messaging.patient_messages", patient_id=conversation.patient_id)
            return redirect(f"{url}#m{seq}")
        return redirect(_thread_url(conversation.id, seq))
    compose = {"body": draft.body, "urgent": draft.priority == Priority.URGENT}
    compose["error"] = outcome.failure.message + (
        " Choisissez de nouveau vos fichiers." if draft.attachments else ""
    )
    page = (
        _render_patient_page(load_patient(conversation.patient_id or 0, what="messages"), compose)
        if in_record
        else _render_thread(conversation, compose)
    )
    return page, outcome.failure.status


@bp.post("/conversations/<int:conversation_id>/messages/<int:message_id>/acknowledge")
@requires("conversations.list")
def acknowledge_message(conversation_id: int, message_id: int) -> Response:
    user = _user()
    conversation = _conversation(conversation_id)
    message = db.session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound("Message introuvable.")
    outcome = run_action(
        lambda: services.acknowledge_message(user, message, request_context()),
        success="Réception accusée.",
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
        return redirect(_thread_url(conversation.id, message.seq))
    return redirect(_thread_url(conversation.id, message.seq))
