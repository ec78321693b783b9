"""Reads of meeting reports and minutes (PDF bytes stay unloaded unless asked for)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.core.errors import NotFound
from ptap.extensions import db
from ptap.meetings.report_models import DMP_SOURCE_TYPE, MeetingMinutes, MeetingReport, PdfStatus

PREPARING = "Le document est en préparation : il sera disponible dans quelques instants."


def list_versions(item_id: int) -> list[MeetingReport]:
    """Return every version of an agenda patient's report, the newest first."""
    return list(
        db.session.scalars(
            sa.select(MeetingReport)
            .where(MeetingReport.item_id == item_id)
            .order_by(MeetingReport.version.desc())
        )
    )


def latest_by_item(item_ids: Sequence[int]) -> dict[int, MeetingReport]:
    """Return the newest report version of each of these agenda items (one query)."""
    latest: dict[int, MeetingReport] = {}
    for report in db.session.scalars(
        sa.select(MeetingReport)
        .where(MeetingReport.item_id.in_(item_ids))
        .order_by(MeetingReport.version)
    ):
        latest[report.item_id] = report
    return latest


def get_version(item_id: int, version: int) -> MeetingReport:
    """Return one version of a report, or raise NotFound."""
    report = db.session.scalar(
        sa.select(MeetingReport).where(
            MeetingReport.item_id == item_id, MeetingReport.version == version
        )
    )
    if report is None:
        raise NotFound("Cette version du compte rendu n'existe pas.")
    return report


def ready_pdf(report: MeetingReport | MeetingMinutes) -> bytes:
    """Return the rendered PDF, or raise NotFound (in French) while it is being prepared."""
    if report.pdf_status != PdfStatus.READY or report.pdf is None:
        raise NotFound(PREPARING)
    return report.pdf


def filing_statuses(report_ids: Sequence[int]) -> dict[int, str]:
    """Return the DMP outbox status of the filing of each report version that has one."""
    refs = {f"{DMP_SOURCE_TYPE}:{i}": i for i in report_ids}
    rows = db.session.execute(
        sa.select(dmp_bridge.DmpSubmission.source_ref, dmp_bridge.DmpSubmission.status).where(
            dmp_bridge.DmpSubmission.source_ref.in_(refs),
            dmp_bridge.DmpSubmission.operation == dmp_bridge.Operation.FILE,
            dmp_bridge.DmpSubmission.status != dmp_bridge.SubmissionStatus.CANCELLED,
        )
    )
    return {refs[ref]: str(status) for ref, status in rows}


def find_minutes(meeting_id: int) -> MeetingMinutes | None:
    """Return the minutes of a meeting, if someone asked for them."""
    return db.session.scalar(
        sa.select(MeetingMinutes).where(MeetingMinutes.meeting_id == meeting_id)
    )
