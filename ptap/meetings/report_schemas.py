"""JSON shapes of meeting reports and minutes in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from ptap.meetings.report_models import MeetingMinutes, MeetingReport
from ptap.meetings.reports import SUMMARY_MAX


class ReportOut(BaseModel):
    """One version of an agenda patient's report; `pdf_status` "pending" while the job renders
    it, `dmp_status` the filing's status once queued (after approval only)."""

    id: int
    meeting_id: int
    item_id: int
    patient_id: int
    version: int
    status: str
    summary: str
    participants: list[dict[str, object]]
    decisions: list[str]
    correction_reason: str
    replaces_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    pdf_status: str
    dmp_status: str | None = None

    @classmethod
    def of(cls, report: MeetingReport, dmp_status: str | None = None) -> Self:
        """Build the output of a report version."""
        return cls(
            id=report.id,
            meeting_id=report.meeting_id,
            item_id=report.item_id,
            patient_id=report.patient_id,
            version=report.version,
            status=report.status,
            summary=report.summary,
            participants=list(report.content.get("participants", [])),
            decisions=list(report.content.get("decisions", [])),
            correction_reason=report.correction_reason,
            replaces_id=report.replaces_id,
            approved_by_id=report.approved_by_id,
            approved_at=report.approved_at,
            pdf_status=report.pdf_status,
            dmp_status=dmp_status,
        )


class ReportEdit(BaseModel):
    """The corrected summary of a draft report."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=SUMMARY_MAX)


class ReportCorrection(ReportEdit):
    """A correction of the approved report: its new summary and why."""

    reason: str = Field(min_length=1, max_length=2000)


class MinutesOut(BaseModel):
    """The team minutes of a meeting; `pdf_status` "pending" while the job renders them."""

    meeting_id: int
    pdf_status: str
    requested_at: datetime

    @classmethod
    def of(cls, minutes: MeetingMinutes) -> Self:
        """Build the output of the minutes."""
        return cls(
            meeting_id=minutes.meeting_id,
            pdf_status=minutes.pdf_status,
            requested_at=minutes.requested_at,
        )
