"""Scheduler job: send the due outbox rows (never from a web request)."""

from __future__ import annotations

import logging

from flask import current_app

from ptap.dmp_bridge import outbox, runtime

log = logging.getLogger(__name__)


def send_pending_submissions() -> dict[str, int]:
    """Claim and send due DMP submissions; several workers may run this at once."""
    if not current_app.config["DMP_ENABLED"]:
        return {}
    counts = outbox.send_due(runtime.transport())
    if counts:
        log.info("DMP outbox: %s", counts)
    return counts
