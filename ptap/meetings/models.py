"""Meetings of a care team, their agenda of patients, participants, decisions and quorum."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow


class MeetingStatus(StrEnum):
    """planned → in_progress → closed (read-only); a planned meeting may be cancelled."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"
    CANCELLED = "cancelled"


MEETING_STATUS_LABELS = {
    MeetingStatus.PLANNED: "Prévue",
    MeetingStatus.IN_PROGRESS: "En cours",
    MeetingStatus.CLOSED: "Close",
    MeetingStatus.CANCELLED: "Annulée",
}


class ItemStatus(StrEnum):
    """Whether a patient of the agenda has been discussed."""

    PENDING = "pending"
    DISCUSSED = "discussed"


ITEM_STATUS_LABELS = {ItemStatus.PENDING: "À discuter", ItemStatus.DISCUSSED: "Discuté"}


class AgendaReason(StrEnum):
    """Why a patient is on the agenda: a suggestion's code, or added by hand."""

    MANUAL = "manual"
    REVIEW_DUE = "review_due"
    OVERDUE_ACTIONS = "overdue_actions"
    URGENT_MESSAGES = "urgent_messages"
    NO_PLAN = "no_plan"


AGENDA_REASON_LABELS = {
    AgendaReason.MANUAL: "Ajouté par l'équipe",
    AgendaReason.REVIEW_DUE: "Réévaluation du plan dans les 30 jours",
    AgendaReason.OVERDUE_ACTIONS: "Actions en retard",
    AgendaReason.URGENT_MESSAGES: "Message urgent sans accusé de réception",
    AgendaReason.NO_PLAN: "Nouvelle inclusion sans plan",
}


class ParticipantRole(StrEnum):
    MEMBER = "member"
    GUEST = "guest"


PARTICIPANT_ROLE_LABELS = {ParticipantRole.MEMBER: "Membre", ParticipantRole.GUEST: "Invité"}


class Attendance(StrEnum):
    INVITED = "invited"
    PRESENT = "present"
    EXCUSED = "excused"
    ABSENT = "absent"


ATTENDANCE_LABELS = {
    Attendance.INVITED: "Invité·e",
    Attendance.PRESENT: "Présent·e",
    Attendance.EXCUSED: "Excusé·e",
    Attendance.ABSENT: "Absent·e",
}


class DecisionKind(StrEnum):
    """The structured decisions a meeting may take about one patient's plan."""

    ADD_OBJECTIVE = "add_objective"
    ADD_ACTION = "add_action"
    UPDATE_ACTION = "update_action"
    OBJECTIVE_UNMET = "objective_unmet"
    SET_REVIEW_DATE = "set_review_date"
    REQUEST_REVISION = "request_revision"


DECISION_KIND_LABELS = {
    DecisionKind.ADD_OBJECTIVE: "Nouvel objectif",
    DecisionKind.ADD_ACTION: "Nouvelle action",
    DecisionKind.UPDATE_ACTION: "Action modifiée",
    DecisionKind.OBJECTIVE_UNMET: "Objectif non atteint",
    DecisionKind.SET_REVIEW_DATE: "Prochaine réévaluation",
    DecisionKind.REQUEST_REVISION: "Révision du plan demandée",
}

#: Quorum used when a team has set none: 3 professionals of 2 different professions present.
DEFAULT_MIN_PRESENT = 3
DEFAULT_MIN_PROFESSIONS = 2


class Meeting(Base):
    """A meeting of a care team, at a date and time (stored in UTC, entered in Paris time)."""

    __tablename__ = "meetings"
    __table_args__ = (sa.Index("ix_meetings_team_starts", "team_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=60)
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    video_url: Mapped[str] = mapped_column(sa.String(500), default="")
    chair_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    secretary_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(20), default=MeetingStatus.PLANNED)
    #: The agenda item being discussed (live meeting screen); no FK to avoid a cycle.
    current_item_id: Mapped[int | None]
    #: iCalendar SEQUENCE: +1 on each change of date, place or status.
    ical_sequence: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class MeetingAgendaItem(Base):
    """One patient on a meeting's agenda, the discussion summary and the version decided."""

    __tablename__ = "meeting_agenda_items"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    #: An AgendaReason code (the suggestion that brought the patient, or "manual").
    reason: Mapped[str] = mapped_column(sa.String(30), default=AgendaReason.MANUAL)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(20), default=ItemStatus.PENDING)
    #: The plan version the decisions produced (the last one if recorded twice).
    plan_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("care_plan_versions.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class MeetingParticipant(Base):
    """A team member or an outside guest invited to a meeting, and their attendance."""

    __tablename__ = "meeting_participants"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(10), default=ParticipantRole.MEMBER)
    attendance: Mapped[str] = mapped_column(sa.String(10), default=Attendance.INVITED)
    #: The person's profession label when invited (reports list it as it was then).
    profession: Mapped[str] = mapped_column(sa.String(80), default="")
    #: Raw profession code when invited: the quorum counts distinct codes.
    profession_code: Mapped[str] = mapped_column(sa.String(40), default="")
    #: The first circle invitation of a guest (one per patient: see MeetingGuestPatient).
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("circle_invitations.id"))


class MeetingGuestPatient(Base):
    """A patient a guest is invited for: the only agenda patients the guest sees."""

    __tablename__ = "meeting_guest_patients"
    __table_args__ = (sa.UniqueConstraint("participant_id", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting_participants.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: The circle invitation created for it (None if the guest was already in the circle).
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("circle_invitations.id"))


class MeetingDecision(Base):
    """A structured decision about one agenda patient, as recorded (payload per kind)."""

    __tablename__ = "meeting_decisions"
    __table_args__ = (sa.UniqueConstraint("item_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting_agenda_items.id"))
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The plan version this decision went into.
    plan_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("care_plan_versions.id"))
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeetingQuorum(Base):
    """A team's quorum, set by its coordinators (defaults apply when there is no row)."""

    __tablename__ = "meeting_quorums"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), unique=True)
    min_present: Mapped[int] = mapped_column(default=DEFAULT_MIN_PRESENT)
    min_professions: Mapped[int] = mapped_column(default=DEFAULT_MIN_PROFESSIONS)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
