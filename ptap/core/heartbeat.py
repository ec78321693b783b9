"""The scheduler's heartbeat: one row per scheduler name, rewritten every few seconds.

`/readyz` reads it: a beat older than SCHEDULER_HEARTBEAT_MAX_AGE_SECONDS means the jobs
(DMP outbox, reminders, access cut-offs) are not running.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, utcnow
from ptap.extensions import db

SCHEDULER = "scheduler"


class SchedulerHeartbeat(Base):
    """The last time a scheduler process proved it was alive."""

    __tablename__ = "scheduler_heartbeats"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Which process beat last ("host:pid"), to tell two schedulers apart in the logs.
    process: Mapped[str] = mapped_column(sa.String(120), default="")


def record_heartbeat(name: str = SCHEDULER) -> SchedulerHeartbeat:
    """Write this process's beat for `name` (flushes, never commits)."""
    beat = db.session.get(SchedulerHeartbeat, name)
    if beat is None:
        beat = SchedulerHeartbeat(name=name)
        db.session.add(beat)
    beat.beat_at = utcnow()
    beat.process = f"{socket.gethostname()}:{os.getpid()}"[:120]
    db.session.flush()
    return beat


def find_last_beat(name: str = SCHEDULER) -> datetime | None:
    """Return when `name` last beat, or None if it never did."""
    return db.session.scalar(
        sa.select(SchedulerHeartbeat.beat_at).where(SchedulerHeartbeat.name == name)
    )
