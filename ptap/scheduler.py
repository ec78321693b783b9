"""The job table and the APScheduler runner (its own process in production)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from ptap.accounts.tasks import close_sockets_of_ended_credentials
from ptap.audit.tasks import anchor_audit_chain, seal_audit_chain, verify_audit_chain
from ptap.care_plans.tasks import send_care_plan_reminders
from ptap.core import clock
from ptap.core.heartbeat import record_heartbeat
from ptap.core.lease import LeaseKeeper
from ptap.core.mail import send_queued_mail
from ptap.core.metrics import JOB_RUNS, JOB_SECONDS, serve_scheduler_metrics
from ptap.dashboards.tasks import cut_off_dashboard_sockets
from ptap.dmp_bridge import send_pending_submissions
from ptap.extensions import db
from ptap.letters.tasks import process_letters
from ptap.meetings.notices import send_meeting_notices
from ptap.meetings.report_tasks import render_meeting_documents
from ptap.messaging.tasks import (
    cut_off_expired_access,
    purge_expired_messages,
    renotify_urgent_messages,
)
from ptap.monitoring.tasks import refresh_monitoring_aggregates, render_monitoring_reports
from ptap.pathways.tasks import send_pathway_step_reminders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One row of the job table."""

    id: str
    func: Callable[[], Any]
    trigger: CronTrigger | IntervalTrigger


def beat() -> None:
    """Write the scheduler heartbeat that /readyz checks."""
    record_heartbeat()


JOBS: list[Job] = [
    # The interval is read from SCHEDULER_HEARTBEAT_SECONDS; it also beats at start-up.
    Job("scheduler_heartbeat", beat, IntervalTrigger(seconds=30)),
    Job("verify_audit_chain", verify_audit_chain, CronTrigger(hour=3, minute=17)),
    # Requests insert audit rows without a lock; this one job links them into the keyed chain.
    Job("seal_audit_chain", seal_audit_chain, IntervalTrigger(minutes=1)),
    Job("anchor_audit_chain", anchor_audit_chain, CronTrigger(minute=7)),
    Job("care_plan_reminders", send_care_plan_reminders, IntervalTrigger(minutes=15)),
    Job("pathway_step_reminders", send_pathway_step_reminders, IntervalTrigger(minutes=15)),
    Job("renotify_urgent_messages", renotify_urgent_messages, IntervalTrigger(minutes=1)),
    Job("purge_expired_messages", purge_expired_messages, CronTrigger(hour=3, minute=41)),
    Job("cut_off_expired_access", cut_off_expired_access, IntervalTrigger(minutes=1)),
    # Tokens and login sessions that ended by time: their sockets are closed in every process.
    Job(
        "close_sockets_of_ended_credentials",
        close_sockets_of_ended_credentials,
        IntervalTrigger(minutes=1),
    ),
    Job("cut_off_dashboard_sockets", cut_off_dashboard_sockets, IntervalTrigger(minutes=1)),
    # The interval is read from DMP_SEND_INTERVAL_SECONDS when the scheduler starts.
    Job("send_dmp_submissions", send_pending_submissions, IntervalTrigger(seconds=10)),
    # The interval is read from MAIL_SEND_INTERVAL_SECONDS when the scheduler starts.
    Job("send_queued_mail", send_queued_mail, IntervalTrigger(seconds=15)),
    # Incremental (watermark) and idempotent: a run recomputes only the changed partitions.
    Job(
        "refresh_monitoring_aggregates", refresh_monitoring_aggregates, IntervalTrigger(minutes=10)
    ),
    Job("render_monitoring_reports", render_monitoring_reports, IntervalTrigger(minutes=1)),
    # Approved meeting reports (then queued for the DMP) and requested team minutes.
    Job("render_meeting_documents", render_meeting_documents, IntervalTrigger(seconds=30)),
    # Invitations, changes, cancellations, day-before reminders (each claimed once).
    Job("send_meeting_notices", send_meeting_notices, IntervalTrigger(minutes=1)),
    # Signed letters: PDF/A rendered here (never in a request), then filings and sendings queued.
    Job("process_letters", process_letters, IntervalTrigger(seconds=10)),
]

#: Jobs whose interval comes from a setting (seconds).
INTERVAL_SETTINGS = {
    "send_dmp_submissions": "DMP_SEND_INTERVAL_SECONDS",
    "send_queued_mail": "MAIL_SEND_INTERVAL_SECONDS",
}


def run_job(app: Flask, job: Job, lease: LeaseKeeper | None = None) -> None:
    """Run one job in an app context: commit once if it succeeds, roll back if it fails.

    Every run is logged with its duration and outcome; a failure with its traceback. With a
    `lease` (the `ptap scheduler` process), a process that does not hold it skips the run:
    checked just before each run, so a holder paused past its expiry never runs a job after
    a standby took over. It is checked again, row locked in the job's transaction, just before
    the commit: a job that outlived the lease (long SMTP/DMP run, pause mid-job) rolls back
    (outcome `lease_lost`) and the new holder redoes the work (jobs are idempotent).
    """
    if lease is not None and not lease.held():
        return
    started = time.perf_counter()
    with app.app_context():
        try:
            job.func()
            if lease is not None and not lease.still_held():
                db.session.rollback()
                JOB_RUNS.labels(job.id, "lease_lost").inc()
                log.warning(
                    "job %s rolled back after %.3f s: scheduler lease lost while it ran",
                    job.id,
                    time.perf_counter() - started,
                    extra=_job_extra(job, started, "lease_lost"),
                )
                return
            db.session.commit()
        except Exception:
            db.session.rollback()
            JOB_RUNS.labels(job.id, "failed").inc()
            log.exception(
                "job %s failed after %.3f s",
                job.id,
                time.perf_counter() - started,
                extra=_job_extra(job, started, "failed"),
            )
        else:
            JOB_RUNS.labels(job.id, "ok").inc()
            # The heartbeat runs every few seconds: its runs are logged at DEBUG only.
            level = logging.DEBUG if job.func is beat else logging.INFO
            log.log(
                level,
                "job %s ok in %.3f s",
                job.id,
                time.perf_counter() - started,
                extra=_job_extra(job, started, "ok"),
            )
        finally:
            JOB_SECONDS.labels(job.id).observe(time.perf_counter() - started)
            db.session.remove()


def _job_extra(job: Job, started: float, outcome: str) -> dict[str, Any]:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return {"job_id": job.id, "duration_ms": duration_ms, "outcome": outcome}


def _configure(
    scheduler: BaseScheduler, app: Flask, lease: LeaseKeeper | None = None
) -> BaseScheduler:
    for job in JOBS:
        trigger = job.trigger
        extra: dict[str, Any] = {}
        if job.id in INTERVAL_SETTINGS:
            trigger = IntervalTrigger(seconds=float(app.config[INTERVAL_SETTINGS[job.id]]))
        if job.func is beat:
            trigger = IntervalTrigger(seconds=float(app.config["SCHEDULER_HEARTBEAT_SECONDS"]))
            extra["next_run_time"] = clock.now()
        scheduler.add_job(
            run_job,
            trigger,
            args=(app, job, lease),
            id=job.id,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            **extra,
        )
    return scheduler


def start_in_process(app: Flask) -> BaseScheduler:
    """Start the jobs in a background thread (embedded single-process default only)."""
    scheduler = _configure(BackgroundScheduler(timezone="UTC", daemon=True), app)
    scheduler.start()
    log.info("PTAP in-process scheduler started with %d jobs", len(JOBS))
    return scheduler


def run_blocking(app: Flask) -> None:
    """Run the jobs in the foreground: the `ptap scheduler` process.

    Several may run (on several hosts): the one holding the lease runs the jobs, the others
    renew nothing and take the lease over when it expires (ptap.core.lease).
    """
    lease = LeaseKeeper(app)
    log.info("PTAP scheduler %s started with %d jobs", lease.holder, len(JOBS))
    scheduler = _configure(BlockingScheduler(timezone="UTC"), app, lease)
    renew_seconds = float(app.config["SCHEDULER_LEASE_RENEW_SECONDS"])
    heartbeat = next(job for job in JOBS if job.func is beat)
    # A process that becomes active says so at once (the heartbeat names the active process).
    lease.on_acquired = lambda: run_job(app, heartbeat, lease)
    serve_scheduler_metrics(app, lease.held)
    lease.renew()
    # Renewal is not gated by the lease (it is how a standby becomes active) and has its own
    # thread, outside APScheduler: jobs filling the pool never delay it past the lease, and it
    # keeps running while jobs drain after the scheduler stopped (SIGTERM).
    lease.start_renewing(renew_seconds)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop(scheduler, lease)
        log.info("PTAP scheduler %s stopped", lease.holder)


def stop(scheduler: BaseScheduler, lease: LeaseKeeper) -> None:
    """Stop cleanly, in this order: drain the running jobs, stop renewing, release the lease.

    The lease is renewed until the last job has committed (a drain longer than the lease must
    not hand it over mid-job), and released only once no renewal can take it back.
    """
    if scheduler.running:
        scheduler.shutdown(wait=True)
    lease.stop_renewing()
    lease.release()


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """systemd stops the scheduler with SIGTERM: leave the loop so the lease is released."""
    raise SystemExit(0)
