"""Who may read and write which conversation; rules registered in the core policy.

Membership is computed live at every check, never cached on the socket:
- patient conversation: the patient's circle under the care-teams rules (consent included);
  emergency (break-the-glass) visitors may read, only the circle may write;
- team conversation: the team's current members;
- direct conversation: its two members (ConversationMember rows).
Only active clinicians ever take part (admins and ARS analysts never read messages).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.policy import Actor, PlatformRole, has_role, is_clinician, rule
from ptap.extensions import db
from ptap.messaging.models import Conversation, ConversationKind, ConversationMember, Message

#: Bases that make someone part of the patient's circle (not an emergency visitor).
CIRCLE_BASES = frozenset(
    {
        access.AccessBasis.MEMBER,
        access.AccessBasis.INVITED,
        access.AccessBasis.ENROLLING_COORDINATOR,
    }
)


def _patient_basis(user_id: int, patient_id: int | None) -> access.AccessBasis | None:
    patient = db.session.get(Patient, patient_id) if patient_id is not None else None
    return access.access_basis(user_id, patient) if patient is not None else None


def _is_direct_member(user_id: int, conversation_id: int) -> bool:
    return bool(
        db.session.scalar(
            sa.select(ConversationMember.id).where(
                ConversationMember.conversation_id == conversation_id,
                ConversationMember.user_id == user_id,
            )
        )
    )


def can_read_conversation(user: Actor, conversation: Conversation | None) -> bool:
    """Tell whether the user may read the conversation now."""
    if conversation is None or not is_clinician(user) or not user.is_active:
        return False
    if conversation.kind == ConversationKind.PATIENT:
        return _patient_basis(user.id, conversation.patient_id) is not None
    if conversation.kind == ConversationKind.TEAM:
        return conversation.team_id is not None and access.is_team_member(
            user.id, conversation.team_id
        )
    return _is_direct_member(user.id, conversation.id)


def can_write_conversation(user: Actor, conversation: Conversation | None) -> bool:
    """Tell whether the user may post in the conversation now."""
    if conversation is not None and conversation.kind == ConversationKind.PATIENT:
        if not is_clinician(user) or not user.is_active:
            return False
        return _patient_basis(user.id, conversation.patient_id) in CIRCLE_BASES
    return can_read_conversation(user, conversation)


@rule("conversations.list")
def _list(user: Actor, _obj: Any) -> bool:
    return is_clinician(user)


@rule("conversation.read")
def _read(user: Actor, conversation: Conversation | None) -> bool:
    return can_read_conversation(user, conversation)


@rule("conversation.write")
def _write(user: Actor, conversation: Conversation | None) -> bool:
    return can_write_conversation(user, conversation)


@rule("conversation.open_patient")
def _open_patient(user: Actor, patient: Patient | None) -> bool:
    """Open a patient's conversation: whoever may read the patient's record."""
    if patient is None or not is_clinician(user):
        return False
    return access.access_basis(user.id, patient) is not None


@rule("conversation.open_team")
def _open_team(user: Actor, team: CareTeam | None) -> bool:
    """Open a team's conversation: its current members (clinicians)."""
    return team is not None and is_clinician(user) and access.is_team_member(user.id, team.id)


@rule("conversation.open_direct")
def _open_direct(user: Actor, other: Actor | None) -> bool:
    """Open a direct conversation: between two distinct active clinicians, the other one
    still belonging to a care team (a former member, whose memberships all ended, is not
    a recipient any more)."""
    return (
        other is not None
        and other.id != user.id
        and is_clinician(user)
        and is_clinician(other)
        and other.is_active
        and not has_role(other, PlatformRole.ADMIN)
        and access.belongs_to_a_team(other.id)
    )


@rule("message.change")
def _change(user: Actor, message: Message | None) -> bool:
    """Edit or retract: the author, while still allowed to write in the conversation."""
    if message is None or message.author_id != user.id or message.retracted_at is not None:
        return False
    return can_write_conversation(user, db.session.get(Conversation, message.conversation_id))
