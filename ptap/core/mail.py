"""E-mail, sent only after the transaction commits, through a transport chosen by config.

`MAIL_TRANSPORT` = "none" (default: no e-mail), "smtp" (MAIL_SMTP_HOST/PORT/USERNAME,
password from PTAP_MAIL_SMTP_PASSWORD, STARTTLS unless MAIL_SMTP_STARTTLS is false), or
"memory" (tests: messages are kept in MEMORY_OUTBOX). E-mails never carry health data: a short
subject and a link to PTAP, where the user logs in to read.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

from ptap.core.aftercommit import on_commit

log = logging.getLogger(__name__)
MEMORY_OUTBOX: list[EmailMessage] = []


def send_mail_after_commit(to: str, subject: str, body: str) -> None:
    """Queue an e-mail on the current session; it leaves only if the transaction commits."""
    transport = current_app.config.get("MAIL_TRANSPORT", "none")
    if transport == "none" or not to:
        return
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    cfg = dict(current_app.config)
    on_commit(lambda: _deliver(transport, cfg, message))


def _deliver(transport: str, cfg: dict[str, object], message: EmailMessage) -> None:
    if transport == "memory":
        MEMORY_OUTBOX.append(message)
        return
    try:
        host, port = str(cfg["MAIL_SMTP_HOST"]), int(str(cfg["MAIL_SMTP_PORT"]))
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            if cfg.get("MAIL_SMTP_STARTTLS", True):
                smtp.starttls()
            if cfg.get("MAIL_SMTP_USERNAME"):
                smtp.login(str(cfg["MAIL_SMTP_USERNAME"]), str(cfg.get("MAIL_SMTP_PASSWORD", "")))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        # The in-app notification is the record; a failed e-mail is logged, not retried.
        log.exception("e-mail to %s failed", message["To"])
