"""Readiness: can this process serve? The database, Redis (when used) and the scheduler's beat.

`/healthz` stays a liveness check (the process answers); `/readyz` is what a load balancer and
monitoring poll. Failures name the part that fails; details go to the log, not to the public
answer (hostnames and driver errors stay private).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa
from flask import current_app

from ptap.core import clock
from ptap.core.heartbeat import find_last_beat
from ptap.extensions import db

log = logging.getLogger(__name__)

OK = "ok"


@dataclass(frozen=True)
class Readiness:
    """Each checked part with "ok" or a short reason."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        """Return the parts that are not ok."""
        return [name for name, state in self.checks.items() if state != OK]

    @property
    def ready(self) -> bool:
        """Tell whether every part is ok."""
        return not self.failing


def check_readiness(skip: frozenset[str] = frozenset()) -> Readiness:
    """Check the database, every configured Redis and the scheduler heartbeat.

    :param skip: "scheduler" leaves the heartbeat out: the load balancer's check uses it, so a
        stalled scheduler alerts monitoring without taking every web process out of service.
    """
    checks = {"database": _check_database()}
    for name, url in _redis_urls().items():
        checks[name] = _check_redis(name, url)
    if "scheduler" in skip:
        pass
    elif checks["database"] == OK:
        checks["scheduler"] = _check_scheduler()
    else:
        checks["scheduler"] = "unknown (database unreachable)"
    return Readiness(checks)


def _check_database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:
        log.warning("readiness: database unreachable", exc_info=True)
        db.session.rollback()
        return "unreachable"
    return OK


def _redis_urls() -> dict[str, str]:
    cfg = current_app.config
    candidates = {
        "redis_message_queue": str(cfg.get("SOCKETIO_MESSAGE_QUEUE") or ""),
        "redis_rate_limits": str(cfg.get("RATELIMIT_STORAGE_URI") or ""),
    }
    return {k: v for k, v in candidates.items() if v.startswith(("redis://", "rediss://"))}


def _check_redis(name: str, url: str) -> str:
    timeout = float(current_app.config["READYZ_TIMEOUT_SECONDS"])
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError:
        log.warning("readiness: %s unreachable", name, exc_info=True)
        return "unreachable"
    finally:
        client.close()
    return OK


def _check_scheduler() -> str:
    try:
        beat_at = find_last_beat()
    except Exception:
        # The table may be missing (migrations not applied): that is a readiness failure too.
        log.warning("readiness: scheduler heartbeat unreadable", exc_info=True)
        db.session.rollback()
        return "unknown (heartbeat unreadable)"
    if beat_at is None:
        return "stale (no heartbeat yet)"
    age = (clock.now() - beat_at).total_seconds()
    if age > float(current_app.config["SCHEDULER_HEARTBEAT_MAX_AGE_SECONDS"]):
        return f"stale (last heartbeat {int(age)} s ago)"
    return OK
