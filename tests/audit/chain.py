"""Test helper: seal what was recorded, then verify the keyed chain."""

from flask import current_app

from ptap.audit.services import ChainReport, seal_pending_events, verify_chain


def sealed_report() -> ChainReport:
    """Seal pending events with the app's key and return the verification report."""
    key = current_app.config["AUDIT_CHAIN_KEY"].encode()
    seal_pending_events(key)
    return verify_chain(key)
