"""Documented signals for fan-out where the producer must not know its consumers.

Signals that announce a committed fact are queued with `send_after_commit` and sent from the
session's after_commit hook, so a consumer never sees a rolled-back fact.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal
from sqlalchemy import event
from sqlalchemy.orm import Session

_signals = Namespace()

#: Sent after a care-plan version is published and committed.
#: sender: "care_plans"; kwargs: version_id (int), plan_id (int), patient_id (int).
#: The DMP bridge subscribes to file the version; the timeline reads versions directly.
care_plan_version_published: Signal = _signals.signal("care-plan-version-published")

_QUEUE_KEY = "ptap_pending_signals"


def send_after_commit(signal: Signal, sender: str, **kwargs: Any) -> None:
    """Queue a signal on the current session; it is sent only if the transaction commits."""
    from ptap.extensions import db

    db.session.info.setdefault(_QUEUE_KEY, []).append((signal, sender, kwargs))


def _send(session: Session) -> None:
    for signal, sender, kwargs in session.info.pop(_QUEUE_KEY, []):
        signal.send(sender, **kwargs)


def _drop(session: Session, _transaction: Any) -> None:
    session.info.pop(_QUEUE_KEY, None)


def install_signal_hooks() -> None:
    """Send queued signals after commit; drop them on rollback."""
    if not event.contains(Session, "after_commit", _send):
        event.listen(Session, "after_commit", _send)
        event.listen(Session, "after_soft_rollback", _drop)
