"""JSON shapes of care-pathway events in the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from ptap.care_events.models import CareEvent, CareEventKind
from ptap.care_events.services import CareEventData


class CareEventCreate(BaseModel):
    """Record an event of the patient's pathway (members of a team following them)."""

    model_config = ConfigDict(extra="forbid")

    kind: CareEventKind
    occurred_on: date
    note: str = Field(default="", max_length=10_000)
    team_id: int | None = Field(
        default=None, description="Une de mes équipes qui suit la personne (la première sinon)"
    )

    def to_data(self) -> CareEventData:
        """Return the service's event value."""
        return CareEventData(self.kind, self.occurred_on, self.note, self.team_id)


class CareEventOut(BaseModel):
    """An event of the patient's pathway; `is_break` for a rupture de parcours."""

    id: int
    patient_id: int
    team_id: int
    kind: str
    is_break: bool
    occurred_on: date
    recorded_at: datetime
    recorded_by_id: int
    note: str

    @classmethod
    def of(cls, event: CareEvent) -> Self:
        """Build the output of an event."""
        return cls(
            id=event.id,
            patient_id=event.patient_id,
            team_id=event.team_id,
            kind=event.kind,
            is_break=event.is_break,
            occurred_on=event.occurred_on,
            recorded_at=event.recorded_at,
            recorded_by_id=event.recorded_by_id,
            note=event.note,
        )
