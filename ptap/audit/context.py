"""Build the audit context (actor, address) of the current request."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import g, has_request_context, request
from flask_login import current_user

from ptap.audit.services import SYSTEM, AuditContext, record_event
from ptap.extensions import db

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


_SHOWN_KEY = "audit_patients_shown"
F = TypeVar("F", bound=Callable[..., Any])


def note_patients_shown(patient_ids: Iterable[int | None]) -> None:
    """Name the patients whose identity this response shows (audited once, after the view)."""
    shown: list[int] = g.setdefault(_SHOWN_KEY, [])
    shown.extend(pid for pid in patient_ids if pid is not None and pid not in shown)


def shows_patients(what: str) -> Callable[[F], F]:
    """Mark a view that shows patients' identity; write ONE audit event naming them.

    The view calls `note_patients_shown(ids)`; after it returns, one `patient.list` event
    names every patient shown (a list is one event, not one per row) and is committed.
    Pages of one patient loaded with `load_patient` are audited there instead.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            response = view(*args, **kwargs)
            shown: list[int] = g.pop(_SHOWN_KEY, [])
            if shown:
                record_event(
                    request_context(),
                    "patient.list",
                    object_type="patients",
                    object_id=what,
                    patient_id=shown[0] if len(shown) == 1 else None,
                    reason=f"{what}: " + ",".join(str(pid) for pid in shown),
                )
                db.session.commit()
            return response

        wrapper.shows_patients = what  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def shown_by(view: Any) -> str | None:
    """Return what a view declared it shows of patients (`shows_patients`), or None."""
    return getattr(view, "shows_patients", None)
