"""The append-only audit trail and its keyed chain of seals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, make_append_only, utcnow


class Outcome(StrEnum):
    """How the audited action ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(Base):
    """One audited action; rows are never updated or deleted (database triggers refuse it).

    Rows are inserted without any global lock; the sealing job links them afterwards into
    the keyed chain (AuditSeal), in the order it finds them committed.
    """

    __tablename__ = "audit_events"
    # Every audited read pays for each index here, so only what a query uses: the patient's
    # access log (patient_id = ? ORDER BY id DESC, a backward scan of this index) and the
    # security event list (patient_id IS NULL). No index on action (the queries match
    # prefixes, LIKE 'auth.%', which a plain B-tree does not serve) nor on actor_id (no query
    # filters on it; users are never deleted). Migration 0014_auditbench.
    __table_args__ = (sa.Index("ix_audit_events_patient_id_id", "patient_id", "id"),)

    #: From the sequence at insert; concurrent transactions may commit ids out of order.
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The acting user, if known; actor_label keeps a readable snapshot (e-mail) for the record.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Dotted verb, e.g. auth.login, patient.read, care_plan.publish.
    action: Mapped[str] = mapped_column(sa.String(80))
    object_type: Mapped[str] = mapped_column(sa.String(60), default="")
    object_id: Mapped[str] = mapped_column(sa.String(80), default="")
    #: The patient whose data was read or written; indexed for "who accessed my file".
    patient_id: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    ip_address: Mapped[str] = mapped_column(sa.String(64), default="")


class AuditSeal(Base):
    """One link of the keyed chain: event `event_id` at position `seq` (append-only)."""

    __tablename__ = "audit_seals"

    #: Position in the chain: 1, 2, 3... with no gap, assigned by the single sealer.
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_events.id"), unique=True)
    #: HMAC-SHA256 (hex), keyed outside the database, of seq, the previous chain_hash and
    #: the SHA-256 of the event's content.
    chain_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Id of the key of the HMAC (AUDIT_CHAIN_KEY_ID when sealed): verification uses it, so
    #: the key can be rotated. Seals made before rotation existed carry "1".
    key_id: Mapped[str] = mapped_column(sa.String(40), default="1", server_default="1")
    sealed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditHead(Base):
    """The single row pointing at the chain's last seal; only the sealing job locks it."""

    __tablename__ = "audit_heads"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Every event with an id at or below this one is sealed (or was never committed in
    #: time): the sealer looks only above it, so a run does not scan the whole table.
    scan_from: Mapped[int] = mapped_column(default=0)


GENESIS_HASH = "0" * 64

# Append-only at the database level. Tests of tamper detection drop these triggers, as an
# attacker with database access could; the keyed chain and the anchors are what catch that.
make_append_only(AuditEvent.__table__)  # type: ignore[arg-type]
make_append_only(AuditSeal.__table__)  # type: ignore[arg-type]
