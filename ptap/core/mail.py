"""E-mail through an outbox: queued in the caller's transaction, sent by a scheduler job.

:func:`queue_mail` adds a ``mail_outbox`` row and flushes (never commits): the e-mail exists
only if the caller's unit of work commits, and no web request or socket handler ever talks
SMTP. The ``send_queued_mail`` job claims due rows one at a time with the lease machinery of
:mod:`ptap.core.outbox`, sends them, retries with exponential backoff and marks a row
``failed`` with the reason after MAIL_MAX_ATTEMPTS attempts.

`MAIL_TRANSPORT` = "none" (default: no e-mail), "smtp" (MAIL_SMTP_HOST/PORT/USERNAME,
password from PTAP_MAIL_SMTP_PASSWORD, STARTTLS unless MAIL_SMTP_STARTTLS is false), or
"memory" (tests: messages land in MEMORY_OUTBOX; ``MEMORY_RELAY.down`` plays a relay that
is down). E-mails never carry health data: a short subject and a link to PTAP.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core import outbox
from ptap.core.models import Base, utcnow
from ptap.extensions import db

log = logging.getLogger(__name__)


class MailStatus(StrEnum):
    """Where a queued e-mail stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailMessage(Base):
    """One e-mail to send (the outbox row), kept after sending for support."""

    __tablename__ = "mail_outbox"
    __table_args__ = (sa.Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Why the last attempt failed (shown to administrators when the row is failed).
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    #: The claiming worker holds the row until then (see ptap.core.outbox).
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(sa.String(36))
    claimed_by: Mapped[str] = mapped_column(sa.String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


@dataclass
class MemoryRelay:
    """The "memory" transport: keeps messages; ``down`` makes every delivery fail."""

    sent: list[EmailMessage] = field(default_factory=list)
    down: bool = False


MEMORY_RELAY = MemoryRelay()
MEMORY_OUTBOX: list[EmailMessage] = MEMORY_RELAY.sent


class MailRejected(Exception):
    """The relay refused the message for good (e.g. every recipient refused)."""


def queue_mail(to: str, subject: str, body: str) -> MailMessage | None:
    """Queue an e-mail in the current transaction (flush); it is sent after commit by a job."""
    if current_app.config.get("MAIL_TRANSPORT", "none") == "none" or not to:
        return None
    row = MailMessage(recipient=to, subject=subject[:300], body=body, next_attempt_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


#: Former name, kept for callers written before the outbox: it queues, it does not send.
send_mail_after_commit = queue_mail


def _message(row: MailMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message.set_content(row.body)
    return message


def _deliver(transport: str, cfg: dict[str, Any], message: EmailMessage) -> None:
    """Hand one message to the relay; OSError/SMTPException mean "try again later"."""
    if transport == "memory":
        if MEMORY_RELAY.down:
            raise ConnectionRefusedError("relais de messagerie (mémoire) indisponible")
        MEMORY_RELAY.sent.append(message)
        return
    host, port = str(cfg["MAIL_SMTP_HOST"]), int(str(cfg["MAIL_SMTP_PORT"]))
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        if cfg.get("MAIL_SMTP_STARTTLS", True):
            smtp.starttls()
        if cfg.get("MAIL_SMTP_USERNAME"):
            smtp.login(str(cfg["MAIL_SMTP_USERNAME"]), str(cfg.get("MAIL_SMTP_PASSWORD", "")))
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailRejected(f"destinataire refusé par le relais : {exc.recipients}") from exc


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(MailMessage.status == MailStatus.PENDING, MailMessage.next_attempt_at <= now),
        sa.and_(MailMessage.status == MailStatus.SENDING, MailMessage.lease_until < now),
    )


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config["MAIL_LEASE_SECONDS"]))


def _record_failure(row: MailMessage, reason: str, permanent: bool) -> None:
    cfg = current_app.config
    row.last_error = reason
    if permanent or row.attempts >= int(cfg["MAIL_MAX_ATTEMPTS"]):
        row.status = MailStatus.FAILED
        row.last_error = f"Échec après {row.attempts} tentative(s) : {reason}"
    else:
        row.status = MailStatus.PENDING
        row.next_attempt_at = utcnow() + outbox.backoff(
            row.attempts, float(cfg["MAIL_BACKOFF_SECONDS"]), float(cfg["MAIL_BACKOFF_MAX_SECONDS"])
        )


def _send_one(claim: outbox.Claim, transport: str, cfg: dict[str, Any]) -> str | None:
    """Send one claimed row and record the outcome; None when the lease was lost."""
    db.session.expire_all()
    row = db.session.get(MailMessage, claim.row_id)
    if row is None or row.lease_token != claim.token:
        return None
    message = _message(row)
    row.attempts += 1
    try:
        _deliver(transport, cfg, message)
    except MailRejected as exc:
        _record_failure(row, str(exc), permanent=True)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("e-mail %s to %s not sent: %s", row.id, row.recipient, exc)
        _record_failure(row, f"relais injoignable ou en erreur ({exc})", permanent=False)
    else:
        row.status = MailStatus.SENT
        row.sent_at = utcnow()
        row.last_error = ""
    status = row.status
    try:
        outbox.commit_held(MailMessage, claim, _lease(), release=True)
    except outbox.LeaseLost:
        return None
    return status


def send_queued_mail(limit: int | None = None) -> dict[str, int]:
    """Send the due queued e-mails (scheduler job; several workers may run it at once)."""
    transport = current_app.config.get("MAIL_TRANSPORT", "none")
    counts: dict[str, int] = {}
    if transport == "none":
        return counts
    cfg = dict(current_app.config)
    handled = 0
    while limit is None or handled < limit:
        # Least recently tried first: a mail in backoff does not starve the others.
        claim = outbox.claim_one(
            MailMessage,
            _due(utcnow()),
            lease=_lease(),
            in_progress=MailStatus.SENDING,
            order_by=(MailMessage.next_attempt_at, MailMessage.id),
        )
        if claim is None:
            break
        handled += 1
        status = _send_one(claim, transport, cfg)
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
        if status == MailStatus.PENDING:
            break  # the relay is failing: the other rows wait for the next run, not a timeout each
    if counts:
        log.info("mail outbox: %s", counts)
    return counts
