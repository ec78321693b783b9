"""Build the audit context (actor, address) of the current request."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, g, has_request_context, request
from flask.wrappers import Response
from flask_login import current_user
from sqlalchemy.orm import ORMExecuteState, Session

from ptap.audit.models import AuditEvent
from ptap.audit.services import PENDING_PATIENTS_KEY, SYSTEM, AuditContext, record_event
from ptap.extensions import db

log = logging.getLogger(__name__)

_CURRENT: Any = object()


def request_context(user: Any = _CURRENT) -> AuditContext:
    """Return the AuditContext of this request: the logged-in user, `user`, or None (anonymous)."""
    if not has_request_context():
        return SYSTEM
    actor = current_user if user is _CURRENT else user
    authenticated = actor is not None and bool(getattr(actor, "is_authenticated", False))
    if authenticated and getattr(actor, "is_patient_side", False):
        # A patient-side account is not a users row: named by its label, never by an id.
        return AuditContext(
            actor_id=None,
            actor_label=str(actor.audit_label),
            ip_address=request.remote_addr or "",
        )
    return AuditContext(
        actor_id=actor.id if authenticated else None,
        actor_label=getattr(actor, "email", "") if authenticated else "",
        ip_address=request.remote_addr or "",
    )


_SHOWN_KEY = "audit_patients_shown"
#: Patients named by audit events committed during this request (g).
_AUDITED_KEY = "audit_patients_committed"
#: Patients named by audit events flushed in the session's open transaction (session.info).
_PENDING_KEY = PENDING_PATIENTS_KEY
#: Set in session.info when the open transaction wrote anything but audit events.
_OTHER_WRITES_KEY = "audit_other_writes"
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
                _record_shown(what, shown)
            return response

        wrapper.shows_patients = what  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def shown_by(view: Any) -> str | None:
    """Return what a view declared it shows of patients (`shows_patients`), or None."""
    return getattr(view, "shows_patients", None)


def _record_shown(what: str, shown: list[int]) -> None:
    """Write and commit ONE event naming every patient in `shown`."""
    record_event(
        request_context(),
        "patient.list",
        object_type="patients",
        object_id=what,
        patient_id=shown[0] if len(shown) == 1 else None,
        reason=f"{what}: " + ",".join(str(pid) for pid in shown),
    )
    _pending(db.session()).update(shown)
    db.session.commit()


# --- the safety net: no response shows a patient without an audit event -------------------
#
# `load_patient` and `note_patients_shown` name the patients a response may show. Whatever
# the view then does (a refused form re-rendered after a rollback, a POST without
# `@shows_patients`, an API write answering with the record), the response that goes out
# with a body must leave a committed event naming each of them. Events are tracked as they
# are flushed, kept when their transaction commits and forgotten when it rolls back, so a
# patient.read rolled back with a refused action does not count.

#: Statuses whose body can show what the view loaded: pages, form errors, conflicts. Not
#: redirects, nor refusals that show nothing of the patient (401, 403, 404, 429...).
_SHOWING_STATUSES = frozenset({*range(200, 300), 400, 409, 422}) - {204}


def _pending(session: Session) -> set[int]:
    pending: set[int] = session.info.setdefault(_PENDING_KEY, set())
    return pending


def _note_flushed_events(session: Session, _flush_context: Any, _instances: Any) -> None:
    ids = [
        obj.patient_id
        for obj in session.new
        if isinstance(obj, AuditEvent) and obj.patient_id is not None
    ]
    if ids:
        _pending(session).update(ids)


def _note_flushed_writes(session: Session, _flush_context: Any) -> None:
    if any(
        not isinstance(obj, AuditEvent) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_OTHER_WRITES_KEY] = True


def _note_executed_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not AuditEvent.__table__:
            state.session.info[_OTHER_WRITES_KEY] = True


def _holds_other_writes(session: Session) -> bool:
    """Tell whether the open transaction may hold anything but audit events: ORM changes not
    flushed yet, or rows other than audit events written since it began."""
    return bool(
        session.new or session.dirty or session.deleted or session.info.get(_OTHER_WRITES_KEY)
    )


def _keep_committed(session: Session) -> None:
    session.info.pop(_OTHER_WRITES_KEY, None)
    ids = session.info.pop(_PENDING_KEY, None)
    if ids and has_request_context():
        g.setdefault(_AUDITED_KEY, set()).update(ids)


def _forget_rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_OTHER_WRITES_KEY, None)


def audit_unaudited_patients(response: Response) -> Response:
    """Write one event naming the patients this response may show that no event of the
    request names (commit a pending one); called after every view, error pages excepted."""
    shown: list[int] = g.pop(_SHOWN_KEY, [])
    if (
        not shown
        or response.status_code not in _SHOWING_STATUSES
        or g.get("error_page")
        or response.mimetype == "application/problem+json"
    ):
        return response
    audited = g.get(_AUDITED_KEY, set())
    missing = [pid for pid in shown if pid not in audited]
    if not missing:
        return response
    what = request.endpoint or request.path
    session = db.session()
    if _holds_other_writes(session):
        # The view left writes of its own uncommitted: they are not this hook's to commit.
        # Drop them, with any audit event pending beside them, and name every patient again
        # in a transaction of its own.
        log.warning("%s left uncommitted writes: rolled back", what)
        db.session.rollback()
        _record_shown(what, missing)
        return response
    pending = _pending(session)
    if any(pid not in pending for pid in missing):
        _record_shown(what, [p for p in missing if p not in pending])
    else:
        db.session.commit()  # only the view's own audit events are pending: keep them
    return response


def init_patient_audit(app: Flask) -> None:
    """Install the safety net: session listeners and the after-request audit."""
    for name, listener in (
        ("before_flush", _note_flushed_events),
        ("after_flush", _note_flushed_writes),
        ("do_orm_execute", _note_executed_writes),
        ("after_commit", _keep_committed),
        ("after_soft_rollback", _forget_rolled_back),
    ):
        if not sa.event.contains(Session, name, listener):
            sa.event.listen(Session, name, listener)
    app.after_request(audit_unaudited_patients)
