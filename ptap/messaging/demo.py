"""Messages for `ptap demo`: patient conversations and team conversations that look lived-in.

Messages go through the real service (send_message), each at its own moment with the clock
set there, between a team's coordinator and its professionals. A few carry an attachment (a
small PDF or image made here, stored as uploads are). A few are urgent: those older than a
day were acknowledged by a colleague within hours, the recent ones still wait. Team members
have read their conversations except the last day's messages. Drawn from a seeded generator
(deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_teams.models import CareTeam, Enrolment, Patient, TeamMembership
from ptap.core import clock
from ptap.extensions import db
from ptap.messaging import services
from ptap.messaging.attachments import UploadedFile
from ptap.messaging.models import Conversation, ConversationReadState, Message, Priority

AUDIT_LABEL = "ptap demo"
PATIENT_LINES = (
    "Passage ce matin : la personne va mieux, elle a repris ses repas.",
    "Le pilulier n'était pas à jour, je l'ai refait avec elle.",
    "La fille a appelé : elle s'inquiète pour les nuits, on en parle en réunion ?",
    "Ordonnance renouvelée, j'ai adapté la posologie du diurétique.",
    "Le dossier APA est parti hier, réponse attendue sous deux mois.",
    "Séance de kiné faite, marche avec déambulateur sur 20 mètres.",
    "RAS cette semaine.",
    "Rendez-vous de cardiologie fixé au mois prochain, transport réservé.",
    "L'ergothérapeute propose une main courante dans l'escalier : la famille est d'accord.",
)
URGENT_LINES = (
    "Chute cette nuit, pas de fracture apparente mais douleur à la hanche : qui peut passer ?",
    "Plus d'aidant ce week-end (hospitalisation de la fille) : il faut organiser les passages.",
)
TEAM_LINES = (
    "Réunion de concertation jeudi 14 h, pensez à envoyer vos situations.",
    "Nouvelle procédure pour les sorties d'hospitalisation, voir le document partagé.",
    "Qui peut prendre les appels de la permanence lundi ?",
)
ATTACHMENT_LINES = (
    ("Compte rendu de la consultation de cardiologie en pièce jointe.", "CR-cardiologie.pdf"),
    ("Ordonnance de kinésithérapie renouvelée, ci-jointe.", "ordonnance-kine.pdf"),
    ("Photo de la plaie ce matin : elle bourgeonne bien.", "plaie-talon.png"),
)
#: Share of the demo patients whose conversation has messages: 0.6 costs the demo about 4 s
#: more, past its 30-s budget on SQLite (measured 2026-12-07: 23.6 s vs 27.3 s of CPU).
SHARE_WITH_MESSAGES = 0.3
SHARE_WITH_ATTACHMENT = 0.06
#: Urgent messages older than this were acknowledged; the newer ones still wait.
ACKNOWLEDGED_AFTER = timedelta(days=1)
#: Messages newer than this are still unread by the members who did not write them.
UNREAD_SINCE = timedelta(days=1)


@dataclass
class MessagingDemoSummary:
    """What the messaging demo created."""

    messages: int = 0
    urgent: int = 0
    attachments: int = 0
    acknowledged: int = 0


def load_messaging_demo(rng: random.Random, team_ids: Sequence[int]) -> MessagingDemoSummary | None:
    """Create the demo conversations unless the demo teams' patients have messages (flushes)."""
    followed = (
        sa.select(Enrolment.patient_id).where(Enrolment.team_id.in_(team_ids)).scalar_subquery()
    )
    exists = db.session.scalar(
        sa.select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.patient_id.in_(followed))
        .limit(1)
    )
    if exists is not None or not team_ids:
        return None
    summary = MessagingDemoSummary()
    now = clock.now()
    members = _members(team_ids)
    enrolments = db.session.scalars(
        sa.select(Enrolment)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.team_id.in_(team_ids),
            Enrolment.ended_at.is_(None),
            Patient.sharing_consent.is_(True),
            Patient.merged_into_id.is_(None),
        )
        .order_by(Enrolment.id)
    ).all()
    for enrolment in enrolments:
        people = members[enrolment.team_id]
        if len(people) < 2 or rng.random() >= SHARE_WITH_MESSAGES:
            continue
        patient = db.session.get_one(Patient, enrolment.patient_id)
        conversation = services.get_or_create_patient_conversation(people[0], patient)
        start = max(enrolment.enrolled_at, now - timedelta(days=120))
        for n, at in enumerate(_moments(rng, start, now, rng.randint(2, 6))):
            urgent = rng.random() < 0.08
            line = rng.choice(URGENT_LINES if urgent else PATIENT_LINES)
            upload = None
            if not urgent and rng.random() < SHARE_WITH_ATTACHMENT:
                line, filename = rng.choice(ATTACHMENT_LINES)
                upload = UploadedFile(filename, _demo_file(filename, line))
            author = rng.choice(people)
            message = _send(author, conversation, line, urgent, at, f"demo-{n}", summary, upload)
            if urgent and now - at > ACKNOWLEDGED_AFTER:
                colleague = rng.choice([p for p in people if p.id != author.id])
                with clock.frozen(at + timedelta(minutes=rng.randint(5, 240))):
                    services.acknowledge_message(
                        colleague, message, AuditContext(colleague.id, AUDIT_LABEL)
                    )
                summary.acknowledged += 1
    for team_id in team_ids:
        people = members[team_id]
        if not people:
            continue
        team = db.session.get_one(CareTeam, team_id)
        conversation = services.get_or_create_team_conversation(people[0], team)
        for n, at in enumerate(_moments(rng, now - timedelta(days=60), now, 6)):
            _send(rng.choice(people), conversation, rng.choice(TEAM_LINES), False, at, f"t{n}",
                  summary)  # fmt: skip
    db.session.flush()
    _read_up_to(now - UNREAD_SINCE, members, team_ids)
    return summary


def _read_up_to(before: datetime, members: dict[int, list[User]], team_ids: Sequence[int]) -> None:
    """Move the team members' read positions to the last message sent before `before`, in the
    demo conversations (positions only move forward; nothing to notify in a command)."""
    followed = sa.select(Enrolment.patient_id).where(Enrolment.team_id.in_(team_ids))
    last_read = db.session.execute(
        sa.select(
            Conversation.id, Conversation.patient_id, Conversation.team_id, sa.func.max(Message.seq)
        )
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            sa.or_(Conversation.patient_id.in_(followed), Conversation.team_id.in_(team_ids)),
            Message.created_at < before,
        )
        .group_by(Conversation.id, Conversation.patient_id, Conversation.team_id)
    ).all()
    teams_of_patient: dict[int, set[int]] = {}
    for followed_id, followed_by in db.session.execute(
        sa.select(Enrolment.patient_id, Enrolment.team_id).where(
            Enrolment.team_id.in_(team_ids), Enrolment.ended_at.is_(None)
        )
    ):
        teams_of_patient.setdefault(followed_id, set()).add(followed_by)
    states = {
        (s.conversation_id, s.user_id): s
        for s in db.session.scalars(
            sa.select(ConversationReadState).where(
                ConversationReadState.conversation_id.in_([row[0] for row in last_read])
            )
        )
    }
    for conversation_id, patient_id, team_id, seq in last_read:
        teams = {team_id} if team_id is not None else teams_of_patient.get(patient_id or 0, set())
        readers = {u.id for t in teams for u in members.get(t, [])}
        for user_id in sorted(readers):
            state = states.get((conversation_id, user_id))
            if state is None:
                db.session.add(
                    ConversationReadState(
                        conversation_id=conversation_id, user_id=user_id, last_read_seq=seq
                    )
                )
            elif state.last_read_seq < seq:
                state.last_read_seq = seq
    db.session.flush()


def _members(team_ids: Sequence[int]) -> dict[int, list[User]]:
    """Current members of each team who may write (active clinicians), coordinators first."""
    rows = db.session.execute(
        sa.select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(
            TeamMembership.team_id.in_(team_ids),
            TeamMembership.ends_on.is_(None),
            User.active.is_(True),
            User.role.in_(("coordinator", "professional")),
        )
        .order_by(TeamMembership.role, TeamMembership.id)
    ).all()
    result: dict[int, list[User]] = {t: [] for t in team_ids}
    for membership, user in rows:
        result[membership.team_id].append(user)
    return result


def _moments(rng: random.Random, start: datetime, now: datetime, count: int) -> list[datetime]:
    span = max((now - start).total_seconds(), 3600.0)
    return sorted(
        min(start + timedelta(seconds=rng.uniform(0, span)), now - timedelta(minutes=5))
        for _ in range(count)
    )


def _send(
    author: User,
    conversation: Conversation,
    body: str,
    urgent: bool,
    at: datetime,
    client_id: str,
    summary: MessagingDemoSummary,
    upload: UploadedFile | None = None,
) -> Message:
    draft = services.MessageDraft(
        client_id=f"{client_id}-{conversation.id}",
        body=body,
        priority=Priority.URGENT if urgent else Priority.NORMAL,
        attachments=(upload,) if upload is not None else (),
    )
    with clock.frozen(at):
        result = services.send_message(
            author, conversation, draft, AuditContext(actor_id=author.id, actor_label=AUDIT_LABEL)
        )
    summary.messages += 1
    summary.urgent += urgent
    summary.attachments += upload is not None
    return result.message


def _demo_file(filename: str, text: str) -> bytes:
    """A small file an attachment can carry: a one-page PDF saying `text`, or a PNG."""
    if filename.endswith(".png"):
        return _png(48, 32, (214, 160, 150))
    return _pdf(f"{filename} (document fictif de démonstration) - {text}")


def _pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing one line of text (Latin-1, Helvetica)."""
    line = text.encode("latin-1", "replace").replace(b"\\", b"\\\\")
    line = line.replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 11 Tf 40 800 Td (" + line + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small uniform PNG image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
