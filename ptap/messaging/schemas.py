"""JSON shapes of messaging: API bodies and responses, Socket.IO payloads."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ptap.core.bounds import MAX_DB_INT, DbId
from ptap.core.errors import InvalidInput
from ptap.messaging.models import Priority
from ptap.messaging.services import MAX_BODY

ClientId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
#: A sequence number within a conversation, bounded to the column range like every id.
Seq = Field(ge=0, le=MAX_DB_INT)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- Socket.IO payloads (client → server) ----------------------------------------------------


class JoinIn(_In):
    """`join`: start following a conversation."""

    conversation_id: DbId


class SendIn(_In):
    """`send_message`: a new message with the client's own id (re-sent after a reconnect)."""

    conversation_id: DbId
    client_id: str = ClientId
    body: str = Field(max_length=MAX_BODY)
    priority: Priority = Priority.NORMAL
    mentions: list[DbId] = Field(default_factory=list, max_length=50)


class TypingIn(_In):
    """`typing`: the user is (or stopped) typing."""

    conversation_id: DbId
    typing: bool = True


class MarkReadIn(_In):
    """`mark_read`: the user has read up to `seq`."""

    conversation_id: DbId
    seq: int = Seq


class AcknowledgeIn(_In):
    """`acknowledge`: the user acknowledges an urgent message."""

    message_id: DbId


def parse_payload(model: type[_In], data: Any) -> Any:
    """Validate a socket payload; InvalidInput names the first offending field."""
    try:
        return model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "payload"
        raise InvalidInput(err["msg"], field=field) from exc


# --- API bodies ------------------------------------------------------------------------------


class ConversationCreate(_In):
    """Open (get or create) a conversation: of a patient, of a team, or with one professional."""

    kind: Literal["patient", "team", "direct"]
    patient_id: DbId | None = None
    team_id: DbId | None = None
    user_id: DbId | None = Field(default=None, description="L'autre professionnel (direct)")

    @model_validator(mode="after")
    def _target(self) -> Self:
        needed = {"patient": "patient_id", "team": "team_id", "direct": "user_id"}[self.kind]
        if getattr(self, needed) is None:
            raise ValueError(f"{needed} est requis pour une conversation {self.kind}.")
        return self


class MessageCreate(_In):
    """A message sent over the API (same rules as the socket's `send_message`)."""

    client_id: str = ClientId
    body: str = Field(max_length=MAX_BODY)
    priority: Priority = Priority.NORMAL
    mentions: list[DbId] = Field(default_factory=list, max_length=50)


class MessageEdit(_In):
    """A new text for one's own message (within the edit window)."""

    body: str = Field(min_length=1, max_length=MAX_BODY)


class ReadIn(_In):
    """The sequence the user has read up to."""

    seq: int = Seq


class ActionFromMessage(_In):
    """Turn a patient message into an action of the patient's care plan."""

    objective_key: str = Field(min_length=1, max_length=32)
    what: str | None = Field(default=None, max_length=500)
    due_on: date | None = None


# --- API responses ---------------------------------------------------------------------------


class ConversationOut(BaseModel):
    """A conversation with the caller's read position and unread count."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    patient_id: int | None
    team_id: int | None
    title: str
    last_seq: int
    last_read_seq: int
    unread: int


class AttachmentOut(BaseModel):
    """A file attached to a message; `url` is the authorised download route."""

    id: int
    filename: str
    content_type: str
    size: int
    url: str


class AcknowledgementOut(BaseModel):
    """One acknowledgement of an urgent message: who, and when (ISO 8601, UTC)."""

    user_id: int
    name: str
    at: str


class MessageOut(BaseModel):
    """A message; a retracted one keeps its place (seq) but has no text any more."""

    id: int
    conversation_id: int
    seq: int
    client_id: str
    author_id: int
    author_name: str
    body: str
    body_html: str
    priority: str
    created_at: str
    edited_at: str | None
    retracted_at: str | None
    attachments: list[AttachmentOut]
    acknowledged_by: list[int]
    acknowledgements: list[AcknowledgementOut]


class ReadStateOut(BaseModel):
    """The caller's read position and unread count in the conversation."""

    conversation_id: int
    last_read_seq: int
    unread: int


class CarePlanActionOut(BaseModel):
    """The care-plan action created from a message."""

    plan_id: int
    action_key: str
    what: str
