"""Audit jobs."""

from __future__ import annotations

import logging

from ptap.audit.services import verify_chain

log = logging.getLogger(__name__)


def verify_audit_chain() -> bool:
    """Verify the whole hash chain and log an error naming the first tampered row."""
    report = verify_chain()
    if report.ok:
        log.info("audit chain OK (%d rows)", report.checked)
    else:
        log.error("audit chain BROKEN at row %s: %s", report.first_bad_id, report.problem)
    return report.ok
