"""Messaging rules: conversations, sending (idempotent, gap-free sequence), edits, retractions,
acknowledgements, read positions and turning a message into a care-plan action.

Services flush and never commit; every broadcast is queued with `emit_after_commit`, so a
message is on disk before anyone hears of it (and nobody hears of a rolled-back one).

Sending a message costs the same number of statements whatever the size of the conversation
(members in one query) and two emits: `message_created` to the thread room, and ONE
`conversation_updated` (conversation_id, last_seq, author_id) addressed to the members'
`inbox:{id}` rooms, which hold only the sockets following no thread (conversation lists): a
socket in the thread already has `message_created`, and derives its unread count from it and its
own read position (`join` ack, `unread_counts` after `mark_read`). docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.audit.services import AuditContext, record_event, record_event_batched
from ptap.care_plans import services as care_plan_services
from ptap.care_plans.content import Action
from ptap.care_plans.models import CarePlan, PlanStatus
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.aftercommit import on_commit
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.realtime import emit_after_commit
from ptap.core.sql import insert_if_absent
from ptap.extensions import db
from ptap.messaging import queries
from ptap.messaging.attachments import UploadedFile, delete_file, store_attachment
from ptap.messaging.markdown import plain_text, render_markdown
from ptap.messaging.models import (
    Acknowledgement,
    Attachment,
    Conversation,
    ConversationKind,
    ConversationMember,
    ConversationReadState,
    Mention,
    Message,
    MessageRevision,
    Priority,
)
from ptap.messaging.receipts import queue_receipt

NAMESPACE = "/messaging"
MAX_BODY = 10_000
#: Files one message may carry.
MAX_ATTACHMENTS = 5
_MENTION_ID = re.compile(r"@\[(\d{1,10})\]")
_MENTION_EMAIL = re.compile(r"(?<![\w.])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def thread_room(conversation_id: int) -> str:
    """Return the Socket.IO room of a conversation."""
    return f"thread:{conversation_id}"


def user_room(user_id: int) -> str:
    """Return the Socket.IO room of a user (every socket of theirs on /messaging)."""
    return f"user:{user_id}"


def inbox_room(user_id: int) -> str:
    """Return the room of a user's /messaging sockets that follow no thread (list pages):
    `conversation_updated` goes there, as the thread sockets already get `message_created`."""
    return f"inbox:{user_id}"


def _audit(
    ctx: AuditContext, action: str, conversation: Conversation, obj: str = "", reason: str = ""
) -> None:
    record_event(
        ctx,
        action,
        object_type="message" if obj else "conversation",
        object_id=obj or conversation.id,
        patient_id=conversation.patient_id,
        reason=reason,
    )


# --- Conversations ---------------------------------------------------------------------------


def _get_or_create(
    where: sa.ColumnElement[bool], values: dict[str, Any], members: tuple[int, ...] = ()
) -> Conversation:
    existing = db.session.scalar(sa.select(Conversation).where(where))
    if existing is not None:
        return existing
    insert_if_absent(Conversation, last_seq=0, created_at=utcnow(), **values)
    conversation = db.session.scalars(sa.select(Conversation).where(where)).one()
    for user_id in members:
        insert_if_absent(
            ConversationMember,
            conversation_id=conversation.id,
            user_id=user_id,
            joined_at=utcnow(),
        )
    return conversation


def get_or_create_patient_conversation(user: User, patient: Patient) -> Conversation:
    """Return the patient's conversation, creating it; only for users who may read the patient."""
    require(user, "conversation.open_patient", patient)
    return _get_or_create(
        Conversation.patient_id == patient.id,
        {"kind": ConversationKind.PATIENT, "patient_id": patient.id},
    )


def get_or_create_team_conversation(user: User, team: CareTeam) -> Conversation:
    """Return the team's conversation, creating it; only for the team's current members."""
    require(user, "conversation.open_team", team)
    return _get_or_create(
        Conversation.team_id == team.id, {"kind": ConversationKind.TEAM, "team_id": team.id}
    )


def get_or_create_direct_conversation(user: User, other: User) -> Conversation:
    """Return the direct conversation of two clinicians, creating it."""
    require(user, "conversation.open_direct", other)
    low, high = sorted((user.id, other.id))
    key = f"{low}:{high}"
    return _get_or_create(
        Conversation.direct_key == key,
        {"kind": ConversationKind.DIRECT, "direct_key": key},
        members=(low, high),
    )


# --- Sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageDraft:
    """What a client sends: its own id for the message, the text, the priority, mentions."""

    client_id: str
    body: str
    priority: str = Priority.NORMAL
    mentions: tuple[int, ...] = ()
    #: Files sent with the text (one form), at most MAX_ATTACHMENTS.
    attachments: tuple[UploadedFile, ...] = ()


@dataclass
class SendResult:
    """The message and whether this call created it (False: a re-send of a known client id)."""

    message: Message
    created: bool
    notified: list[int] = field(default_factory=list)


def _find_by_client_id(conversation_id: int, author_id: int, client_id: str) -> Message | None:
    return db.session.scalar(
        sa.select(Message).where(
            Message.conversation_id == conversation_id,
            Message.author_id == author_id,
            Message.client_id == client_id,
        )
    )


def _check_draft(draft: MessageDraft) -> str:
    body = draft.body.strip()
    if not 1 <= len(draft.client_id) <= 64:
        raise InvalidInput("Identifiant client du message invalide.", field="client_id")
    if draft.priority not in Priority.__members__.values():
        raise InvalidInput("Priorité inconnue.", field="priority")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"Le message dépasse {MAX_BODY} caractères.", field="body")
    if not body and not draft.attachments:
        raise InvalidInput("Écrivez un message ou joignez un fichier.", field="body")
    if len(draft.attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(
            f"Un message emporte au plus {MAX_ATTACHMENTS} pièces jointes.", field="file"
        )
    return body


def _mentioned_ids(body: str, explicit: tuple[int, ...], members: set[int]) -> list[int]:
    """Return the members mentioned by `@[id]`, `@email` or the explicit list (readers only)."""
    ids = {int(m) for m in _MENTION_ID.findall(body)} | set(explicit)
    emails = [e.lower() for e in _MENTION_EMAIL.findall(body)]
    if emails:
        ids |= set(
            db.session.scalars(sa.select(User.id).where(sa.func.lower(User.email).in_(emails)))
        )
    return sorted(ids & members)


def _mention_names(body: str, members: set[int]) -> dict[int, str]:
    """Return the names `@[id]` mentions show: members of the conversation only (any other
    id, even a real user's, shows as "@membre" and names nobody)."""
    return queries.user_names(sorted({int(m) for m in _MENTION_ID.findall(body)} & members))


def _next_seq(conversation: Conversation) -> int:
    """Bump the conversation's counter atomically and return the new sequence number."""
    seq = db.session.execute(
        sa.update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq + 1)
        .returning(Conversation.last_seq)
    ).scalar_one()
    conversation.last_seq = seq
    return int(seq)


def _undo_seq(conversation: Conversation) -> None:
    """Give back the number taken by `_next_seq` (still under the lock: no gap)."""
    db.session.execute(
        sa.update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq - 1)
    )
    conversation.last_seq -= 1


def send_message(
    user: User, conversation: Conversation, draft: MessageDraft, ctx: AuditContext
) -> SendResult:
    """Add a message (idempotent on the client id), notify mentions and urgent recipients,
    and queue one `message_created` for the thread."""
    require(user, "conversation.write", conversation)
    existing = _find_by_client_id(conversation.id, user.id, draft.client_id)
    if existing is not None:
        return SendResult(existing, created=False)
    body = _check_draft(draft)
    stored = [store_attachment(upload) for upload in draft.attachments]
    others = set(queries.member_ids(conversation)) - {user.id}
    mentioned = _mentioned_ids(body, draft.mentions, others)
    names = _mention_names(body, others | {user.id})
    # The UPDATE takes the conversation's lock first (row lock on PostgreSQL, the write lock on
    # SQLite): a concurrent re-send of the same client id waits here, then finds the first one.
    seq = _next_seq(conversation)
    raced = _find_by_client_id(conversation.id, user.id, draft.client_id)
    if raced is not None:
        _undo_seq(conversation)
        return SendResult(raced, created=False)
    message = Message(
        conversation_id=conversation.id,
        seq=seq,
        client_id=draft.client_id,
        author_id=user.id,
        body=body,
        body_html=render_markdown(body, names),
        priority=draft.priority,
        created_at=utcnow(),
    )
    db.session.add(message)
    db.session.flush()
    attachments = [Attachment(message_id=message.id, **dataclasses.asdict(file)) for file in stored]
    db.session.add_all(attachments)
    for user_id in mentioned:
        db.session.add(Mention(message_id=message.id, user_id=user_id))
    _advance_own_read_position(conversation.id, user.id, message.seq)
    db.session.flush()
    _audit(ctx, "message.send", conversation, str(message.id), f"seq {message.seq}")
    notified = _notify(user, conversation, message, mentioned, others)
    payload = queries.new_message_payload(message, user.full_name, attachments)
    emit_after_commit("message_created", payload, thread_room(conversation.id), NAMESPACE)
    if others:  # an empty `to` would mean every socket of the namespace
        emit_after_commit(
            "conversation_updated",
            {"conversation_id": conversation.id, "last_seq": seq, "author_id": user.id},
            # One emit (one packet, one queue message) to the list of inbox rooms.
            [inbox_room(member_id) for member_id in sorted(others)],
            NAMESPACE,
        )
    return SendResult(message, created=True, notified=notified)


def conversation_link(conversation: Conversation, seq: int | None = None) -> str:
    """Return the web path of a conversation (anchored on a message)."""
    return f"/conversations/{conversation.id}" + (f"#m{seq}" if seq else "")


def _notify(
    author: User,
    conversation: Conversation,
    message: Message,
    mentioned: list[int],
    others: set[int],
) -> list[int]:
    """Tell mentioned members, and every other member of an urgent message (one insert for
    all of them); return who."""
    link = conversation_link(conversation, message.seq)
    drafts = [
        NotificationDraft(user_id, "message_mention", f"{author.full_name} vous a mentionné", link)
        for user_id in mentioned
    ]
    urgent = sorted(others) if message.priority == Priority.URGENT else []
    drafts += [
        NotificationDraft(
            user_id,
            "message_urgent",
            f"Message urgent de {author.full_name} : accusé de réception demandé",
            link,
        )
        for user_id in urgent
    ]
    notify_all(drafts)
    return sorted(set(mentioned) | set(urgent))


# --- Edits, retractions, acknowledgements ----------------------------------------------------


def _conversation_of(message: Message) -> Conversation:
    conversation = db.session.get(Conversation, message.conversation_id)
    if conversation is None:  # pragma: no cover - foreign key
        raise NotFound("Conversation introuvable.")
    return conversation


def _updated(conversation: Conversation, message: Message) -> None:
    emit_after_commit(
        "message_updated", queries.message_payload(message), thread_room(conversation.id), NAMESPACE
    )


def edit_message(
    user: User, message: Message, body: str, ctx: AuditContext, now: datetime | None = None
) -> Message:
    """Change the text of one's own message within the edit window; the old text is kept."""
    require(user, "message.change", message)
    now = now or utcnow()
    window = timedelta(minutes=int(current_app.config["MESSAGING_EDIT_WINDOW_MINUTES"]))
    if now - message.created_at > window:
        raise Conflict(
            f"Un message ne peut plus être modifié {window.seconds // 60} minutes après son envoi.",
            field="body",
        )
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise InvalidInput(f"Le message doit faire de 1 à {MAX_BODY} caractères.", field="body")
    if body == message.body:
        return message
    conversation = _conversation_of(message)
    revision = MessageRevision(
        message_id=message.id, kind="edit", body=message.body, replaced_by_id=user.id
    )
    db.session.add(revision)
    message.body = body
    members = set(queries.member_ids(conversation)) | {user.id}
    message.body_html = render_markdown(body, _mention_names(body, members))
    message.edited_at = now
    db.session.flush()
    _audit(ctx, "message.edit", conversation, str(message.id), f"revision {revision.id}")
    _updated(conversation, message)
    return message


def retract_message(user: User, message: Message, ctx: AuditContext) -> Message:
    """Retract one's own message: the text goes (kept as a revision), the row and seq stay."""
    require(user, "message.change", message)
    conversation = _conversation_of(message)
    revision = MessageRevision(
        message_id=message.id, kind="retract", body=message.body, replaced_by_id=user.id
    )
    db.session.add(revision)
    message.body = ""
    message.body_html = ""
    message.retracted_at = utcnow()
    db.session.flush()
    _audit(ctx, "message.retract", conversation, str(message.id), f"revision {revision.id}")
    _updated(conversation, message)
    return message


def acknowledge_message(user: User, message: Message, ctx: AuditContext) -> Message:
    """Acknowledge an urgent message (idempotent); re-notifications stop."""
    conversation = _conversation_of(message)
    require(user, "conversation.read", conversation)
    if message.priority != Priority.URGENT:
        raise InvalidInput("Seuls les messages urgents demandent un accusé de réception.")
    if message.retracted_at is not None:
        raise Conflict("Ce message a été retiré.")
    if message.author_id == user.id:
        raise PermissionDenied("L'auteur n'accuse pas réception de son propre message.")
    known = db.session.scalar(
        sa.select(Acknowledgement.id).where(
            Acknowledgement.message_id == message.id, Acknowledgement.user_id == user.id
        )
    )
    if known is None:
        db.session.add(Acknowledgement(message_id=message.id, user_id=user.id, at=utcnow()))
        db.session.flush()
        _audit(ctx, "message.acknowledge", conversation, str(message.id))
        _updated(conversation, message)
    return message


# --- Read positions --------------------------------------------------------------------------


def _advance_own_read_position(conversation_id: int, user_id: int, seq: int) -> None:
    """Move the author's read position to their own message, in one upsert statement."""
    _upsert_read_position(conversation_id, user_id, seq)


def _upsert_read_position(conversation_id: int, user_id: int, seq: int) -> bool:
    """Move the read position forward in one statement (never back: two sockets of one user
    marking read at once cannot move it backwards; the unique constraint decides between two
    first reads); return whether it moved (the row was inserted or updated)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    written = db.session.execute(
        insert(ConversationReadState)
        .values(conversation_id=conversation_id, user_id=user_id, last_read_seq=seq, updated_at=now)
        .on_conflict_do_update(
            index_elements=["conversation_id", "user_id"],
            set_={"last_read_seq": seq, "updated_at": now},
            where=ConversationReadState.last_read_seq < seq,
        )
        .returning(ConversationReadState.id)
    ).scalar()
    return written is not None


def _advance_read_state(conversation_id: int, user_id: int, seq: int) -> tuple[int, bool]:
    """Move the read position forward; return the position and whether it moved (one
    statement when it moves, a second one to read it when it does not)."""
    if _upsert_read_position(conversation_id, user_id, seq):
        return seq, seq > 0
    current = db.session.scalar(
        sa.select(ConversationReadState.last_read_seq).where(
            ConversationReadState.conversation_id == conversation_id,
            ConversationReadState.user_id == user_id,
        )
    )
    return int(current or 0), False


def mark_read(user: User, conversation: Conversation, seq: int) -> int:
    """Move the user's read position forward (never back, never past the last message);
    return the position.

    A receipt goes to the thread only when the position moved, gathered with the other
    readers' into one `read_receipts` frame per short window (`ptap.messaging.receipts`:
    every open thread marks each message read); the conversation's unread count goes to the
    user's own sockets (lists merge the counts they get; the others do not change by reading
    this one).
    """
    require(user, "conversation.read", conversation)
    if seq < 0:
        raise InvalidInput("Numéro de séquence invalide.", field="seq")
    position, moved = _advance_read_state(conversation.id, user.id, min(seq, conversation.last_seq))
    if moved:
        # Coalesced with the other readers' receipts of the next half-second: one frame.
        reader = {
            "user_id": user.id,
            "name": f"{user.first_name} {user.last_name}",
            "seq": position,
        }
        conversation_id = conversation.id
        on_commit(
            lambda: queue_receipt(conversation_id, reader, thread_room(conversation_id), NAMESPACE)
        )
    unread = queries.unread_counts(user.id, [conversation.id])
    emit_after_commit(
        "unread_counts",
        {"counts": {str(k): v for k, v in unread.items()}},
        user_room(user.id),
        NAMESPACE,
    )
    return position


def record_read(
    user: User, conversation: Conversation, ctx: AuditContext, what: str, *, batched: bool = False
) -> None:
    """Check and audit a read of the conversation's messages (patient messages are health data).

    `batched`: the event is written with others within a second, not in this transaction (a
    socket joining a thread writes nothing else: no commit of its own per socket).
    """
    require(user, "conversation.read", conversation)
    if batched:
        record_event_batched(
            ctx,
            "message.read",
            object_type="conversation",
            object_id=conversation.id,
            patient_id=conversation.patient_id,
            reason=what,
        )
        return
    _audit(ctx, "message.read", conversation, reason=what)


# --- Care plans ------------------------------------------------------------------------------


def message_to_action(
    user: User,
    message: Message,
    objective_key: str,
    ctx: AuditContext,
    what: str | None = None,
    due_on: date | None = None,
) -> tuple[CarePlan, Action]:
    """Add an action built from a patient message to the objective of the patient's open plan."""
    conversation = _conversation_of(message)
    require(user, "conversation.read", conversation)
    if conversation.kind != ConversationKind.PATIENT or message.retracted_at is not None:
        raise InvalidInput("Seul un message d'une conversation patient peut devenir une action.")
    plan = db.session.scalar(
        sa.select(CarePlan)
        .where(CarePlan.patient_id == conversation.patient_id, CarePlan.status != PlanStatus.CLOSED)
        .order_by(CarePlan.id.desc())
        .limit(1)
    )
    if plan is None:
        raise NotFound("Ce patient n'a pas de plan personnalisé ouvert.")
    text = (what or plain_text(message.body)).strip()[:500]
    if not text:
        raise InvalidInput("Décrivez l'action.", field="what")
    action = care_plan_services.add_action(
        user, plan, objective_key, Action(what=text, due_on=due_on), ctx
    )
    _audit(ctx, "message.to_action", conversation, str(message.id), f"care plan {plan.id}")
    return plan, action


# --- Retention -------------------------------------------------------------------------------


def purge_messages_before(cutoff: datetime) -> int:
    """Delete messages created before `cutoff`, with what hangs off them; return how many."""
    from ptap.messaging.models import UrgentReminderLog

    ids = list(db.session.scalars(sa.select(Message.id).where(Message.created_at < cutoff)))
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        paths = db.session.scalars(
            sa.select(Attachment.storage_path).where(Attachment.message_id.in_(batch))
        ).all()
        for model in (Mention, Acknowledgement, UrgentReminderLog, MessageRevision, Attachment):
            db.session.execute(sa.delete(model).where(model.message_id.in_(batch)))
        db.session.execute(sa.delete(Message).where(Message.id.in_(batch)))
        for path in paths:
            delete_file(path)
    db.session.flush()
    return len(ids)
