"""Audit jobs: seal new events into the keyed chain, anchor its head, verify it."""

from __future__ import annotations

import logging

from ptap.audit.anchors import anchor_path, append_anchor, chain_key, read_anchors
from ptap.audit.services import current_anchor, seal_pending_events, verify_chain

log = logging.getLogger(__name__)


def seal_audit_chain() -> int:
    """Link the events committed since the last run into the keyed chain."""
    sealed = seal_pending_events(chain_key())
    if sealed:
        log.info("audit chain: %d events sealed", sealed)
    return sealed


def anchor_audit_chain() -> None:
    """Copy the committed chain head to the append-only anchor file (outside the database)."""
    append_anchor(current_anchor(), anchor_path())


def verify_audit_chain() -> bool:
    """Seal pending events, verify the whole keyed chain against the anchors, log the result."""
    seal_pending_events(chain_key())
    report = verify_chain(chain_key(), anchors=read_anchors(anchor_path()))
    if report.ok:
        log.info("audit chain OK (%d rows)", report.checked)
    else:
        log.error("audit chain BROKEN at row %s: %s", report.first_bad_id, report.problem)
    return report.ok
