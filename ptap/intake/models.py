"""Support requests (sollicitations) and each team's intake targets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, TimestampMixin, utcnow


class RequestChannel(StrEnum):
    """How the request reached the team."""

    PHONE = "phone"
    EMAIL = "email"
    MSSANTE = "mssante"
    FORM = "form"
    OTHER = "other"


REQUEST_CHANNEL_LABELS = {
    RequestChannel.PHONE: "Téléphone",
    RequestChannel.EMAIL: "Courriel",
    RequestChannel.MSSANTE: "Messagerie sécurisée de santé (MSSanté)",
    RequestChannel.FORM: "Formulaire",
    RequestChannel.OTHER: "Autre (visite, courrier…)",
}


class MissionType(StrEnum):
    """The three DAC mission types a request is triaged into."""

    INFORMATION = "information"
    ORIENTATION = "orientation"
    COORDINATION = "coordination"


MISSION_TYPE_LABELS = {
    MissionType.INFORMATION: "Information",
    MissionType.ORIENTATION: "Orientation",
    MissionType.COORDINATION: "Appui à la coordination",
}


class RequestStatus(StrEnum):
    """Where a request stands: received → triaged → answered → closed, or converted."""

    RECEIVED = "received"
    TRIAGED = "triaged"
    ANSWERED = "answered"
    CLOSED = "closed"
    CONVERTED = "converted"


REQUEST_STATUS_LABELS = {
    RequestStatus.RECEIVED: "Reçue, à qualifier",
    RequestStatus.TRIAGED: "Qualifiée, réponse attendue",
    RequestStatus.ANSWERED: "Réponse apportée",
    RequestStatus.CLOSED: "Clôturée",
    RequestStatus.CONVERTED: "Inclusion dans la file active",
}

#: Statuses of a request still in the team's hands (clocks may run, alerts may fire).
OPEN_STATUSES = frozenset({RequestStatus.RECEIVED, RequestStatus.TRIAGED, RequestStatus.ANSWERED})


class RequestOutcome(StrEnum):
    """How a request ended."""

    INFORMATION_GIVEN = "information_given"
    ORIENTED = "oriented"
    ENROLLED = "enrolled"
    HANDLED_ELSEWHERE = "handled_elsewhere"
    WITHDRAWN = "withdrawn"
    OUT_OF_SCOPE = "out_of_scope"
    DUPLICATE = "duplicate"
    OTHER = "other"


REQUEST_OUTCOME_LABELS = {
    RequestOutcome.INFORMATION_GIVEN: "Information ou conseil donné",
    RequestOutcome.ORIENTED: "Orientation vers une ressource adaptée",
    RequestOutcome.ENROLLED: "Inclusion dans la file active (appui à la coordination)",
    RequestOutcome.HANDLED_ELSEWHERE: "Situation prise en charge par ailleurs",
    RequestOutcome.WITHDRAWN: "Demande retirée ou personne injoignable",
    RequestOutcome.OUT_OF_SCOPE: "Hors des missions du dispositif",
    RequestOutcome.DUPLICATE: "Doublon d'une autre demande",
    RequestOutcome.OTHER: "Autre issue",
}

#: Outcomes a coordinator picks when closing (ENROLLED comes only from a conversion).
CLOSING_OUTCOMES = tuple(o for o in RequestOutcome if o is not RequestOutcome.ENROLLED)


#: Targets used when a team has set none.
DEFAULT_FIRST_ANSWER_WORKING_DAYS = 2
DEFAULT_EVALUATION_WORKING_DAYS = 10
DEFAULT_PPCS_DAYS = 60


class SupportRequest(TimestampMixin, Base):
    """A request for support received by a team, from first contact to its outcome.

    The requester's name and contact and the free-text fields identify people: they are shown
    to the team only, never to ARS analysts (monitoring reads the coded columns).
    """

    __tablename__ = "support_requests"
    __table_args__ = (
        sa.Index("ix_support_requests_team_status", "team_id", "status"),
        sa.Index("ix_support_requests_received_at", "received_at"),
        sa.Index("ix_support_requests_team_received", "team_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    #: When the request reached the team: every clock starts here.
    received_at: Mapped[datetime]
    #: ptap.care_teams.models.RequesterKind.
    requester_kind: Mapped[str] = mapped_column(sa.String(30))
    requester_name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Phone, e-mail or address to call back (free text).
    requester_contact: Mapped[str] = mapped_column(sa.String(200), default="")
    channel: Mapped[str] = mapped_column(sa.String(20))
    #: The person concerned, once a record exists (set at conversion at the latest).
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    #: Who the person is and what is asked, as told by the requester (free text).
    person_summary: Mapped[str] = mapped_column(sa.Text, default="")
    #: Space-separated ptap.care_teams.models.ProblemCategory values (as Enrolment).
    problem_categories: Mapped[str] = mapped_column(sa.String(200), default="")
    urgent: Mapped[bool] = mapped_column(default=False)
    #: Set at triage.
    mission_type: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20), default=RequestStatus.RECEIVED)
    #: The team member following the request, if one was named.
    assigned_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    triaged_at: Mapped[datetime | None]
    triaged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Stops the first-answer clock.
    first_answer_at: Mapped[datetime | None]
    answer_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: Stops the evaluation clock (the situation was assessed with the person and professionals).
    evaluated_at: Mapped[datetime | None]
    #: The team's targets in force when the request was received, kept with it: a later
    #: change of the team's targets applies to requests received afterwards only, and the
    #: clocks always show the target their deadline was computed from.
    first_answer_target_days: Mapped[int] = mapped_column(
        default=DEFAULT_FIRST_ANSWER_WORKING_DAYS,
        server_default=str(DEFAULT_FIRST_ANSWER_WORKING_DAYS),
    )
    evaluation_target_days: Mapped[int] = mapped_column(
        default=DEFAULT_EVALUATION_WORKING_DAYS, server_default=str(DEFAULT_EVALUATION_WORKING_DAYS)
    )
    ppcs_target_days: Mapped[int] = mapped_column(
        default=DEFAULT_PPCS_DAYS, server_default=str(DEFAULT_PPCS_DAYS)
    )
    #: Deadlines computed at reception from the targets above (working days, French public
    #: holidays): late requests are found with one indexed comparison.
    first_answer_due_at: Mapped[datetime]
    evaluation_due_at: Mapped[datetime]
    ppcs_due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(sa.String(30))
    outcome_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: The enrolment the request was turned into.
    enrolment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enrolments.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def categories(self) -> list[str]:
        return self.problem_categories.split()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TeamIntakeTargets(Base):
    """A team's intake targets; a team without a row uses the defaults above."""

    __tablename__ = "team_intake_targets"

    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), primary_key=True)
    #: First answer within this many working days after the day of reception.
    first_answer_working_days: Mapped[int] = mapped_column(
        default=DEFAULT_FIRST_ANSWER_WORKING_DAYS
    )
    #: Evaluation of the situation within this many working days after reception.
    evaluation_working_days: Mapped[int] = mapped_column(default=DEFAULT_EVALUATION_WORKING_DAYS)
    #: First validated PPCS within this many calendar days after reception.
    ppcs_days: Mapped[int] = mapped_column(default=DEFAULT_PPCS_DAYS)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
