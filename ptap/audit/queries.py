"""Reads of the audit trail."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ptap.audit.models import AuditEvent

#: Actions an administrator may see: authentication and account management, never
#: reads or writes of patient data.
SECURITY_PREFIXES = ("auth.", "account.")


def list_security_events_query() -> sa.Select[Any]:
    """Return authentication and account events, newest first (no patient events)."""
    return (
        sa.select(AuditEvent)
        .where(sa.or_(*(AuditEvent.action.startswith(p) for p in SECURITY_PREFIXES)))
        .where(AuditEvent.patient_id.is_(None))
        .order_by(AuditEvent.id.desc())
    )
