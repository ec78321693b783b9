"""JSON shapes of the dashboard: the API response and the Socket.IO payloads."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptap.core.bounds import DbId
from ptap.core.errors import InvalidInput

# --- Socket.IO payloads (client → server) ----------------------------------------------------


class JoinTeamIn(BaseModel):
    """`join_team`: follow the live changes of one team's dashboard."""

    model_config = ConfigDict(extra="forbid")

    team_id: DbId


def parse_payload(model: type[BaseModel], data: Any) -> Any:
    """Validate a socket payload; InvalidInput names the first offending field."""
    try:
        return model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "payload"
        raise InvalidInput(err["msg"], field=field) from exc


# --- API response ----------------------------------------------------------------------------


class AlertOut(BaseModel):
    """One alert of one patient."""

    kind: str = Field(description="Type d'alerte (urgent_messages, break_glass, dmp_filings…)")
    tag: str
    text: str = Field(description="L'alerte en une phrase, en français")
    url: str = Field(description="La page où la cause se corrige")
    late: bool
    since: str = Field(description="Depuis quand (date ou instant ISO 8601), ou vide")


class PatientRowOut(BaseModel):
    """A patient of the caseload and what needs attention now."""

    patient_id: int
    name: str
    birth_date: str
    sector: str = Field(description="Commune (code postal et ville)")
    enrolled_on: str
    record_url: str
    alerts: list[AlertOut]


class WorkloadOut(BaseModel):
    """Open and overdue actions of one professional on the team's caseload."""

    user_id: int
    name: str
    profession: str
    role: str
    open_actions: int
    overdue: int


class RequestOut(BaseModel):
    """A support request still waiting for its first answer, with its clock."""

    request_id: int
    url: str
    requester: str
    channel: str
    categories: str
    received: str
    received_at: str
    clock: str = Field(description="Jours ouvrés écoulés face à l'objectif de l'équipe")
    late: bool
    urgent: bool
    due_today: bool = Field(description="La première réponse est attendue aujourd'hui")


class TeamDashboardOut(BaseModel):
    """A team's dashboard: patients (filtered and sorted), counts per alert type, workload."""

    team_id: int
    team_name: str
    today: date
    caseload_size: int = Field(description="Personnes suivies que vous voyez dans l'équipe")
    counts: dict[str, int] = Field(description="Personnes concernées, par type d'alerte")
    patients: list[PatientRowOut]
    workload: list[WorkloadOut]
    waiting_requests: list[RequestOut] = Field(
        description=(
            "Les premières sollicitations sans première réponse (urgentes, en retard, puis"
            " plus anciennes d'abord) ; counts.waiting_requests les compte toutes"
        )
    )
