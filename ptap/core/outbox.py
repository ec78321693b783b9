"""Outbox machinery shared by the DMP filings and the e-mails: claim, lease, guarded writes.

An outbox table has ``id``, ``status``, ``lease_token``, ``lease_until`` and ``claimed_by``
columns. A worker claims **one** row at a time with one atomic UPDATE (``FOR UPDATE SKIP
LOCKED`` in its subquery on PostgreSQL; SQLite serialises writers) that gives the row its own
random token and lease. From then on, every transaction that writes the row starts with
``UPDATE … SET lease_until = … WHERE id = :id AND lease_token = :token`` (:func:`hold`): it
renews the lease and, if another worker took the row over (the lease expired while this one was
paused), matches nothing; the transaction is then rolled back and :class:`LeaseLost` raised, so
the late worker never overwrites what the new holder wrote. On PostgreSQL that UPDATE also locks
the row until commit, so the holder's writes in that transaction cannot interleave with a claim.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ptap.core import clock
from ptap.extensions import db

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This worker's lease on a row expired and another worker holds it now."""


@dataclass(frozen=True)
class Claim:
    """One row this worker holds, with the row's own lease token."""

    row_id: int
    token: str


def worker_name() -> str:
    """Name this process in leases and attempts (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_one(
    model: type[Any],
    due: sa.ColumnElement[bool],
    *,
    lease: timedelta,
    in_progress: str,
    worker: str = "",
    now: datetime | None = None,
    order_by: tuple[Any, ...] = (),
) -> Claim | None:
    """Take the first due row of ``model`` for this worker and commit the claim.

    :param due: the condition of a claimable row (re-checked by the UPDATE itself).
    :param in_progress: the status a claimed row takes.
    :param order_by: which due row comes first (default: the oldest id).
    """
    now = now or clock.now()
    token = str(uuid.uuid4())
    candidate = (
        sa.select(model.id)
        .where(due)
        .order_by(*(order_by or (model.id,)))
        .limit(1)
        .with_for_update(skip_locked=True)
        .correlate(None)
    )
    claimed = db.session.scalar(
        sa.update(model)
        # A scalar subquery runs once (an InitPlan on PostgreSQL); under ``IN (…)`` PostgreSQL
        # may run it again per row, each run skipping the row just locked: several rows claimed.
        .where(model.id == candidate.scalar_subquery(), due)
        .values(
            status=in_progress,
            lease_token=token,
            lease_until=now + lease,
            claimed_by=(worker or worker_name())[:80],
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return Claim(row_id=claimed, token=token) if claimed is not None else None


def hold(model: type[Any], claim: Claim, lease: timedelta, *, release: bool = False) -> bool:
    """Renew (or release) the lease of a held row in the current transaction; False if lost.

    Only this function writes ``lease_token``/``lease_until`` after the claim: the ORM code
    of a worker never touches them, so its flushed changes cannot make its own check fail.
    """
    values: dict[str, Any] = (
        {"lease_token": None, "lease_until": None}
        if release
        else {"lease_until": clock.now() + lease}
    )
    done = db.session.execute(
        sa.update(model)
        .where(model.id == claim.row_id, model.lease_token == claim.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def commit_held(model: type[Any], claim: Claim, lease: timedelta, *, release: bool = False) -> None:
    """Commit the current transaction only if this worker still holds the row.

    :param release: give the row up in the same commit (its work is done for now).
    :raises LeaseLost: after rolling back everything the transaction wrote.
    """
    with db.session.no_autoflush:
        held = hold(model, claim, lease, release=release)
    if not held:
        db.session.rollback()
        log.warning(
            "%s %s: lease lost to another worker, this worker's writes were dropped",
            model.__tablename__,
            claim.row_id,
        )
        raise LeaseLost(f"{model.__tablename__} {claim.row_id}")
    db.session.commit()


def backoff(attempts: int, base_seconds: float, cap_seconds: float) -> timedelta:
    """Exponential backoff with jitter (half to full of ``base × 2^(attempts-1)``, capped)."""
    delay = min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
