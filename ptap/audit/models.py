"""The append-only, hash-chained audit trail."""

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
    """One audited action; rows are never updated or deleted (database triggers refuse it)."""

    __tablename__ = "audit_events"

    #: Position in the chain: 1, 2, 3... with no gap; taken from the audit_heads row.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The acting user, if known; actor_label keeps a readable snapshot (e-mail) for the record.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Dotted verb, e.g. auth.login, patient.read, care_plan.publish.
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(60), default="")
    object_id: Mapped[str] = mapped_column(sa.String(80), default="")
    #: The patient whose data was read or written; indexed for "who accessed my file".
    patient_id: Mapped[int | None] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    ip_address: Mapped[str] = mapped_column(sa.String(64), default="")
    #: SHA-256 (hex) of the previous row's row_hash; 64 zeros for the first row.
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 (hex) of this row's content and prev_hash.
    row_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The single row pointing at the chain's last event; updating it serialises writers."""

    __tablename__ = "audit_heads"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))


GENESIS_HASH = "0" * 64

# Append-only at the database level. Tests of tamper detection drop these triggers, as an
# attacker with database access could; the hash chain is what catches that.
make_append_only(AuditEvent.__table__)  # type: ignore[arg-type]
