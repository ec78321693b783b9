"""The job table and the APScheduler runner (its own process in production)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from ptap.audit.tasks import verify_audit_chain
from ptap.care_plans.tasks import send_care_plan_reminders
from ptap.dmp_bridge import send_pending_submissions
from ptap.extensions import db
from ptap.messaging.tasks import (
    cut_off_expired_access,
    purge_expired_messages,
    renotify_urgent_messages,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One row of the job table."""

    id: str
    func: Callable[[], Any]
    trigger: CronTrigger | IntervalTrigger


JOBS: list[Job] = [
    Job("verify_audit_chain", verify_audit_chain, CronTrigger(hour=3, minute=17)),
    Job("care_plan_reminders", send_care_plan_reminders, IntervalTrigger(minutes=15)),
    Job("renotify_urgent_messages", renotify_urgent_messages, IntervalTrigger(minutes=1)),
    Job("purge_expired_messages", purge_expired_messages, CronTrigger(hour=3, minute=41)),
    Job("cut_off_expired_access", cut_off_expired_access, IntervalTrigger(minutes=1)),
    # The interval is read from DMP_SEND_INTERVAL_SECONDS when the scheduler starts.
    Job("send_dmp_submissions", send_pending_submissions, IntervalTrigger(seconds=10)),
]


def run_job(app: Flask, job: Job) -> None:
    """Run one job in an app context: commit once if it succeeds, roll back if it fails."""
    with app.app_context():
        try:
            job.func()
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job.id)
        finally:
            db.session.remove()


def _configure(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    for job in JOBS:
        trigger = job.trigger
        if job.id == "send_dmp_submissions":
            trigger = IntervalTrigger(seconds=float(app.config["DMP_SEND_INTERVAL_SECONDS"]))
        scheduler.add_job(
            run_job,
            trigger,
            args=(app, job),
            id=job.id,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    return scheduler


def start_in_process(app: Flask) -> BaseScheduler:
    """Start the jobs in a background thread (embedded single-process default only)."""
    scheduler = _configure(BackgroundScheduler(timezone="UTC", daemon=True), app)
    scheduler.start()
    return scheduler


def run_blocking(app: Flask) -> None:
    """Run the jobs in the foreground: the `ptap scheduler` process."""
    log.info("PTAP scheduler started with %d jobs", len(JOBS))
    _configure(BlockingScheduler(timezone="UTC"), app).start()
