"""Messages for `ptap demo`: patient conversations and team conversations that look lived-in.

Messages go through the real service (send_message), each at its own moment with the clock
set there, between a team's coordinator and its professionals; a few are urgent and a few of
those stay unacknowledged. Drawn from a seeded generator (deterministic).
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
from ptap.messaging.models import Conversation, Message, Priority

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
#: Share of the demo patients whose conversation has messages. Back to 0.6 now that the
#: conversation list orders by the last message's time (tests/e2e messaging pass with it).
SHARE_WITH_MESSAGES = 0.6


@dataclass
class MessagingDemoSummary:
    """What the messaging demo created."""

    messages: int = 0
    urgent: int = 0


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
            _send(rng.choice(people), conversation, line, urgent, at, f"demo-{n}", summary)
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
    return summary


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
) -> None:
    draft = services.MessageDraft(
        client_id=f"{client_id}-{conversation.id}",
        body=body,
        priority=Priority.URGENT if urgent else Priority.NORMAL,
    )
    with clock.frozen(at):
        services.send_message(
            author, conversation, draft, AuditContext(actor_id=author.id, actor_label=AUDIT_LABEL)
        )
    summary.messages += 1
    summary.urgent += urgent
