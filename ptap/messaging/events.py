"""Socket.IO handlers of the /messaging namespace.

Each handler is an adapter: it reloads the user (the socket session is a copy taken at
connect), validates the payload with `schemas`, re-checks that the user may still read the
conversation (if not: error ack, and the socket leaves the thread), calls one service, commits
and acks. Broadcasts are queued by the services and leave only after the commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, emit

from ptap.accounts.events import (
    authenticate_socket,
    join_credential_rooms,
    socket_credential_live,
)
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.core.errors import DomainError, NotFound, PermissionDenied
from ptap.core.policy import is_clinician
from ptap.extensions import db, socketio
from ptap.messaging import queries, services
from ptap.messaging.live import (
    follow_thread,
    forget_socket,
    remember_user,
    socket_user_id,
    unfollow_thread,
)
from ptap.messaging.models import Conversation, Message
from ptap.messaging.permissions import can_read_conversation
from ptap.messaging.schemas import (
    AcknowledgeIn,
    JoinIn,
    MarkReadIn,
    SendIn,
    TypingIn,
    parse_payload,
)
from ptap.messaging.services import NAMESPACE, MessageDraft, thread_room

NO_ACCESS = "Conversation introuvable ou hors de votre cercle de soins."


def _current_user() -> User | None:
    user_id = socket_user_id(request.sid)  # type: ignore[attr-defined]
    user = db.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.is_active and is_clinician(user) else None


def _readable(user: User, conversation_id: int) -> Conversation:
    """Return the conversation if the user may still read it; else leave its thread, refuse."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or not can_read_conversation(user, conversation):
        unfollow_thread(request.sid, conversation_id)  # type: ignore[attr-defined]
        raise NotFound(NO_ACCESS, field="conversation_id")
    return conversation


def _existing(user: User, conversation_id: int) -> Conversation:
    """Return the conversation, unchecked: its service checks access (an unknown id is
    refused like an unreadable one)."""
    conversation = db.session.get(Conversation, conversation_id)
    return conversation if conversation is not None else _readable(user, conversation_id)


def messaging_event(schema: type[Any]) -> Callable[[Callable[..., dict[str, Any]]], Any]:
    """Authenticate again, parse the payload, map domain errors to an error ack, roll back."""

    def decorate(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(fn)
        def handler(data: Any = None) -> dict[str, Any]:
            user = _current_user()
            # The session or token the socket was opened with must still be live (logout,
            # timeouts, revocation, expiry): checked on every event.
            if user is None or not socket_credential_live():
                socketio.server.disconnect(request.sid, namespace=NAMESPACE)  # type: ignore[attr-defined]
                return {"ok": False, "error": "Authentification requise."}
            try:
                return fn(user, parse_payload(schema, data))
            except DomainError as exc:
                db.session.rollback()
                return {"ok": False, "error": exc.message, "field": exc.field}

        return handler

    return decorate


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth: Any = None) -> None:
    """Sent by a client opening /messaging: authenticate (cookie or token), join own rooms."""
    user = authenticate_socket(auth)
    if not is_clinician(user):
        raise ConnectionRefusedError("la messagerie est réservée aux professionnels de santé")
    remember_user(request.sid, user.id)  # type: ignore[attr-defined]
    join_credential_rooms()


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason: Any = None) -> None:
    """Sent when a /messaging socket goes away: forget its user (rooms are left by the server)."""
    forget_socket(request.sid)  # type: ignore[attr-defined]


@socketio.on("join", namespace=NAMESPACE)
@messaging_event(JoinIn)
def on_join(user: User, data: JoinIn) -> dict[str, Any]:
    """Sent by a client to follow a conversation: joins thread:{id}; acks the read state."""
    conversation = _existing(user, data.conversation_id)
    try:
        # Checks access (once) and notes the audit event, written with the other sockets'
        # in one batch (no commit per join).
        services.record_read(user, conversation, request_context(user), "live", batched=True)
    except PermissionDenied:  # no longer readable: leave its thread, answer as for an unknown id
        db.session.rollback()
        unfollow_thread(request.sid, conversation.id)  # type: ignore[attr-defined]
        raise NotFound(NO_ACCESS, field="conversation_id") from None
    deadline = queries.access_deadlines(conversation, [user.id])[user.id]
    read, unread = queries.read_state_and_unread(conversation.id, user.id)
    conversation_id = conversation.id
    ack: dict[str, Any] = {
        "ok": True,
        "conversation_id": conversation_id,
        "last_seq": conversation.last_seq,
        "last_read_seq": read,
        "unread": unread,
        # The other members' read positions: read markers survive a reload.
        "readers": queries.read_positions(conversation, user.id),
    }
    # Read before the commit, which expires the loaded rows (no reload of the conversation
    # and the user afterwards).
    db.session.commit()
    # From the deadline on (break-the-glass, invitation or membership end), this process's
    # delivery skips the socket, before any cut-off job runs (ptap.messaging.live).
    follow_thread(request.sid, conversation_id, deadline)  # type: ignore[attr-defined]
    return ack


@socketio.on("leave", namespace=NAMESPACE)
@messaging_event(JoinIn)
def on_leave(user: User, data: JoinIn) -> dict[str, Any]:
    """Sent by a client to stop following a conversation."""
    unfollow_thread(request.sid, data.conversation_id)  # type: ignore[attr-defined]
    return {"ok": True}


@socketio.on("send_message", namespace=NAMESPACE)
@messaging_event(SendIn)
def on_send_message(user: User, data: SendIn) -> dict[str, Any]:
    """Sent by a member: stores the message (idempotent on client_id), then broadcasts one
    `message_created` to thread:{id}; the ack carries the server id, seq and time."""
    conversation = _existing(user, data.conversation_id)
    draft = MessageDraft(data.client_id, data.body, data.priority, tuple(data.mentions))
    try:
        # The service checks the right to write; the read check (and leaving the thread)
        # runs only when it refuses, so a message costs one access check, not two.
        result = services.send_message(user, conversation, draft, request_context(user))
    except PermissionDenied:
        _readable(user, data.conversation_id)
        raise
    message = result.message
    ack = {
        "ok": True,
        "id": message.id,
        "seq": message.seq,
        "created_at": message.created_at.isoformat(),
        "duplicate": not result.created,
    }
    db.session.commit()  # read before: the commit expires the message
    return ack


@socketio.on("typing", namespace=NAMESPACE)
@messaging_event(TypingIn)
def on_typing(user: User, data: TypingIn) -> dict[str, Any]:
    """Sent while a member types: broadcast `typing` to the thread's others (nothing stored)."""
    conversation = _readable(user, data.conversation_id)
    emit(
        "typing",
        {
            "conversation_id": conversation.id,
            "user_id": user.id,
            "name": user.full_name,
            "typing": data.typing,
        },
        to=thread_room(conversation.id),
        include_self=False,
    )
    return {"ok": True}


@socketio.on("mark_read", namespace=NAMESPACE)
@messaging_event(MarkReadIn)
def on_mark_read(user: User, data: MarkReadIn) -> dict[str, Any]:
    """Sent when a member has read up to `seq`: `read_receipts` to the thread (coalesced) and
    `unread_counts` to the member's own sockets, after the commit."""
    conversation = _existing(user, data.conversation_id)
    try:
        position = services.mark_read(user, conversation, data.seq)
    except PermissionDenied:  # no longer readable: leave its thread, answer as for an unknown id
        db.session.rollback()
        unfollow_thread(request.sid, conversation.id)  # type: ignore[attr-defined]
        raise NotFound(NO_ACCESS, field="conversation_id") from None
    db.session.commit()
    return {"ok": True, "last_read_seq": position}


@socketio.on("acknowledge", namespace=NAMESPACE)
@messaging_event(AcknowledgeIn)
def on_acknowledge(user: User, data: AcknowledgeIn) -> dict[str, Any]:
    """Sent by a member acknowledging an urgent message: `message_updated` to the thread."""
    message = db.session.get(Message, data.message_id)
    if message is None:
        raise NotFound("Message introuvable.", field="message_id")
    _readable(user, message.conversation_id)
    services.acknowledge_message(user, message, request_context(user))
    db.session.commit()
    return {"ok": True, "id": message.id}
