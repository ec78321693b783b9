"""Side effects that run only once the transaction commits (Zulip's send_event_on_commit).

Socket.IO emits, signals and e-mails are queued on the SQLAlchemy session with `on_commit`;
clean-ups of files written for a transaction are queued with `on_rollback`;
an after_commit listener runs them, in order; a rollback of the outermost transaction drops
them (a savepoint rollback does not: what was queued before it still stands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_QUEUE_KEY = "ptap_after_commit"
_UNDO_KEY = "ptap_after_rollback"


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` after the current transaction commits; never if it rolls back."""
    from ptap.extensions import db

    db.session.info.setdefault(_QUEUE_KEY, []).append(callback)


def on_rollback(callback: Callable[[], None]) -> None:
    """Run `callback` if the current transaction rolls back (undo a file written for it)."""
    from ptap.extensions import db

    db.session.info.setdefault(_UNDO_KEY, []).append(callback)


def _run(session: Session) -> None:
    session.info.pop(_UNDO_KEY, None)  # committed: nothing to undo
    for callback in session.info.pop(_QUEUE_KEY, []):
        try:
            callback()
        except Exception:
            # The commit stands; a failed side effect is logged (in-app records are the truth).
            log.exception("after-commit side effect failed")


def _drop(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the outermost transaction rolled back
        session.info.pop(_QUEUE_KEY, None)
        for callback in session.info.pop(_UNDO_KEY, []):
            try:
                callback()
            except Exception:
                log.exception("after-rollback clean-up failed")


def install_after_commit_hooks() -> None:
    """Install the session listeners (idempotent)."""
    if not event.contains(Session, "after_commit", _run):
        event.listen(Session, "after_commit", _run)
        event.listen(Session, "after_soft_rollback", _drop)
