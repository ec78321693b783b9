"""Hand one e-mail to the relay and say what became of it: sent, try again, refused, uncertain.

The mail outbox (:mod:`ptap.core.mail`) calls :func:`deliver` from its job, never from a
request. The SMTP conversation is spelt out (MAIL, RCPT, then DATA) rather than left to
``smtplib.send_message`` because the outbox must know *when* the relay may have accepted the
message: ``before_data`` is called (and commits a mark) just before the body is sent. Before
that point nothing can have been delivered, so any failure is retried; after it, a lost
connection leaves the outcome unknown (:class:`MailUncertain`) and the message is never sent
again automatically (RFC 5321 §6.1 and RFC 1047: a dropped reply to the final dot duplicates
mail).

Relay replies map to the outbox like this (RFC 5321 §4.2.1):

* 4xx, a refused or dropped connection, a TLS or login failure, any reply to the greeting, EHLO
  or STARTTLS: :class:`MailDeferred`, retried with backoff (they concern the installation, not
  the message: failing every queued letter at once for a bad certificate would be wrong);
* 5xx to MAIL, RCPT or DATA: :class:`MailRejected`, failed at once with the relay's reason.

STARTTLS is required unless ``MAIL_SMTP_STARTTLS`` is false (the local sink); the relay's
certificate is checked against the system store or ``MAIL_SMTP_CA_FILE``, and
``MAIL_SMTP_CLIENT_CERT``/``MAIL_SMTP_CLIENT_KEY`` present a client certificate (MSSanté
operators authenticate applications by certificate).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any


class MailDeferred(Exception):
    """The relay could not take the message now (4xx, unreachable): try again later."""


class MailRejected(Exception):
    """The relay refused the message for good (5xx): a person must act."""


class MailUncertain(Exception):
    """The connection broke after the body was sent: the relay may have accepted it."""


@dataclass
class MemoryRelay:
    """The "memory" transport: keeps messages; ``down`` refuses connections.

    ``replies`` scripts the next relay answers (``(451, "greylisted")``, ``(550, "unknown
    user")``), consumed one per delivery, as a real relay would give them.
    """

    sent: list[EmailMessage] = field(default_factory=list)
    down: bool = False
    replies: list[tuple[int, str]] = field(default_factory=list)


MEMORY_RELAY = MemoryRelay()


def tls_context(cfg: Mapping[str, Any]) -> ssl.SSLContext:
    """Return the context STARTTLS uses: verified server, optional client certificate."""
    context = ssl.create_default_context(cafile=str(cfg.get("MAIL_SMTP_CA_FILE") or "") or None)
    cert = str(cfg.get("MAIL_SMTP_CLIENT_CERT") or "")
    if cert:
        context.load_cert_chain(cert, str(cfg.get("MAIL_SMTP_CLIENT_KEY") or "") or None)
    return context


def check_tls_files(cfg: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with the TLS files of the mail settings (check-config)."""
    cert = str(cfg.get("MAIL_SMTP_CLIENT_CERT") or "")
    key = str(cfg.get("MAIL_SMTP_CLIENT_KEY") or "")
    if bool(cert) != bool(key):
        return ["MAIL_SMTP_CLIENT_CERT and MAIL_SMTP_CLIENT_KEY go together (set both or none)."]
    if (cert or cfg.get("MAIL_SMTP_CA_FILE")) and not cfg.get("MAIL_SMTP_STARTTLS", True):
        return ["MAIL_SMTP_CLIENT_CERT / MAIL_SMTP_CA_FILE need MAIL_SMTP_STARTTLS = true."]
    try:
        tls_context(cfg)
    except (OSError, ssl.SSLError) as exc:
        return [f"MAIL_SMTP_CLIENT_CERT / KEY / CA_FILE cannot be loaded: {exc}."]
    return []


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {message}".strip()


def _raise_for(code: int, text: bytes | str, stage: str) -> None:
    reason = f"{stage} refusé par le relais : {_reply(code, text)}"
    if 500 <= code < 600:
        raise MailRejected(reason)
    raise MailDeferred(reason)


def _converse(smtp: smtplib.SMTP, message: EmailMessage, before_data: Callable[[], None]) -> None:
    sender = parseaddr(str(message["From"]))[1]
    recipient = parseaddr(str(message["To"]))[1]
    code, text = smtp.mail(sender)
    if code != 250:
        _raise_for(code, text, "Expéditeur")
    code, text = smtp.rcpt(recipient)
    if code not in (250, 251):
        _raise_for(code, text, "Destinataire")
    body = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    before_data()
    try:
        code, text = smtp.data(body)
    except smtplib.SMTPDataError as exc:  # refused DATA itself: nothing was accepted
        _raise_for(exc.smtp_code, exc.smtp_error, "Message")
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise MailUncertain(f"connexion perdue pendant la remise du message ({exc})") from exc
    if code != 250:
        _raise_for(code, text, "Message")


def _smtp(cfg: Mapping[str, Any], message: EmailMessage, before_data: Callable[[], None]) -> None:
    host, port = str(cfg["MAIL_SMTP_HOST"]), int(str(cfg["MAIL_SMTP_PORT"]))
    try:
        with smtplib.SMTP(host, port, timeout=float(cfg.get("MAIL_SMTP_TIMEOUT", 30))) as smtp:
            smtp.ehlo()
            if cfg.get("MAIL_SMTP_STARTTLS", True):
                smtp.starttls(context=tls_context(cfg))  # refuses to go on in clear
                smtp.ehlo()
            if cfg.get("MAIL_SMTP_USERNAME"):
                smtp.login(str(cfg["MAIL_SMTP_USERNAME"]), str(cfg.get("MAIL_SMTP_PASSWORD", "")))
            _converse(smtp, message, before_data)
    except (MailRejected, MailDeferred, MailUncertain):
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailDeferred(f"authentification refusée par le relais ({exc.smtp_code})") from exc
    except smtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS: not the message's
        raise MailDeferred(f"relais en erreur : {_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except (OSError, smtplib.SMTPException) as exc:  # refused, reset, TLS, no STARTTLS offered
        raise MailDeferred(f"relais injoignable ou en erreur ({exc})") from exc


def _memory(message: EmailMessage, before_data: Callable[[], None]) -> None:
    if MEMORY_RELAY.down:
        raise MailDeferred("relais injoignable ou en erreur (relais mémoire arrêté)")
    if MEMORY_RELAY.replies:
        code, text = MEMORY_RELAY.replies.pop(0)
        _raise_for(code, text, "Destinataire")
    before_data()
    MEMORY_RELAY.sent.append(message)


def deliver(
    transport: str,
    cfg: Mapping[str, Any],
    message: EmailMessage,
    before_data: Callable[[], None] = lambda: None,
) -> None:
    """Hand ``message`` to the relay of ``transport`` ("smtp" or "memory").

    :param before_data: called once the relay accepted sender and recipient, just before the
        body goes out: from then on the message may be delivered.
    :raises MailDeferred: try again later. :raises MailRejected: refused for good.
    :raises MailUncertain: the connection broke after the body was sent.
    """
    if transport == "memory":
        _memory(message, before_data)
    else:
        _smtp(cfg, message, before_data)
