"""JSON shapes of support requests, their clocks and the intake targets in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ptap.care_teams.models import ProblemCategory, RequesterKind
from ptap.care_teams.schemas import IdentityIn
from ptap.intake.clocks import Clock, IntakeTargets
from ptap.intake.models import (
    MissionType,
    RequestChannel,
    RequestOutcome,
    SupportRequest,
)
from ptap.intake.requestclocks import RequestClocks
from ptap.intake.services import RequestData

_SUMMARY = "Qui est la personne et ce qui est demandé, tel que dit par le demandeur"


class RequestFields(BaseModel):
    """What a coordinator records about a request (every field but the team)."""

    model_config = ConfigDict(extra="forbid")

    received_at: AwareDatetime = Field(description="Réception (date, heure et fuseau)")
    requester_kind: RequesterKind
    channel: RequestChannel
    requester_name: str = Field(default="", max_length=200)
    requester_contact: str = Field(
        default="", max_length=200, description="Téléphone, courriel ou adresse pour rappeler"
    )
    person_summary: str = Field(default="", max_length=10_000, description=_SUMMARY)
    problem_categories: list[ProblemCategory] = Field(min_length=1, max_length=10)
    urgent: bool = False
    patient_id: int | None = Field(
        default=None, description="Le dossier de la personne, si l'équipe la suit déjà"
    )
    assigned_to_id: int | None = Field(default=None, description="Le membre qui suit la demande")

    def to_data(self) -> RequestData:
        """Return the service's request value."""
        return RequestData(
            received_at=self.received_at,
            requester_kind=self.requester_kind,
            channel=self.channel,
            requester_name=self.requester_name,
            requester_contact=self.requester_contact,
            person_summary=self.person_summary,
            problem_categories=tuple(self.problem_categories),
            urgent=self.urgent,
            patient_id=self.patient_id,
            assigned_to_id=self.assigned_to_id,
        )


class RequestCreate(RequestFields):
    """Request body to register a request received by one of the caller's teams."""

    team_id: int


class RequestPatch(BaseModel):
    """Corrections of an open request: a field omitted or null keeps its value."""

    model_config = ConfigDict(extra="forbid")

    received_at: AwareDatetime | None = None
    requester_kind: RequesterKind | None = None
    channel: RequestChannel | None = None
    requester_name: str | None = Field(default=None, max_length=200)
    requester_contact: str | None = Field(default=None, max_length=200)
    person_summary: str | None = Field(default=None, max_length=10_000)
    problem_categories: list[ProblemCategory] | None = Field(
        default=None, min_length=1, max_length=10
    )
    urgent: bool | None = None
    patient_id: int | None = None
    assigned_to_id: int | None = None

    def apply(self, req: SupportRequest) -> RequestData:
        """Return the request's data with the sent fields changed."""
        sent = self.model_dump(exclude_none=True)
        return RequestData(
            received_at=sent.get("received_at", req.received_at),
            requester_kind=sent.get("requester_kind", req.requester_kind),
            channel=sent.get("channel", req.channel),
            requester_name=sent.get("requester_name", req.requester_name),
            requester_contact=sent.get("requester_contact", req.requester_contact),
            person_summary=sent.get("person_summary", req.person_summary),
            problem_categories=tuple(sent.get("problem_categories", req.categories)),
            urgent=sent.get("urgent", req.urgent),
            patient_id=sent.get("patient_id", req.patient_id),
            assigned_to_id=sent.get("assigned_to_id", req.assigned_to_id),
        )


class TriageIn(BaseModel):
    """Qualify a request (coordinators): mission type, and optionally urgency and follower."""

    model_config = ConfigDict(extra="forbid")

    mission_type: MissionType
    urgent: bool | None = None
    assigned_to_id: int | None = None


class AnswerIn(BaseModel):
    """The answer given to the requester; `answered_at` when recorded afterwards."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=10_000)
    answered_at: AwareDatetime | None = None


class EvaluationIn(BaseModel):
    """The evaluation of the situation was done (now, or at `evaluated_at`)."""

    model_config = ConfigDict(extra="forbid")

    evaluated_at: AwareDatetime | None = None


class CloseIn(BaseModel):
    """Close a request with its outcome (not `enrolled`: use the conversion)."""

    model_config = ConfigDict(extra="forbid")

    outcome: RequestOutcome
    note: str = Field(default="", max_length=2000)


class ConvertIn(BaseModel):
    """Turn a request into an enrolment: an existing record, or the identity to find by INS
    or to create. Leave both out when the request is already linked to a record."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int | None = None
    identity: IdentityIn | None = None

    @model_validator(mode="after")
    def _one_person(self) -> Self:
        if self.patient_id is not None and self.identity is not None:
            raise PydanticCustomError(
                "one_person", "Indiquez soit patient_id, soit identity, pas les deux."
            )
        return self


class ClockOut(BaseModel):
    """One clock of a request against the team's target."""

    target: int
    unit: str = Field(description="working_days (jours ouvrés) ou days (jours calendaires)")
    due_at: datetime
    stopped_at: datetime | None
    elapsed: int = Field(description="Temps écoulé, dans l'unité de la cible")
    running: bool
    late: bool

    @classmethod
    def of(cls, clock: Clock) -> Self:
        """Build the output of a clock."""
        return cls(
            target=clock.target,
            unit="working_days" if clock.working else "days",
            due_at=clock.due_at,
            stopped_at=clock.stopped_at,
            elapsed=clock.elapsed,
            running=clock.running,
            late=clock.late,
        )


class ClocksOut(BaseModel):
    """First answer, evaluation and first validated PPCS clocks."""

    first_answer: ClockOut
    evaluation: ClockOut
    ppcs: ClockOut


class RequestOut(BaseModel):
    """A support request as its team sees it, with its clocks."""

    id: int
    team_id: int
    received_at: datetime
    requester_kind: str
    requester_name: str
    requester_contact: str
    channel: str
    patient_id: int | None
    person_summary: str
    problem_categories: list[str]
    urgent: bool
    mission_type: str | None
    status: str
    assigned_to_id: int | None
    triaged_at: datetime | None
    first_answer_at: datetime | None
    answer_note: str
    evaluated_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    outcome_note: str
    enrolment_id: int | None
    created_at: datetime
    updated_at: datetime
    late: bool = Field(description="Première réponse attendue au-delà du délai cible")
    clocks: ClocksOut

    @classmethod
    def of(cls, req: SupportRequest, clocks: RequestClocks, late: bool) -> Self:
        """Build the output of a request and its clocks."""
        return cls(
            id=req.id,
            team_id=req.team_id,
            received_at=req.received_at,
            requester_kind=req.requester_kind,
            requester_name=req.requester_name,
            requester_contact=req.requester_contact,
            channel=req.channel,
            patient_id=req.patient_id,
            person_summary=req.person_summary,
            problem_categories=req.categories,
            urgent=req.urgent,
            mission_type=req.mission_type,
            status=req.status,
            assigned_to_id=req.assigned_to_id,
            triaged_at=req.triaged_at,
            first_answer_at=req.first_answer_at,
            answer_note=req.answer_note,
            evaluated_at=req.evaluated_at,
            closed_at=req.closed_at,
            outcome=req.outcome,
            outcome_note=req.outcome_note,
            enrolment_id=req.enrolment_id,
            created_at=req.created_at,
            updated_at=req.updated_at,
            late=late,
            clocks=ClocksOut(
                first_answer=ClockOut.of(clocks.first_answer),
                evaluation=ClockOut.of(clocks.evaluation),
                ppcs=ClockOut.of(clocks.ppcs),
            ),
        )


class ConvertOut(BaseModel):
    """The enrolment a request became, and the request."""

    enrolment_id: int
    patient_id: int
    request: RequestOut


class TargetsIn(BaseModel):
    """A team's intake targets."""

    model_config = ConfigDict(extra="forbid")

    first_answer_working_days: int = Field(ge=1, le=365)
    evaluation_working_days: int = Field(ge=1, le=365)
    ppcs_days: int = Field(ge=1, le=365)

    def to_targets(self) -> IntakeTargets:
        """Return the service's targets value."""
        return IntakeTargets(
            self.first_answer_working_days, self.evaluation_working_days, self.ppcs_days
        )


class TargetsOut(TargetsIn):
    """A team's intake targets (the defaults when it set none)."""

    team_id: int
