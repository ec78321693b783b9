"""Monitoring aggregates: monthly counts per team, the refresh state, and the agency reports.

One table holds every indicator (``monitoring_counts``): a count per territory, team, month,
indicator and dimension value. Durations (time to first answer) are kept there too, as a
histogram: the dimension is the lower bound of a duration bucket (hours, zero-padded), so a
median or p90 over any set of teams and months is read from summed buckets, exact to the
bucket's width (docs/monitoring.md). No row names a patient, and no row holds fewer than
one event's worth of information about a person: the tables carry counts only.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow


class MonitoringCount(Base):
    """How many events of one kind a team had in one month (one dimension value)."""

    __tablename__ = "monitoring_counts"
    __table_args__ = (
        sa.UniqueConstraint("territory_id", "team_id", "month", "indicator", "dimension"),
        sa.Index("ix_monitoring_counts_month_territory", "month", "territory_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(sa.ForeignKey("territories.id"))
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    #: First day of the month (Paris calendar months).
    month: Mapped[date]
    #: ptap.monitoring.indicators key, e.g. "file" or "first_answer_hours".
    indicator: Mapped[str] = mapped_column(sa.String(40))
    #: The dimension value (requester type, status, age band...), or a duration bucket.
    dimension: Mapped[str] = mapped_column(sa.String(60), default="")
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class MonitoringState(Base):
    """Where the refresh job stands: the watermark of the last completed run."""

    __tablename__ = "monitoring_state"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    #: Start of the last completed run: the next run re-reads changes from a little before.
    watermark: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportStatus(StrEnum):
    """Where a quarterly report stands."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class MonitoringReport(Base):
    """A quarterly activity report for the agency, rendered to PDF by a job."""

    __tablename__ = "monitoring_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Null: every territory of the region.
    territory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("territories.id"))
    year: Mapped[int]
    quarter: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(12), default=ReportStatus.PENDING)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary)


class MonitoringStaleMonth(Base):
    """A team's month that lost a row: a request whose reception date was corrected away
    from it. The row now counts in its new month, which ``touched_partitions`` finds; the old
    month is only known from here (written by an ORM event, ``sources.note_moved_request``)."""

    __tablename__ = "monitoring_stale_months"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("care_teams.id"))
    #: The former instant of the moved row (its month is recomputed).
    at: Mapped[datetime]
    noted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MonitoringRelease(Base):
    """A quarter's protected tables at every level of one scope, computed by the refresh job.

    Pages, the API, the exports and the reports read it and never run the secrecy solver.
    ``checksum`` identifies the aggregates (and the scope's territories and teams) it was
    computed from: when the current checksum differs, the release is stale and is shown with
    its date until the next run replaces it.
    """

    __tablename__ = "monitoring_releases"
    __table_args__ = (sa.UniqueConstraint("scope", "quarter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "all" (every team: the analysts) or the coordinated teams ("teams:3,8").
    scope: Mapped[str] = mapped_column(sa.String(255))
    #: First month of the calendar quarter.
    quarter: Mapped[date]
    #: Of the quarter's aggregate rows as stored (ids included): compared by each request.
    checksum: Mapped[str] = mapped_column(sa.String(64))
    #: Of the quarter's counts only: a rewrite with the same counts is not solved again.
    data_hash: Mapped[str] = mapped_column(sa.String(64))
    #: {"tree": {territory: [teams]}, "nodes": {"level:id": {indicator: bordered grid}}},
    #: a hidden entry is null (its value is never stored).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
