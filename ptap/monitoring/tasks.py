"""The monitoring jobs: refresh the aggregates; render the requested quarterly reports."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import sqlalchemy as sa

from ptap.core import clock
from ptap.extensions import db
from ptap.monitoring import releases, services
from ptap.monitoring.models import MonitoringReport, ReportStatus

log = logging.getLogger(__name__)


def refresh_monitoring_aggregates(now: datetime | None = None) -> int:
    """Recompute the partitions changed since the last run, one committed month at a time,
    then the protected releases of the quarters whose aggregates changed (``store_releases``).

    Idempotent and restartable: each month is replaced whole and committed; the watermark
    moves only once every partition is written, so an interrupted run is redone by the next;
    each release is committed on its own and recomputed only when its checksum changed.
    """
    plan = services.plan_refresh(now)
    today = clock.paris_day(plan.now)
    written = 0
    for month in plan.months:
        written += services.recompute_month(month, today)
        db.session.commit()
    for month, teams in plan.partial.items():
        written += services.recompute_month(month, today, teams)
        db.session.commit()
    services.advance_watermark(plan.now)
    db.session.commit()
    log.info(
        "monitoring aggregates: %d months for every team, %d partial months, %d rows%s",
        len(plan.months),
        len(plan.partial),
        written,
        " (full rebuild)" if plan.full else "",
    )
    store_releases()
    return written


def store_releases() -> int:
    """Compute and store the region's releases of the quarters that changed; return how many."""
    started = time.perf_counter()
    computed = releases.store_releases()
    log.info(
        "monitoring releases: %d quarters protected in %.1f s",
        computed,
        time.perf_counter() - started,
    )
    return computed


def rebuild_monitoring_aggregates(now: datetime | None = None) -> int:
    """Drop every aggregate and recompute them all (after a fix of an indicator's definition)."""
    services.reset_aggregates()
    db.session.commit()
    return refresh_monitoring_aggregates(now)


#: Reports rendered per run (each is committed on its own).
REPORT_BATCH = 5


def render_monitoring_reports() -> int:
    """Render the pending quarterly reports to PDF; return how many were rendered.

    A render that fails marks its report failed (the analyst may order it again) and does not
    stop the others.
    """
    from ptap.core.pdf import render_pdf
    from ptap.monitoring.reports import report_context

    pending = list(
        db.session.scalars(
            sa.select(MonitoringReport)
            .where(MonitoringReport.status == ReportStatus.PENDING)
            .order_by(MonitoringReport.id)
            .limit(REPORT_BATCH)
        )
    )
    for report in pending:
        try:
            pdf: bytes | None = render_pdf("pdf/monitoring_report.html", report_context(report))
        except releases.ReleasesPending:
            db.session.rollback()  # rendered once the refresh job has stored the quarter
            continue
        except Exception:
            log.exception("monitoring report %d failed to render", report.id)
            db.session.rollback()
            report = db.session.get(MonitoringReport, report.id)  # type: ignore[assignment]
            pdf = None
        services.store_report(report, pdf)
        db.session.commit()
    return len(pending)
