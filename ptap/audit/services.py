"""Write audit events (no global lock), seal them into the keyed chain, and verify it.

Requests only insert rows. The sealing job (the only holder of the audit_heads row lock)
then links every committed, unsealed event in id order: seal n stores
``HMAC(key, n : chain_hash(n-1) : SHA-256(event content))``. The key lives outside the
database, so someone who can rewrite tables cannot recompute a valid chain; the head is also
anchored in an append-only file (see anchors.py), so a truncated tail is caught too.
Each seal records the id of its key (keys.py): the key can be rotated, and verification
uses the recorded key of every seal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import sqlalchemy as sa
from flask import Flask

from ptap.audit.keys import KeyRing, as_keyring
from ptap.audit.models import GENESIS_HASH, AuditEvent, AuditHead, AuditSeal, Outcome
from ptap.core.models import utcnow
from ptap.core.write_behind import WriteBehind, window_seconds
from ptap.extensions import db

HEAD_ID = 1
#: Events older than this and still unsealed are reported by verification, and the sealer
#: stops looking below them (a transaction open that long is not expected).
DEFAULT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class AuditContext:
    """Who acts and from where: built by the boundary (view, socket handler, job)."""

    actor_id: int | None = None
    actor_label: str = ""
    ip_address: str = ""


SYSTEM = AuditContext(actor_label="system")


#: One Core INSERT built once (compiled once per dialect, then taken from the cache).
#: In `Session.info`: the patients named by events inserted in the session's current
#: transaction (kept on commit, forgotten on rollback by `ptap.audit.context`'s safety net).
PENDING_PATIENTS_KEY = "audit_patients_pending"

_INSERT_EVENT = sa.insert(cast(sa.Table, AuditEvent.__table__))


def record_event(
    ctx: AuditContext,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    reason: str = "",
) -> None:
    """Insert one event in the current transaction (no commit, no lock).

    One Core INSERT on the session's connection, in the caller's transaction: no ORM object,
    no unit of work, no RETURNING (nothing reads the id back; the sealer finds the row). The
    session is flushed first only if it holds pending changes, so the event is written after
    them, as before (its actor may be a user created in the same transaction). This is the
    cost every audited read pays: see "Audit trail" in docs/performance.md.
    """
    db.session.flush()
    db.session.execute(
        _INSERT_EVENT,
        _event_row(ctx, action, outcome, object_type, object_id, patient_id, reason),
    )
    if patient_id is not None:  # no ORM object is flushed: tell the safety net directly
        db.session.info.setdefault(PENDING_PATIENTS_KEY, set()).add(patient_id)


def _event_row(
    ctx: AuditContext,
    action: str,
    outcome: Outcome,
    object_type: str,
    object_id: str | int,
    patient_id: int | None,
    reason: str,
) -> dict[str, object]:
    return {
        "occurred_at": utcnow(),
        "actor_id": ctx.actor_id,
        "actor_label": ctx.actor_label[:255],
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id)[:80],
        "patient_id": patient_id,
        "outcome": str(outcome),
        "reason": reason,
        "ip_address": ctx.ip_address[:64],
    }


def _write_events(app: Flask, rows: list[dict[str, object]]) -> None:
    """Insert a batch of events: one executemany INSERT and one commit, in a fresh context
    (its own session; no lock: the sealer links them later, in id order)."""
    with app.app_context():
        db.session.execute(_INSERT_EVENT, rows)
        db.session.commit()


#: Events noted by socket handlers, written in batches (`ptap.core.write_behind`).
EVENT_BATCH = WriteBehind("audit-events", _write_events, max_rows=500)


def record_event_batched(
    ctx: AuditContext,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    reason: str = "",
) -> None:
    """Note one event, written with others within WRITE_BEHIND_SECONDS (no statement now).

    For accesses that otherwise write nothing and would pay a commit each for their event
    (a socket joining a thread): the batch writer inserts the events of many sockets with
    one statement and one commit. `occurred_at` is the time of the access, not of the write.
    The event is not part of the caller's transaction: use it only for an access that
    happened whatever the caller then does. With buffering off, `record_event`.
    """
    if window_seconds() <= 0:
        record_event(
            ctx,
            action,
            outcome=outcome,
            object_type=object_type,
            object_id=object_id,
            patient_id=patient_id,
            reason=reason,
        )
        return
    EVENT_BATCH.add(_event_row(ctx, action, outcome, object_type, object_id, patient_id, reason))


_CONTENT_COLUMNS = (
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
)


def content_digest(event: AuditEvent) -> str:
    """Return the SHA-256 (hex) of an event's canonical content."""
    content = {c: getattr(event, c) for c in _CONTENT_COLUMNS}
    content["occurred_at"] = event.occurred_at.isoformat(timespec="microseconds")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def link_hash(key: bytes, seq: int, prev_hash: str, digest: str) -> str:
    """Return the keyed chain hash of position `seq` after `prev_hash`."""
    return hmac.new(key, f"{seq}:{prev_hash}:{digest}".encode(), hashlib.sha256).hexdigest()


def _claim_head() -> AuditHead:
    """Lock the chain head until commit: only the sealer calls this (one sealer at a time)."""
    bumped = db.session.execute(
        sa.update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_seq=AuditHead.last_seq)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        db.session.add(AuditHead(id=HEAD_ID, last_seq=0, last_hash=GENESIS_HASH, scan_from=0))
        db.session.flush()
    head = db.session.get(AuditHead, HEAD_ID, populate_existing=True)
    if head is None:  # pragma: no cover - the row was just updated or inserted
        raise RuntimeError("audit chain head is missing")
    return head


def seal_pending_events(
    key: bytes | KeyRing, *, grace: timedelta = DEFAULT_GRACE, batch: int = 1000
) -> int:
    """Link the committed, unsealed events into the keyed chain with the ring's current key;
    return how many (flush).

    Ids may commit out of order: an event committed after a higher id was sealed is simply
    sealed at the next position. The head's `scan_from` only moves past ids older than
    `grace`, so a slow transaction's event is still found by a later run.
    """
    ring = as_keyring(key)
    head = _claim_head()
    sealed = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditEvent)
            .outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
            .where(AuditSeal.event_id.is_(None), AuditEvent.id > head.scan_from)
            .order_by(AuditEvent.id)
            .limit(batch)
        ).all()
        for event in rows:
            seq = head.last_seq + 1
            chain = link_hash(ring.current, seq, head.last_hash, content_digest(event))
            db.session.add(
                AuditSeal(seq=seq, event_id=event.id, chain_hash=chain, key_id=ring.current_id)
            )
            head.last_seq, head.last_hash = seq, chain
        db.session.flush()
        sealed += len(rows)
        if len(rows) < batch:
            break
    settled = db.session.scalar(
        sa.select(sa.func.max(AuditEvent.id)).where(
            AuditEvent.id > head.scan_from, AuditEvent.occurred_at < utcnow() - grace
        )
    )
    if settled is not None:
        head.scan_from = settled
    db.session.flush()
    return sealed


@dataclass(frozen=True)
class Anchor:
    """A copy of the chain head kept outside the database."""

    at: str
    last_seq: int
    last_event_id: int | None
    head_hash: str
    #: Id of the key that sealed the head ("" in anchors written before key rotation).
    key_id: str = ""


@dataclass(frozen=True)
class ChainReport:
    """Result of a chain verification: ok, or the first bad row and why."""

    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    anchors_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem


def current_anchor() -> Anchor:
    """Return the committed chain head as an anchor to store outside the database."""
    head = db.session.get(AuditHead, HEAD_ID)
    if head is None or head.last_seq == 0:
        return Anchor(utcnow().isoformat(), 0, None, GENESIS_HASH)
    last = db.session.execute(
        sa.select(AuditSeal.event_id, AuditSeal.key_id).where(AuditSeal.seq == head.last_seq)
    ).first()
    event_id, key_id = (last[0], last[1]) if last is not None else (None, "")
    return Anchor(utcnow().isoformat(), head.last_seq, event_id, head.last_hash, key_id)


def _links(batch: int = 1000) -> Iterator[tuple[AuditSeal, AuditEvent | None]]:
    last = 0
    while True:
        rows = db.session.execute(
            sa.select(AuditSeal, AuditEvent)
            .outerjoin(AuditEvent, AuditEvent.id == AuditSeal.event_id)
            .where(AuditSeal.seq > last)
            .order_by(AuditSeal.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from ((seal, event) for seal, event in rows)
        last = rows[-1][0].seq
        db.session.expunge_all()


def verify_chain(
    key: bytes | KeyRing,
    *,
    anchors: Iterable[Anchor] | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> ChainReport:
    """Recompute every keyed link in order, each with the key its seal records; check the
    head, stale unsealed rows and the anchors (hash and key id of the anchored seal)."""
    ring = as_keyring(key)
    expected = {a.last_seq: a for a in anchors or ()}
    prev, seq, checked, anchored = GENESIS_HASH, 0, 0, 0
    for seal, event in _links():
        seq += 1
        if seal.seq != seq:
            return ChainReport(checked, seal.event_id, f"seal {seq} is missing")
        if event is None:
            return ChainReport(checked, seal.event_id, f"row {seal.event_id} is missing")
        seal_key = ring.keys.get(seal.key_id)
        if seal_key is None:
            return ChainReport(
                checked,
                event.id,
                f"seal {seq} names the unknown key id {seal.key_id!r} (a retired key missing "
                "from PTAP_AUDIT_CHAIN_KEYS, or a forged id)",
            )
        if link_hash(seal_key, seq, prev, content_digest(event)) != seal.chain_hash:
            return ChainReport(
                checked, event.id, "content does not match its keyed hash (or the link before)"
            )
        anchor = expected.pop(seq, None)
        if anchor is not None:
            if anchor.head_hash != seal.chain_hash or anchor.key_id not in ("", seal.key_id):
                return ChainReport(
                    checked, event.id, f"the chain was rewritten: anchor of {anchor.at} differs"
                )
            anchored += 1
        prev, checked = seal.chain_hash, checked + 1
    head = db.session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_seq != seq or head.last_hash != prev):
        return ChainReport(checked, None, "sealed rows after the last one are missing")
    for anchor in sorted(expected.values(), key=lambda a: a.last_seq):
        if anchor.last_seq > 0:
            return ChainReport(
                checked,
                anchor.last_event_id,
                f"rows anchored on {anchor.at} are missing (chain truncated or rewritten)",
            )
        anchored += 1
    stale = db.session.scalar(
        sa.select(sa.func.min(AuditEvent.id))
        .outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(AuditSeal.event_id.is_(None), AuditEvent.occurred_at < utcnow() - grace)
    )
    if stale is not None:
        return ChainReport(checked, stale, f"row {stale} was never sealed")
    return ChainReport(checked, anchors_checked=anchored)
