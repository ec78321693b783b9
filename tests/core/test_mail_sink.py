"""The real SMTP transport against a local aiosmtpd relay: the sink, relay replies, STARTTLS.

Everything runs on the loopback interface: the development sink (``ptap mail-sink``) receives
a letter with its PDF and IHE_XDM.ZIP; scripted relays answer 4xx then 2xx, or 5xx; a STARTTLS
relay requiring a client certificate from a test authority accepts only the configured one.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from ptap.cli import main
from ptap.core.mail import MailAttachment, MailMessage, MailStatus, queue_mail, send_queued_mail
from ptap.devtools import mail_sink
from tests.dmp_bridge.test_tls import pki  # noqa: F401 - the test authority fixture

TO = "dr.muller@medecin.mssante.fr"
PDF = MailAttachment("lettre.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40)
XDM = MailAttachment("IHE_XDM.ZIP", "application/zip", b"PK\x03\x04" + bytes(range(256)) * 40)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _use_relay(app, port: int, **settings) -> None:
    app.config.update(
        {
            "MAIL_TRANSPORT": "smtp",
            "MAIL_SMTP_HOST": "127.0.0.1",
            "MAIL_SMTP_PORT": port,
            "MAIL_SMTP_STARTTLS": False,
            "MAIL_SMTP_TIMEOUT": 5,
            **settings,
        }
    )


def _row(db) -> MailMessage:
    db.session.expire_all()
    [row] = db.session.scalars(sa.select(MailMessage))
    return row


def _queue_letter(db) -> MailMessage:
    row = queue_mail(
        TO, "Lettre d'adressage", "Bonjour,\nci-joint.", attachments=[PDF, XDM], kind="mssante"
    )
    assert row is not None
    db.session.commit()
    return row


@pytest.fixture
def sink(tmp_path) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    controller = mail_sink.start("127.0.0.1", port, tmp_path / "mail")
    yield port, tmp_path / "mail"
    controller.stop()


def test_a_letter_reaches_the_sink_with_its_attachments_intact(app, db, sink):
    port, folder = sink
    _use_relay(app, port)
    row = _queue_letter(db)
    assert send_queued_mail() == {"sent": 1}
    [eml] = sorted(folder.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == TO and message["Message-ID"] == row.message_id
    attachments = {
        part.get_filename(): (part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    }
    assert attachments == {
        "lettre.pdf": ("application/pdf", PDF.data),
        "IHE_XDM.ZIP": ("application/zip", XDM.data),
    }
    assert _row(db).status == MailStatus.SENT


class _ScriptedRelay:
    """Answers RCPT (then DATA) with the scripted replies in turn, then accepts."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.data_replies: list[str] = []
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.replies:
            return self.replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def scripted(app) -> Iterator[_ScriptedRelay]:
    handler = _ScriptedRelay()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    _use_relay(app, port)
    yield handler
    controller.stop()


def test_a_4xx_relay_reply_is_retried_and_the_letter_sent_once(app, db, scripted):
    app.config["MAIL_BACKOFF_SECONDS"] = 0
    scripted.replies.append("451 4.3.0 Mailbox temporarily unavailable")
    _queue_letter(db)
    assert send_queued_mail() == {"pending": 1}
    assert "451 4.3.0" in _row(db).last_error
    assert send_queued_mail() == {"sent": 1}
    assert send_queued_mail() == {}
    assert len(scripted.received) == 1
    assert _row(db).attempts == 2


def test_a_5xx_relay_reply_fails_the_letter_with_the_reason(db, scripted):
    scripted.replies.append("550 5.1.1 Adresse inconnue dans l'annuaire")
    _queue_letter(db)
    assert send_queued_mail() == {"failed": 1}
    row = _row(db)
    assert row.status == MailStatus.FAILED and "550 5.1.1 Adresse inconnue" in row.last_error
    assert scripted.received == []


def test_a_5xx_reply_to_the_body_fails_the_letter_and_a_4xx_one_retries_it(app, db, scripted):
    app.config["MAIL_BACKOFF_SECONDS"] = 0
    scripted.data_replies += ["452 4.3.1 Espace insuffisant", "554 5.6.0 Pièce jointe refusée"]
    _queue_letter(db)
    assert send_queued_mail() == {"pending": 1}
    assert "452 4.3.1" in _row(db).last_error
    assert send_queued_mail() == {"failed": 1}
    row = _row(db)
    assert "Message refusé par le relais : 554 5.6.0" in row.last_error
    assert row.delivery_started_at is None and scripted.received == []


@pytest.fixture
def tls_relay(app, pki, tmp_path):  # noqa: F811
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki["server"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED  # the operator authenticates the application
    port = _free_port()
    controller = mail_sink.start(
        "127.0.0.1", port, tmp_path / "tls", tls_context=context, require_starttls=True
    )
    _use_relay(app, port, MAIL_SMTP_STARTTLS=True, MAIL_SMTP_CA_FILE=pki["ca"])
    yield tmp_path / "tls"
    controller.stop()


def test_starttls_with_the_client_certificate_is_accepted(app, db, pki, tls_relay):  # noqa: F811
    cert, key = pki["client"]
    app.config.update(MAIL_SMTP_CLIENT_CERT=cert, MAIL_SMTP_CLIENT_KEY=key)
    _queue_letter(db)
    assert send_queued_mail() == {"sent": 1}
    assert len(list(tls_relay.glob("*.eml"))) == 1


def test_without_a_client_certificate_the_letter_waits(app, db, tls_relay):
    _queue_letter(db)
    assert send_queued_mail() == {"pending": 1}
    assert "relais injoignable ou en erreur" in _row(db).last_error
    assert list(tls_relay.glob("*.eml")) == []


def test_a_relay_outside_the_trusted_authorities_is_refused(app, db, pki, tls_relay):  # noqa: F811
    cert, key = pki["client"]
    app.config.update(
        MAIL_SMTP_CLIENT_CERT=cert, MAIL_SMTP_CLIENT_KEY=key, MAIL_SMTP_CA_FILE=pki["stranger"][0]
    )
    _queue_letter(db)
    assert send_queued_mail() == {"pending": 1}
    assert "CERTIFICATE_VERIFY_FAILED" in _row(db).last_error
    assert list(tls_relay.glob("*.eml")) == []


def test_mail_sink_command_is_listed():
    result = CliRunner().invoke(main, ["mail-sink", "--help"])
    assert result.exit_code == 0 and "--dir" in result.output
