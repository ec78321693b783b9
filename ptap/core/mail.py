"""E-mail through an outbox: queued in the caller's transaction, sent by a scheduler job.

:func:`queue_mail` adds a ``mail_outbox`` row (with its attachments in ``mail_attachments``)
and flushes (never commits): the e-mail exists only if the caller's unit of work commits, and
no web request or socket handler ever talks SMTP. The row gets its ``Message-ID`` at once; every
attempt sends that same header, so the relay and the recipient can recognise the message. The
``send_queued_mail`` job claims due rows one at a time with the lease machinery of
:mod:`ptap.core.outbox` and hands them to :mod:`ptap.core.smtp`:

* 4xx replies and connection errors: retried with exponential backoff, then ``failed`` with the
  reason after MAIL_MAX_ATTEMPTS attempts;
* 5xx replies to the message: ``failed`` at once with the relay's reason;
* never sent twice: just before the body goes to the relay the row is marked
  (``delivery_started_at``, committed under the lease). A row found with that mark and no
  outcome (the worker died, or the connection broke after the body was sent) may have been
  delivered: it is failed with that explanation, never re-sent automatically; a person checks
  with the recipient and :func:`retry_mail` sends it again if needed.

`MAIL_TRANSPORT` = "none" (no e-mail), "smtp" (MAIL_SMTP_*; password from
PTAP_MAIL_SMTP_PASSWORD), or "memory" (tests: ``MEMORY_RELAY``). Notification e-mails never
carry health data (a short subject and a link) and are not queued under "none". Other kinds
(``mssante``: secure health messages with the letter's PDF and ``IHE_XDM.ZIP``) are always
queued, so a letter stays visibly queued until a relay is configured.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core import outbox, smtp
from ptap.core.errors import InvalidInput
from ptap.core.logs import carrying_request_id, request_id_default
from ptap.core.metrics import DELIVERED, register_outbox
from ptap.core.models import Base, utcnow
from ptap.core.smtp import MEMORY_RELAY, MailDeferred, MailRejected, MailUncertain, MemoryRelay
from ptap.extensions import db

log = logging.getLogger(__name__)

__all__ = [
    "MEMORY_OUTBOX",
    "MEMORY_RELAY",
    "MailAttachment",
    "MailKind",
    "MailMessage",
    "MailRejected",
    "MailStatus",
    "MemoryRelay",
    "is_valid_mssante_address",
    "queue_mail",
    "register_send_gate",
    "retry_mail",
    "send_queued_mail",
]

MEMORY_OUTBOX: list[EmailMessage] = MEMORY_RELAY.sent


class MailStatus(StrEnum):
    """Where a queued e-mail stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


STATUS_LABELS = {
    MailStatus.PENDING: "En attente d'envoi",
    MailStatus.SENDING: "Envoi en cours",
    MailStatus.SENT: "Envoyé",
    MailStatus.FAILED: "Échec de l'envoi",
}


class MailKind(StrEnum):
    """What an e-mail is for; decides whether it is queued without a transport."""

    NOTIFICATION = "notification"
    #: A secure health message to an MSSanté address (letter PDF + IHE_XDM.ZIP).
    MSSANTE = "mssante"


@dataclass(frozen=True)
class MailAttachment:
    """A file attached to a queued e-mail."""

    filename: str
    content_type: str
    data: bytes


class MailMessage(Base):
    """One e-mail to send (the outbox row), kept after sending for support."""

    __tablename__ = "mail_outbox"
    __table_args__ = (sa.Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The Message-ID header (with its angle brackets), fixed at queue time, sent at every attempt.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30), default=MailKind.NOTIFICATION)
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
    #: Set (and committed) just before the body goes to the relay, cleared with the outcome:
    #: a row still carrying it was perhaps delivered and is never re-sent automatically.
    delivery_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    #: X-Request-ID of the request that queued it: the sending job logs with it.
    request_id: Mapped[str] = mapped_column(
        sa.String(128), default=request_id_default, server_default=""
    )

    attachments: Mapped[list[MailAttachmentRecord]] = relationship(
        cascade="all, delete-orphan", order_by="MailAttachmentRecord.position"
    )


class MailAttachmentRecord(Base):
    """One attachment of a queued e-mail, stored with it in the same transaction."""

    __tablename__ = "mail_attachments"
    __table_args__ = (sa.UniqueConstraint("mail_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(sa.ForeignKey("mail_outbox.id", ondelete="CASCADE"))
    position: Mapped[int]
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(127))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


# -- addresses ----------------------------------------------------------------------------------

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@(?:{_LABEL}\.)+{_LABEL}$")
#: Every MSSanté mailbox lives under this domain (see is_valid_mssante_address).
MSSANTE_DOMAIN = "mssante.fr"


def is_valid_mssante_address(addr: str) -> bool:
    """Tell whether ``addr`` is an MSSanté address: a valid e-mail in an MSSanté domain.

    The rule: a plain ``local@domain`` address (RFC 5321 dot-atom local part, at most 64
    characters, 254 in all, no display name) whose domain is a subdomain of ``mssante.fr``
    (``medecin.mssante.fr``, ``pro.mssante.fr``, ``<établissement>.mssante.fr``...). The
    MSSanté trust space only accepts mail between domains of the ANS white list, and the ANS
    delegates operators' domains under ``mssante.fr`` (ANS, "Référentiel socle MSSanté #1 –
    opérateurs" and "#2 – clients de messageries"; annuaire santé, mailboxes BAL). Whether a
    given mailbox exists is only known to the directory and the relay (a 5xx at sending).
    """
    value = addr.strip()
    if value != addr or len(value) > 254 or not _ADDRESS.match(value):
        return False
    local, domain = value.rsplit("@", 1)
    return len(local) <= 64 and domain.lower().endswith("." + MSSANTE_DOMAIN)


# -- queueing -----------------------------------------------------------------------------------


def _new_message_id() -> str:
    domain = parseaddr(str(current_app.config["MAIL_FROM"]))[1].rpartition("@")[2] or "ptap"
    return f"<{uuid.uuid4().hex}@{domain}>"


def _check_attachment(attachment: MailAttachment) -> None:
    name = attachment.filename
    if not name or len(name) > 255 or any(c in name for c in '/\\\r\n"'):
        raise InvalidInput(f"Nom de pièce jointe invalide : {name!r}", field="attachments")
    if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", attachment.content_type):
        raise InvalidInput(
            f"Type de pièce jointe invalide : {attachment.content_type!r}", field="attachments"
        )


def queue_mail(
    to: str,
    subject: str,
    body: str,
    *,
    attachments: Sequence[MailAttachment] = (),
    kind: str = MailKind.NOTIFICATION,
) -> MailMessage | None:
    """Queue an e-mail in the current transaction (flush); a job sends it after commit.

    Returns None for a notification when e-mail is off (MAIL_TRANSPORT "none") or there is no
    address; other kinds are always queued.

    :raises InvalidInput: ``recipient`` for an ``mssante`` e-mail to a non-MSSanté address;
        ``attachments`` for an unusable file name or content type.
    """
    if kind == MailKind.NOTIFICATION and (
        current_app.config.get("MAIL_TRANSPORT", "none") == "none" or not to
    ):
        return None
    if kind == MailKind.MSSANTE and not is_valid_mssante_address(to):
        raise InvalidInput(
            f"« {to} » n'est pas une adresse MSSanté (adresse du domaine mssante.fr attendue).",
            field="recipient",
        )
    for attachment in attachments:
        _check_attachment(attachment)
    row = MailMessage(
        message_id=_new_message_id(),
        kind=str(kind),
        recipient=to,
        subject=subject[:300],
        body=body,
        next_attempt_at=utcnow(),
        attachments=[
            MailAttachmentRecord(
                position=i, filename=a.filename, content_type=a.content_type, data=a.data
            )
            for i, a in enumerate(attachments)
        ],
    )
    db.session.add(row)
    db.session.flush()
    return row


#: Former name, kept for callers written before the outbox: it queues, it does not send.
send_mail_after_commit = queue_mail


def retry_mail(row: MailMessage) -> None:
    """Queue a failed e-mail again, same Message-ID (flush; the caller authorises and audits)."""
    if row.status != MailStatus.FAILED:
        raise InvalidInput("Seul un envoi en échec peut être relancé.", field="status")
    row.status = MailStatus.PENDING
    row.delivery_started_at = None
    row.next_attempt_at = utcnow()
    db.session.flush()


# -- sending ------------------------------------------------------------------------------------

#: Checks run just before an e-mail of a kind goes to the relay (registered by the package that
#: queues that kind; core imports none of them). A returned reason cancels the e-mail unsent.
_SEND_GATES: dict[str, Callable[[MailMessage], str | None]] = {}


def register_send_gate(kind: str, gate: Callable[[MailMessage], str | None]) -> None:
    """Check every e-mail of ``kind`` just before sending; a reason (French) cancels it."""
    _SEND_GATES[str(kind)] = gate


def build_message(row: MailMessage) -> EmailMessage:
    """Return the e-mail of a row, with its fixed Message-ID and its attachments."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message.set_content(row.body)
    for attachment in row.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


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


def _uncertain(row: MailMessage, why: str) -> None:
    row.status = MailStatus.FAILED
    row.last_error = (
        f"Envoi interrompu ({why}) après la remise du message au relais : il a peut-être été "
        f"reçu. Vérifiez auprès du destinataire avant de le renvoyer (Message-ID {row.message_id})."
    )


def _attempt(row: MailMessage, claim: outbox.Claim, transport: str, cfg: dict[str, Any]) -> None:
    """Deliver a held row and record the outcome on it (not committed)."""

    def mark_handover() -> None:
        row.delivery_started_at = utcnow()
        outbox.commit_held(MailMessage, claim, _lease())

    gate = _SEND_GATES.get(row.kind)
    refusal = gate(row) if gate is not None else None
    if refusal:  # e.g. the patient withdrew consent while the e-mail was queued
        row.status = MailStatus.FAILED
        row.last_error = f"Envoi annulé : {refusal}"
        return
    try:
        message = build_message(row)
    except (ValueError, TypeError) as exc:  # e.g. a line break in a header: never sendable
        log.error("e-mail %s cannot be built: %s", row.id, exc)
        _record_failure(row, f"message impossible à construire ({exc})", permanent=True)
        return
    try:
        smtp.deliver(transport, cfg, message, before_data=mark_handover)
    except MailRejected as exc:
        _record_failure(row, str(exc), permanent=True)
    except MailDeferred as exc:
        log.warning("e-mail %s to %s not sent: %s", row.id, row.recipient, exc)
        _record_failure(row, str(exc), permanent=False)
    except MailUncertain as exc:
        log.error("e-mail %s to %s: outcome unknown: %s", row.id, row.recipient, exc)
        _uncertain(row, str(exc))
    else:
        row.status = MailStatus.SENT
        DELIVERED.labels("mail").inc()
        log.info("e-mail %s (%s) handed to the relay", row.id, row.kind)
        row.sent_at = utcnow()
        row.last_error = ""
    row.delivery_started_at = None


def _send_one(claim: outbox.Claim, transport: str, cfg: dict[str, Any]) -> str | None:
    """Send one claimed row and record the outcome; None when the lease was lost."""
    db.session.expire_all()
    row = db.session.get(MailMessage, claim.row_id)
    if row is None or row.lease_token != claim.token:
        return None
    with carrying_request_id(row.request_id):
        return _send_row(row, claim, transport, cfg)


def _send_row(
    row: MailMessage, claim: outbox.Claim, transport: str, cfg: dict[str, Any]
) -> str | None:
    try:
        if row.delivery_started_at is not None:
            # An earlier worker handed the body over and never recorded the outcome.
            started = f"{row.delivery_started_at:%d/%m/%Y %H:%M:%S} UTC"
            _uncertain(row, f"le processus d'envoi s'est arrêté, remise commencée le {started}")
            row.delivery_started_at = None
        else:
            row.attempts += 1
            outbox.commit_held(MailMessage, claim, _lease())  # the attempt counts even if we die
            _attempt(row, claim, transport, cfg)
        status = row.status
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


def count_waiting_mail() -> tuple[int, datetime | None]:
    """Return how many e-mails wait to be sent and when the oldest was queued (for /metrics)."""
    waiting = MailMessage.status.in_([MailStatus.PENDING, MailStatus.SENDING])
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(MailMessage.created_at)).where(waiting)
    ).one()
    return int(count), _aware(oldest)


def _aware(value: datetime | str | None) -> datetime | None:
    # An aggregate skips the column's type on SQLite: MIN() comes back as text there.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


register_outbox("mail", count_waiting_mail)
