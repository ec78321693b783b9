"""Build the audit context (actor, address) of the current request."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from ptap.audit.services import SYSTEM, AuditContext

_CURRENT: Any = object()


def request_context(user: Any = _CURRENT) -> AuditContext:
    """Return the AuditContext of this request: the logged-in user, `user`, or None (anonymous)."""
    if not has_request_context():
        return SYSTEM
    actor = current_user if user is _CURRENT else user
    authenticated = actor is not None and bool(getattr(actor, "is_authenticated", False))
    return AuditContext(
        actor_id=actor.id if authenticated else None,
        actor_label=getattr(actor, "email", "") if authenticated else "",
        ip_address=request.remote_addr or "",
    )
