"""Build the audit context (actor, address) of the current request."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from ptap.audit.services import SYSTEM, AuditContext


def request_context(user: Any = None) -> AuditContext:
    """Return the AuditContext of the current request; `user` overrides the logged-in user."""
    if not has_request_context():
        return SYSTEM
    actor = user if user is not None else current_user
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditContext(
        actor_id=actor.id if authenticated else None,
        actor_label=getattr(actor, "email", "") if authenticated else "",
        ip_address=request.remote_addr or "",
    )
