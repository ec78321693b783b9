"""The scheduler lease: several `ptap scheduler` processes run, one holds the lease and runs jobs.

A `scheduler_leases` row names the holder ("host:pid") and when its lease expires. The holder
renews it every SCHEDULER_LEASE_RENEW_SECONDS; a standby tries to take it at the same pace and
wins only once it has expired. Taking and renewing are one compare-and-set UPDATE
(`... WHERE holder = me OR expires_at < now`): PostgreSQL re-checks the WHERE clause on the row
a concurrent UPDATE just wrote, SQLite serialises writers, so two standbys never both win.

The holder trusts its lease only until `start of the winning UPDATE + lease - margin`, measured
on its monotonic clock: a process paused past its expiry (SIGSTOP, a long GC, a frozen VM)
finds its lease stale when it wakes and skips its jobs before a standby can have taken over.
A job that was already running when the lease was lost (a long SMTP or DMP run, a pause
mid-job) re-checks the lease row, locked, inside its transaction just before its one commit,
and rolls back if another process holds it (`holds`): jobs are idempotent, the new holder
redoes the work. On a clean stop the renewal thread keeps the lease while running jobs drain,
and stops before the lease is released.
Expiry is compared on the hosts' wall clocks, so scheduler hosts keep them in sync (NTP); the
margin (a tenth of the lease) absorbs small skews. See docs/architecture.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core import clock
from ptap.core.models import Base
from ptap.extensions import db

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"


class SchedulerLease(Base):
    """Who may run the scheduled jobs, and until when."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    #: "host:pid" of the process holding the lease (the heartbeat's `process` when it is active).
    holder: Mapped[str] = mapped_column(sa.String(120))
    expires_at: Mapped[datetime]
    #: When the current holder took the lease (renewals keep it), to see failovers.
    acquired_at: Mapped[datetime]


def process_id() -> str:
    """Return this process's name in leases and heartbeats ("host:pid")."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def try_acquire(holder: str, seconds: float, name: str = SCHEDULER) -> bool:
    """Take or renew the lease `name` for `seconds`; return whether `holder` now holds it.

    Runs and commits in its own connection (not the session of a job or request).
    """
    now = clock.now()
    expires_at = now + timedelta(seconds=seconds)
    table = SchedulerLease
    with db.engine.begin() as conn:
        taken = conn.execute(
            sa.update(table)
            .where(table.name == name, sa.or_(table.holder == holder, table.expires_at < now))
            .values(
                holder=holder,
                expires_at=expires_at,
                acquired_at=sa.case((table.holder == holder, table.acquired_at), else_=now),
            )
        )
        if taken.rowcount == 1:
            return True
        exists = conn.scalar(sa.select(table.name).where(table.name == name))
    if exists is not None:
        return False
    try:
        with db.engine.begin() as conn:
            conn.execute(
                sa.insert(table).values(
                    name=name, holder=holder, expires_at=expires_at, acquired_at=now
                )
            )
    except sa.exc.IntegrityError:
        # Another process created the row first: it holds the lease.
        return False
    return True


def release(holder: str, name: str = SCHEDULER) -> None:
    """Give the lease up at once (clean shutdown), so a standby takes over without waiting."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
            .values(expires_at=clock.now() - timedelta(seconds=1))
        )


def holds(holder: str, name: str = SCHEDULER) -> bool:
    """Tell whether `holder` still holds the lease, locking its row in the current transaction.

    Run in a job's session just before its commit: on PostgreSQL `FOR UPDATE` makes a standby's
    takeover UPDATE wait until that commit (or rollback); SQLite ignores it but serialises
    writers, so a job that wrote anything already blocks the takeover until it commits.
    """
    table = SchedulerLease
    found = db.session.scalar(
        sa.select(table.name)
        .where(table.name == name, table.holder == holder, table.expires_at > clock.now())
        .with_for_update()
    )
    return found is not None


def find_holder(name: str = SCHEDULER) -> SchedulerLease | None:
    """Return the lease row `name` (holder, expiry), or None before any scheduler started."""
    return db.session.get(SchedulerLease, name)


class LeaseKeeper:
    """This process's view of the lease: renewed by a timer, read before every job run."""

    def __init__(self, app: Flask, holder: str | None = None) -> None:
        self.app = app
        self.holder = holder or process_id()
        self.seconds = float(app.config["SCHEDULER_LEASE_SECONDS"])
        self.margin = self.seconds / 10
        self._valid_until = 0.0
        self._lock = threading.Lock()
        #: Called (outside the lock) when this process becomes active, e.g. to beat at once.
        self.on_acquired: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def held(self) -> bool:
        """Tell whether this process may run a job now (its lease is fresh on its own clock)."""
        return time.monotonic() < self._valid_until

    def still_held(self) -> bool:
        """Tell whether a job may commit now: the lease is fresh here and the row still names us.

        Run inside the job's transaction (see `holds`), so the answer holds until its commit.
        """
        return self.held() and holds(self.holder)

    def start_renewing(self, every: float) -> None:
        """Renew the lease every `every` seconds in a thread of its own until `stop_renewing`.

        Not an APScheduler job: once the scheduler stops (SIGTERM) it runs nothing more, while
        the jobs still running must keep the lease until they have drained.
        """
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_loop, args=(every, self._stop), name="lease-renewal", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self, every: float, stop: threading.Event) -> None:
        due = time.monotonic() + every
        while not stop.wait(max(0.0, due - time.monotonic())):
            due = max(due + every, time.monotonic())
            try:
                self.renew()
            except Exception:  # on_acquired failing must not stop the renewals
                log.warning("scheduler lease: renewal callback failed", exc_info=True)

    def stop_renewing(self) -> None:
        """Stop the renewal thread and wait for a renewal in progress (before `release`)."""
        renewer = self._renewer
        if renewer is not None:
            self._stop.set()
            renewer.join()
            self._renewer = None

    def renew(self) -> bool:
        """Take or renew the lease; log when this process becomes active or loses the lease."""
        won, became_active = self._renew()
        if became_active and self.on_acquired is not None:
            self.on_acquired()
        return won

    def _renew(self) -> tuple[bool, bool]:
        with self._lock:
            was_held = self.held()
            started = time.monotonic()
            try:
                with self.app.app_context():
                    won = try_acquire(self.holder, self.seconds)
            except Exception:
                log.warning("scheduler lease: renewal failed", exc_info=True)
                won = False
            if won:
                self._valid_until = started + self.seconds - self.margin
                if not was_held:
                    log.info("scheduler lease acquired by %s: this process is active", self.holder)
            elif was_held:
                # Lost (another holder after a pause) or unreachable database: stop at once.
                self._valid_until = 0.0
                log.warning("scheduler lease lost by %s: this process is standby", self.holder)
            return won, won and not was_held

    def release(self) -> None:
        """Give the lease up on a clean stop."""
        with self._lock:
            self._valid_until = 0.0
            try:
                with self.app.app_context():
                    release(self.holder)
            except Exception:
                log.warning("scheduler lease: release failed", exc_info=True)
