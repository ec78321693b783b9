"""Write audit events into the hash chain, in the caller's transaction, and verify the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ptap.audit.models import GENESIS_HASH, AuditEvent, AuditHead, Outcome
from ptap.core.models import utcnow
from ptap.extensions import db

HEAD_ID = 1


@dataclass(frozen=True)
class AuditContext:
    """Who acts and from where: built by the boundary (view, socket handler, job)."""

    actor_id: int | None = None
    actor_label: str = ""
    ip_address: str = ""


SYSTEM = AuditContext(actor_label="system")


def compute_hash(
    *,
    id: int,  # noqa: A002 - mirrors the column
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    patient_id: int | None,
    outcome: str,
    reason: str,
    ip_address: str,
    prev_hash: str,
) -> str:
    """Return the SHA-256 of a row's canonical content, prev_hash included."""
    content = {
        "id": id,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "patient_id": patient_id,
        "outcome": outcome,
        "reason": reason,
        "ip_address": ip_address,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim_head() -> AuditHead:
    """Lock the chain head for this transaction (row lock on PostgreSQL, write lock on SQLite)."""
    bumped = db.session.execute(
        sa.update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=AuditHead.last_id)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        db.session.add(AuditHead(id=HEAD_ID, last_id=0, last_hash=GENESIS_HASH))
        db.session.flush()
    head = db.session.get(AuditHead, HEAD_ID, populate_existing=True)
    if head is None:  # pragma: no cover - the row was just updated or inserted
        raise RuntimeError("audit chain head is missing")
    return head


def record_event(
    ctx: AuditContext,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain in the current transaction (flush, no commit)."""
    head = _claim_head()
    occurred_at = utcnow()
    fields = {
        "id": head.last_id + 1,
        "occurred_at": occurred_at,
        "actor_id": ctx.actor_id,
        "actor_label": ctx.actor_label[:255],
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "patient_id": patient_id,
        "outcome": str(outcome),
        "reason": reason,
        "ip_address": ctx.ip_address[:64],
        "prev_hash": head.last_hash,
    }
    row_hash = compute_hash(**fields)  # type: ignore[arg-type]
    event = AuditEvent(**fields, row_hash=row_hash)
    db.session.add(event)
    head.last_id = event.id
    head.last_hash = row_hash
    db.session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """Result of a chain verification: ok, or the first bad row and why."""

    checked: int
    first_bad_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def _rows(batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        db.session.expunge_all()


def verify_chain() -> ChainReport:
    """Recompute every row's hash in order and report the first row that does not match."""
    expected_prev, expected_id, checked = GENESIS_HASH, 1, 0
    for row in _rows():
        if row.id != expected_id:
            return ChainReport(checked, expected_id, f"row {expected_id} is missing")
        if row.prev_hash != expected_prev:
            return ChainReport(checked, row.id, "prev_hash does not match the previous row")
        fields = {c: getattr(row, c) for c in _HASHED_COLUMNS}
        if compute_hash(**fields) != row.row_hash:
            return ChainReport(checked, row.id, "content does not match its hash")
        expected_prev, expected_id, checked = row.row_hash, row.id + 1, checked + 1
    head = db.session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_id != checked or head.last_hash != expected_prev):
        return ChainReport(checked, checked + 1, "rows after the last one are missing")
    return ChainReport(checked)


_HASHED_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "reason",
    "ip_address",
    "prev_hash",
)
