"""Messaging reads: members, readable conversations, messages after a sequence, unread counts,
payloads and full-text search."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import Profession, User
from ptap.care_teams import access
from ptap.care_teams.models import (
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    Enrolment,
    Patient,
    TeamMembership,
    TeamRole,
)
from ptap.core import clock
from ptap.core.api import Page, paginate_keyset
from ptap.core.errors import InvalidInput
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES
from ptap.extensions import db
from ptap.messaging.models import (
    FTS_TABLE,
    Acknowledgement,
    Attachment,
    Conversation,
    ConversationKind,
    ConversationMember,
    ConversationReadState,
    Message,
)


def user_names(user_ids: Sequence[int]) -> dict[int, str]:
    """Return the display names of the users, by id."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(User.id, User.first_name, User.last_name).where(User.id.in_(set(user_ids)))
    )
    return {uid: f"{first} {last}" for uid, first, last in rows}


def signed_name(first_name: str, last_name: str, profession: str) -> str:
    """Return how a professional signs an acknowledgement ("Dr" before a physician's name)."""
    name = f"{first_name} {last_name}"
    return f"Dr {name}" if profession == Profession.PHYSICIAN else name


def member_ids(conversation: Conversation) -> list[int]:
    """Return who takes part in the conversation now (the circle, the team, or the pair)."""
    return sorted(db.session.scalars(member_ids_select(conversation)))


def member_ids_select(conversation: Conversation) -> sa.Select[Any]:
    """Select the ids of who takes part in the conversation now: `member_ids` as a subquery,
    so that a question about the members (their read positions) is one statement, without
    a list of hundreds of bound ids."""
    if conversation.kind == ConversationKind.DIRECT:
        return (
            sa.select(ConversationMember.user_id)
            .join(User, User.id == ConversationMember.user_id)
            .where(
                ConversationMember.conversation_id == conversation.id,
                User.active.is_(True),
                User.role.in_(CLINICAL_ROLES),
            )
        )
    if conversation.kind == ConversationKind.TEAM:
        today = clock.paris_today()
        return (
            sa.select(TeamMembership.user_id)
            .join(User, User.id == TeamMembership.user_id)
            .where(
                TeamMembership.team_id == conversation.team_id,
                TeamMembership.starts_on <= today,
                sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
                User.active.is_(True),
                User.role.in_(CLINICAL_ROLES),
            )
            .distinct()
        )
    patient = db.session.get(Patient, conversation.patient_id)
    if patient is None:
        return sa.select(User.id).where(sa.false())
    return _circle_member_ids_select(patient)


def _circle_member_ids(patient: Patient) -> list[int]:
    """Return the users whose access basis to the patient is in CIRCLE_BASES, in ONE query
    (`_circle_member_ids_select`)."""
    return sorted(db.session.scalars(_circle_member_ids_select(patient)))


def _circle_member_ids_select(patient: Patient) -> sa.Select[Any]:
    """Select the users whose access basis to the patient is in CIRCLE_BASES.

    The set form of `care_teams.access.access_basis` (member, invited, enrolling coordinator;
    break-the-glass visitors are not members), so a message to a 200-member circle costs
    one query, not one access check per member; tests/messaging/test_queries.py holds the
    two to the same answers.
    """
    if patient.merged_into_id is not None:
        return sa.select(User.id).where(sa.false())
    today = clock.paris_today()
    current = sa.and_(
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )
    enrolled = sa.and_(Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None))
    branches: list[sa.Select[Any]] = [
        # the enrolling coordinator, while they still coordinate the team (consent or not)
        sa.select(Enrolment.enrolled_by_id)
        .join(
            TeamMembership,
            sa.and_(
                TeamMembership.team_id == Enrolment.team_id,
                TeamMembership.user_id == Enrolment.enrolled_by_id,
            ),
        )
        .where(enrolled, TeamMembership.role == TeamRole.COORDINATOR, current)
    ]
    if patient.sharing_consent:
        branches.append(  # members of a team following the patient
            sa.select(TeamMembership.user_id).where(
                TeamMembership.team_id.in_(sa.select(Enrolment.team_id).where(enrolled)), current
            )
        )
        branches.append(  # invited, while the patient is followed by a team
            sa.select(CircleInvitation.user_id).where(
                CircleInvitation.patient_id == patient.id,
                CircleInvitation.expires_at > utcnow(),
                CircleInvitation.revoked_at.is_(None),
                sa.exists().where(enrolled),
            )
        )
    return sa.select(User.id).where(
        User.id.in_(sa.union(*branches)),
        User.active.is_(True),
        User.role.in_(CLINICAL_ROLES),
    )


def reader_ids(conversation: Conversation, user_ids: Collection[int]) -> set[int]:
    """Return those of the users who may read the conversation now, in two queries at most:
    the members (`member_ids`) and, in a patient's conversation, the break-the-glass visitors
    (the set form of `permissions.can_read_conversation`)."""
    if not user_ids:
        return set()
    readers = set(member_ids(conversation))
    if conversation.kind == ConversationKind.PATIENT:
        readers |= set(
            db.session.scalars(
                sa.select(BreakGlassAccess.user_id)
                .join(User, User.id == BreakGlassAccess.user_id)
                .join(Patient, Patient.id == BreakGlassAccess.patient_id)
                .where(
                    BreakGlassAccess.patient_id == conversation.patient_id,
                    BreakGlassAccess.user_id.in_(user_ids),
                    BreakGlassAccess.expires_at > utcnow(),
                    Patient.merged_into_id.is_(None),
                    User.active.is_(True),
                    User.role.in_(CLINICAL_ROLES),
                )
            )
        )
    return readers & set(user_ids)


def _aware(instant: datetime) -> datetime:
    """Return an aware UTC instant (SQLite hands back naive datetimes)."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _membership_ends(
    user_ids: Collection[int], teams: sa.Select[Any] | list[int], *, role: str | None = None
) -> list[tuple[int, datetime | None]]:
    """Return (user id, instant the membership ends) of the users' current memberships of
    `teams`: the Paris midnight after the last day, or None for an open-ended one."""
    today = clock.paris_today()
    stmt = sa.select(TeamMembership.user_id, TeamMembership.ends_on).where(
        TeamMembership.user_id.in_(user_ids),
        TeamMembership.team_id.in_(teams),
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )
    if role is not None:
        stmt = stmt.where(TeamMembership.role == role)
    return [
        (uid, None if ends_on is None else clock.paris_midnight(ends_on + timedelta(days=1)))
        for uid, ends_on in db.session.execute(stmt)
    ]


def _patient_grant_ends(
    patient: Patient, user_ids: Collection[int]
) -> list[tuple[int, datetime | None]]:
    """Return (user id, end) of every grant that gives the users the patient's record now."""
    now = utcnow()
    enrolled = sa.and_(Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None))
    ends: list[tuple[int, datetime | None]] = []
    if patient.sharing_consent:
        ends += _membership_ends(user_ids, sa.select(Enrolment.team_id).where(enrolled))
        if db.session.scalar(sa.select(Enrolment.id).where(enrolled).limit(1)):
            ends += [
                (uid, _aware(expires))
                for uid, expires in db.session.execute(
                    sa.select(CircleInvitation.user_id, CircleInvitation.expires_at).where(
                        CircleInvitation.patient_id == patient.id,
                        CircleInvitation.user_id.in_(user_ids),
                        CircleInvitation.expires_at > now,
                        CircleInvitation.revoked_at.is_(None),
                    )
                )
            ]
    for enrolled_by in db.session.scalars(
        sa.select(Enrolment.enrolled_by_id).where(enrolled, Enrolment.enrolled_by_id.in_(user_ids))
    ).all():
        ends += _membership_ends(
            [enrolled_by],
            sa.select(Enrolment.team_id).where(enrolled, Enrolment.enrolled_by_id == enrolled_by),
            role=TeamRole.COORDINATOR,
        )
    ends += [
        (uid, _aware(expires))
        for uid, expires in db.session.execute(
            sa.select(BreakGlassAccess.user_id, BreakGlassAccess.expires_at).where(
                BreakGlassAccess.patient_id == patient.id,
                BreakGlassAccess.user_id.in_(user_ids),
                BreakGlassAccess.expires_at > now,
            )
        )
    ]
    return ends


def access_deadlines(
    conversation: Conversation, user_ids: Collection[int]
) -> dict[int, datetime | None]:
    """Return, per user, the instant their current access to the conversation ends by date
    alone (break-the-glass or invitation expiry, the Paris midnight after a membership's last
    day), or None when no date ends it. A few queries for any number of users.

    The latest end of the grants holding now counts (access holds while any one does); a user
    holding none gets `now`. A grant starting later is not foreseen: the cut-off job's re-check
    renews the deadline of the sockets that keep access.
    """
    if conversation.kind == ConversationKind.DIRECT or not user_ids:
        return dict.fromkeys(user_ids)
    if conversation.kind == ConversationKind.TEAM:
        ends = _membership_ends(user_ids, [conversation.team_id or 0])
    else:
        patient = db.session.get(Patient, conversation.patient_id)
        ends = _patient_grant_ends(patient, user_ids) if patient is not None else []
    now = utcnow()
    latest: dict[int, datetime | None] = {}
    for uid, end in ends:
        known = latest.get(uid, now)
        latest[uid] = None if end is None or known is None else max(known, end)
    return {uid: latest.get(uid, now) for uid in user_ids}


def readable_conversation_ids(user_id: int) -> sa.CompoundSelect[Any]:
    """Select the ids of the existing conversations the user may read now."""
    clinician = sa.select(User.id).where(
        User.id == user_id, User.active.is_(True), User.role.in_(CLINICAL_ROLES)
    )
    patients = sa.select(Conversation.id).where(
        Conversation.patient_id.in_(access.visible_patient_ids(user_id))
    )
    teams = sa.select(Conversation.id).where(
        Conversation.team_id.in_(
            access.active_team_ids(user_id).where(TeamMembership.user_id.in_(clinician))
        )
    )
    direct = sa.select(ConversationMember.conversation_id).where(
        ConversationMember.user_id.in_(clinician)
    )
    return sa.union(patients, teams, direct)


def read_positions(conversation: Conversation, user_id: int) -> list[dict[str, Any]]:
    """Return where the other current members stand in the thread (read markers on join)."""
    rows = db.session.execute(
        sa.select(
            ConversationReadState.user_id,
            ConversationReadState.last_read_seq,
            User.first_name,
            User.last_name,
        )
        .join(User, User.id == ConversationReadState.user_id)
        .where(
            ConversationReadState.conversation_id == conversation.id,
            ConversationReadState.user_id != user_id,
            ConversationReadState.user_id.in_(member_ids_select(conversation)),
            ConversationReadState.last_read_seq > 0,
        )
        .order_by(ConversationReadState.user_id)
    )
    return [
        {"user_id": uid, "name": f"{first} {last}", "seq": seq} for uid, seq, first, last in rows
    ]


def get_read_state(conversation_id: int, user_id: int) -> int:
    """Return the user's last read sequence in the conversation (0 when never read)."""
    return int(
        db.session.scalar(
            sa.select(ConversationReadState.last_read_seq).where(
                ConversationReadState.conversation_id == conversation_id,
                ConversationReadState.user_id == user_id,
            )
        )
        or 0
    )


def read_state_and_unread(conversation_id: int, user_id: int) -> tuple[int, int]:
    """Return the user's last read sequence in the conversation (0 when never read) and the
    others' messages after it, in one statement (`get_read_state` and `unread_counts`)."""
    read = (
        sa.select(ConversationReadState.last_read_seq)
        .where(
            ConversationReadState.conversation_id == conversation_id,
            ConversationReadState.user_id == user_id,
        )
        .scalar_subquery()
    )
    unread = (
        sa.select(sa.func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.author_id != user_id,
            Message.retracted_at.is_(None),
            Message.seq > sa.func.coalesce(read, 0),
        )
        .scalar_subquery()
    )
    last_read, count = db.session.execute(sa.select(sa.func.coalesce(read, 0), unread)).one()
    return int(last_read or 0), int(count or 0)


def unread_counts(user_id: int, conversation_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Return, per readable conversation, the others' messages after the user's read position."""
    ids = (
        list(conversation_ids)
        if conversation_ids is not None
        else list(db.session.scalars(readable_conversation_ids(user_id)))
    )
    if not ids:
        return {}
    read = (
        sa.select(ConversationReadState.last_read_seq)
        .where(
            ConversationReadState.conversation_id == Message.conversation_id,
            ConversationReadState.user_id == user_id,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(Message.conversation_id, sa.func.count())
        .where(
            Message.conversation_id.in_(ids),
            Message.author_id != user_id,
            Message.retracted_at.is_(None),
            Message.seq > sa.func.coalesce(read, 0),
        )
        .group_by(Message.conversation_id)
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({cid: int(n) for cid, n in rows})
    return counts


def unread_total(user_id: int) -> int:
    """Return the others' unread messages over every conversation the user may read, in one
    statement (the main menu's badge on every page)."""
    read = (
        sa.select(ConversationReadState.last_read_seq)
        .where(
            ConversationReadState.conversation_id == Message.conversation_id,
            ConversationReadState.user_id == user_id,
        )
        .scalar_subquery()
    )
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Message)
        .where(
            Message.conversation_id.in_(readable_conversation_ids(user_id)),
            Message.author_id != user_id,
            Message.retracted_at.is_(None),
            Message.seq > sa.func.coalesce(read, 0),
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation as listed: its title, last sequence and the user's unread count."""

    id: int
    kind: str
    patient_id: int | None
    team_id: int | None
    title: str
    last_seq: int
    last_read_seq: int
    unread: int


def _titles(conversations: Sequence[Conversation], user_id: int) -> dict[int, str]:
    patient_ids = [c.patient_id for c in conversations if c.patient_id is not None]
    team_ids = [c.team_id for c in conversations if c.team_id is not None]
    patients = {
        p.id: f"{p.used_name or p.birth_name} {p.first_names.split(' ')[0]}"
        for p in db.session.scalars(sa.select(Patient).where(Patient.id.in_(patient_ids)))
    }
    teams = dict(
        db.session.execute(
            sa.select(CareTeam.id, CareTeam.name).where(CareTeam.id.in_(team_ids))
        ).all()
    )
    others = dict(
        db.session.execute(
            sa.select(ConversationMember.conversation_id, ConversationMember.user_id).where(
                ConversationMember.conversation_id.in_([c.id for c in conversations]),
                ConversationMember.user_id != user_id,
            )
        ).all()
    )
    names = user_names(list(others.values()))
    titles = {}
    for c in conversations:
        if c.patient_id is not None:
            titles[c.id] = f"Patient {patients.get(c.patient_id, '')}".strip()
        elif c.team_id is not None:
            titles[c.id] = teams.get(c.team_id, "Équipe")
        else:
            titles[c.id] = names.get(others.get(c.id, 0), "Conversation directe")
    return titles


def _summaries(conversations: Sequence[Conversation], user_id: int) -> list[ConversationSummary]:
    """Build the summaries of conversations in a fixed number of queries (counts, read
    positions and titles in bulk)."""
    ids = [c.id for c in conversations]
    if not ids:
        return []
    counts = unread_counts(user_id, ids)
    read = dict(
        db.session.execute(
            sa.select(
                ConversationReadState.conversation_id, ConversationReadState.last_read_seq
            ).where(
                ConversationReadState.user_id == user_id,
                ConversationReadState.conversation_id.in_(ids),
            )
        ).all()
    )
    titles = _titles(conversations, user_id)
    return [
        ConversationSummary(
            c.id,
            c.kind,
            c.patient_id,
            c.team_id,
            titles[c.id],
            c.last_seq,
            read.get(c.id, 0),
            counts.get(c.id, 0),
        )
        for c in conversations
    ]


def last_activity_at() -> sa.ColumnElement[datetime]:
    """The instant of a conversation's last message (its creation while it has none).

    The last message is the one numbered `last_seq`: one lookup in the (conversation_id, seq)
    unique index per conversation, no aggregate over the messages.
    """
    last_message = (
        sa.select(Message.created_at)
        .where(Message.conversation_id == Conversation.id, Message.seq == Conversation.last_seq)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return sa.func.coalesce(last_message, Conversation.created_at).label("last_activity_at")


def list_conversations(
    user_id: int, *, limit: int, cursor: str | None = None
) -> Page[ConversationSummary]:
    """Return a page of the user's readable conversations, the one with the most recent
    message first (keyset on that instant then the id, so ties page without gaps or repeats:
    the same few queries whatever the number of them)."""
    last_at = last_activity_at()
    readable: Any = sa.select(Conversation, last_at).where(
        Conversation.id.in_(readable_conversation_ids(user_id))
    )
    page = paginate_keyset(
        readable,
        [last_at, Conversation.id],
        lambda row: (_aware(row[1]), row[0].id),
        limit=limit,
        cursor=cursor,
        descending=True,
    )
    return Page(_summaries([row[0] for row in page.items], user_id), page.next_cursor, limit)


def find_patient_conversation(patient_id: int) -> Conversation | None:
    """Return the patient's conversation, if it was ever opened."""
    return db.session.scalar(sa.select(Conversation).where(Conversation.patient_id == patient_id))


def conversation_summary(user_id: int, conversation: Conversation) -> ConversationSummary:
    """Return the summary of one conversation (title, unread count) for the user."""
    return _summaries([conversation], user_id)[0]


def messages_after_query(conversation_id: int, after: int) -> sa.Select[Any]:
    """Select the conversation's messages after a sequence (catch-up after a reconnect)."""
    return sa.select(Message).where(Message.conversation_id == conversation_id, Message.seq > after)


def _payload(
    m: Message, author_name: str, files: list[dict[str, Any]], acks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "client_id": m.client_id,
        "author_id": m.author_id,
        "author_name": author_name,
        "body": m.body,
        "body_html": m.body_html,
        "priority": m.priority,
        "created_at": m.created_at.isoformat(),
        "edited_at": m.edited_at.isoformat() if m.edited_at else None,
        "retracted_at": m.retracted_at.isoformat() if m.retracted_at else None,
        "attachments": [] if m.retracted_at else files,
        "acknowledged_by": [a["user_id"] for a in acks],
        #: Who acknowledged and when, in order ("Pris en compte par Dr X le 07/12 à 10:32").
        "acknowledgements": acks,
    }


def _attachment_payload(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "url": f"/api/v1/attachments/{a.id}",
    }


def payloads(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Return the JSON payloads of messages (authors, attachments, acknowledgements in bulk)."""
    ids = [m.id for m in messages]
    names = user_names([m.author_id for m in messages])
    files: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    acks: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for a in db.session.scalars(
            sa.select(Attachment).where(Attachment.message_id.in_(ids)).order_by(Attachment.id)
        ):
            files[a.message_id].append(_attachment_payload(a))
        for message_id, user_id, at, first, last, profession in db.session.execute(
            sa.select(
                Acknowledgement.message_id,
                Acknowledgement.user_id,
                Acknowledgement.at,
                User.first_name,
                User.last_name,
                User.profession,
            )
            .join(User, User.id == Acknowledgement.user_id)
            .where(Acknowledgement.message_id.in_(ids))
            .order_by(Acknowledgement.at, Acknowledgement.id)
        ):
            acks[message_id].append(
                {
                    "user_id": user_id,
                    "name": signed_name(first, last, profession),
                    "at": _aware(at).isoformat(),
                }
            )
    return [_payload(m, names.get(m.author_id, ""), files[m.id], acks[m.id]) for m in messages]


def message_payload(message: Message) -> dict[str, Any]:
    """Return the JSON payload of one message (what `message_created`/`_updated` carry)."""
    return payloads([message])[0]


def new_message_payload(
    message: Message, author_name: str, attachments: Sequence[Attachment] = ()
) -> dict[str, Any]:
    """Return the payload of a message just created, from what the sender already holds
    (no query: a new message has no acknowledgement yet, and its attachments are given)."""
    return _payload(message, author_name, [_attachment_payload(a) for a in attachments], [])


_TOKEN = re.compile(r"\w+", re.UNICODE)


def _fts5_query(text: str) -> str:
    """Quote every word so user input never reaches FTS5's query syntax; the last is a prefix."""
    words = _TOKEN.findall(text)[:12]
    if not words:
        raise InvalidInput("Saisissez au moins un mot à rechercher.", field="q")
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def search_query(user_id: int, text: str) -> sa.Select[Any]:
    """Select the messages matching `text` in the conversations the user may read now."""
    dialect = db.session.get_bind().dialect.name
    readable = Message.conversation_id.in_(readable_conversation_ids(user_id))
    alive = Message.retracted_at.is_(None)
    if dialect == "postgresql":
        if not _TOKEN.search(text):
            raise InvalidInput("Saisissez au moins un mot à rechercher.", field="q")
        match = sa.func.to_tsvector(sa.literal_column("'french'"), Message.body).op("@@")(
            sa.func.plainto_tsquery(sa.literal_column("'french'"), text)
        )
        return sa.select(Message).where(match, readable, alive)
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    hits = sa.select(fts.c.rowid).where(
        sa.text(f"{FTS_TABLE} MATCH :q").bindparams(q=_fts5_query(text))
    )
    return sa.select(Message).where(Message.id.in_(hits), readable, alive)
