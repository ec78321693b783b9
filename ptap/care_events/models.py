"""Care-pathway events recorded on a patient's timeline; some of them are breaks (ruptures)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow


class CareEventKind(StrEnum):
    """What happened in the patient's pathway."""

    UNPLANNED_HOSPITALISATION = "unplanned_hospitalisation"
    EMERGENCY_VISIT = "emergency_visit"
    INSTITUTION_ENTRY = "institution_entry"
    RETURN_HOME = "return_home"
    DEATH = "death"
    CAREGIVER_LOSS = "caregiver_loss"


CARE_EVENT_KIND_LABELS = {
    CareEventKind.UNPLANNED_HOSPITALISATION: "Hospitalisation non programmée",
    CareEventKind.EMERGENCY_VISIT: "Passage aux urgences",
    CareEventKind.INSTITUTION_ENTRY: "Entrée en établissement (EHPAD, USLD…)",
    CareEventKind.RETURN_HOME: "Retour à domicile",
    CareEventKind.DEATH: "Décès",
    CareEventKind.CAREGIVER_LOSS: "Perte ou épuisement de l'aidant",
}

#: Kinds that count as a break in the care pathway (rupture de parcours): they feed the
#: coordinator's alerts and the ARS indicators. A return home and a death are recorded on the
#: timeline but are not breaks (the return home is the way back; a death ends the follow-up).
BREAK_KINDS = frozenset(
    {
        CareEventKind.UNPLANNED_HOSPITALISATION,
        CareEventKind.EMERGENCY_VISIT,
        CareEventKind.INSTITUTION_ENTRY,
        CareEventKind.CAREGIVER_LOSS,
    }
)


def is_break(kind: str) -> bool:
    """Tell whether an event kind counts as a care-pathway break."""
    return kind in BREAK_KINDS


class CareEvent(Base):
    """One event of a patient's pathway, recorded by a member of a team following them."""

    __tablename__ = "care_events"
    __table_args__ = (
        sa.Index("ix_care_events_patient_occurred", "patient_id", "occurred_on"),
        sa.Index("ix_care_events_team_recorded", "team_id", "recorded_at"),
        sa.Index("ix_care_events_occurred_on", "occurred_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: The team that recorded it (one following the patient then): indicators count per team.
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: The day it happened (often learnt afterwards, the time rarely known).
    occurred_on: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    #: Circumstances, cause, who was involved (free text: identifying, never sent to the ARS).
    note: Mapped[str] = mapped_column(sa.Text, default="")
    #: Set when the event was recorded by mistake: kept for the audit, left out of the rest.
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    @property
    def is_break(self) -> bool:
        return is_break(self.kind)
