"""JSON shapes of meetings, their agenda, participants, quorum and decisions in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import AgendaReason, Attendance, DecisionKind
from ptap.meetings.services import MeetingData


class MeetingFields(BaseModel):
    """What a planner enters about a meeting."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime = Field(description="Début (date, heure et fuseau, ex. +01:00)")
    duration_minutes: int = Field(default=60, ge=15, le=480)
    place: str = Field(default="", max_length=200, description="Lieu (ou un lien de visio)")
    video_url: str = Field(default="", max_length=500, description="Lien https de visioconférence")
    chair_id: int = Field(description="Le membre de l'équipe qui préside")
    secretary_id: int = Field(description="Le membre de l'équipe qui tient le compte rendu")

    def to_data(self) -> MeetingData:
        """Return the service's value."""
        return MeetingData(
            title=self.title,
            starts_at=self.starts_at,
            duration_minutes=self.duration_minutes,
            place=self.place,
            video_url=self.video_url,
            chair_id=self.chair_id,
            secretary_id=self.secretary_id,
        )


class MeetingCreate(MeetingFields):
    """Request body to schedule a meeting of one of the caller's teams."""

    team_id: int


class AgendaAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: int
    reason: AgendaReason = AgendaReason.MANUAL


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[int] = Field(min_length=1, max_length=100)


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(description="Le compte PTAP du professionnel invité")
    patient_ids: list[int] = Field(
        min_length=1, max_length=50, description="Les personnes de l'ordre du jour qu'il verra"
    )


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attendance: Attendance


class QuorumIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_present: int = Field(ge=1, le=50)
    min_professions: int = Field(ge=1, le=50)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DecisionKind
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="add_objective {title, key?} · add_action {objective_key, what, "
        "action_type?, assignee_user_id?, assignee_label?, due_on?} · update_action "
        "{action_key, status?, due_on?, assignee_user_id?, not_achieved_reason?} · "
        "objective_unmet {objective_key, reason} · set_review_date {next_review_on} · "
        "request_revision {reason?}",
    )


class DecisionsIn(BaseModel):
    """The discussion of one agenda patient and its decisions."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int = Field(description="Une personne inscrite à l'ordre du jour")
    summary: str = Field(default="", max_length=20_000)
    base_version_id: int | None = Field(
        description="La version du plan sur laquelle les décisions ont été prises (null : "
        "pas encore de version) ; si le plan a changé depuis, 409"
    )
    decisions: list[DecisionIn] = Field(default_factory=list, max_length=50)

    def inputs(self) -> list[DecisionInput]:
        return [DecisionInput(str(d.kind), d.payload) for d in self.decisions]


class DecisionOut(BaseModel):
    kind: str
    label: str
    payload: dict[str, Any]
    plan_version_id: int | None
    recorded_at: datetime


class AgendaItemOut(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    position: int
    reason: str
    reason_label: str
    status: str
    status_label: str
    summary: str
    plan_version_id: int | None
    decided_at: datetime | None
    decisions: list[DecisionOut] = Field(default_factory=list)


class ParticipantOut(BaseModel):
    id: int
    user_id: int
    name: str
    role: str
    attendance: str
    profession: str


class QuorumOut(BaseModel):
    ok: bool
    present: int
    professions: int
    min_present: int
    min_professions: int
    missing: list[str]


class MeetingSummaryOut(BaseModel):
    id: int
    team_id: int
    title: str
    starts_at: datetime
    duration_minutes: int
    place: str
    video_url: str
    chair_id: int
    secretary_id: int
    status: str
    ical_sequence: int
    closed_at: datetime | None


class MeetingOut(MeetingSummaryOut):
    current_item_id: int | None
    participants: list[ParticipantOut]
    agenda: list[AgendaItemOut]
    hidden_agenda_items: int = Field(description="Personnes inscrites que vous ne pouvez pas voir")
    quorum: QuorumOut


class DecisionsOut(BaseModel):
    item: AgendaItemOut
    plan_version_id: int | None
    plan_version_number: int | None


class SuggestionOut(BaseModel):
    patient_id: int
    patient_name: str
    reason: str
    reason_label: str
    detail: str


class PatientMeetingOut(BaseModel):
    meeting_id: int
    title: str
    starts_at: datetime
    status: str
    item: AgendaItemOut


class QuorumRuleOut(BaseModel):
    team_id: int
    min_present: int
    min_professions: int


class SuggestionList(BaseModel):
    items: list[SuggestionOut]


class ParticipantList(BaseModel):
    items: list[ParticipantOut]


class PatientMeetingList(BaseModel):
    items: list[PatientMeetingOut]
