"""Secure health mail: attachments and Message-ID stored at queue time, relay replies mapped to
retry or failure, never sent twice after a crash, MSSanté addresses checked."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from ptap.core import clock, smtp
from ptap.core.errors import InvalidInput
from ptap.core.mail import (
    MailAttachment,
    MailAttachmentRecord,
    MailMessage,
    MailStatus,
    is_valid_mssante_address,
    queue_mail,
    retry_mail,
    send_queued_mail,
)

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
PDF = MailAttachment("lettre.pdf", "application/pdf", b"%PDF-1.4 lettre")
XDM = MailAttachment("IHE_XDM.ZIP", "application/zip", b"PK\x03\x04 xdm")
TO = "dr.muller@medecin.mssante.fr"


@pytest.fixture
def relay(app):
    app.config["MAIL_TRANSPORT"] = "memory"
    smtp.MEMORY_RELAY.sent.clear()
    smtp.MEMORY_RELAY.replies.clear()
    smtp.MEMORY_RELAY.down = False
    yield smtp.MEMORY_RELAY
    smtp.MEMORY_RELAY.sent.clear()
    smtp.MEMORY_RELAY.replies.clear()
    smtp.MEMORY_RELAY.down = False


def _row(db) -> MailMessage:
    db.session.expire_all()
    [row] = db.session.scalars(sa.select(MailMessage))
    return row


def _letter():
    return queue_mail(TO, "Lettre d'adressage", "Veuillez trouver...", attachments=[PDF, XDM],
                      kind="mssante")  # fmt: skip


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("dr.muller@medecin.mssante.fr", True),
        ("secretariat.cardio@ch-exemple.mssante.fr", True),
        ("Jean.DUPONT@Pro.MSSante.FR", True),
        ("dr.muller@gmail.com", False),
        ("dr.muller@mssante.fr.evil.com", False),
        ("dr.muller@notmssante.fr", False),
        ("dr.muller@mssante.fr", False),  # the bare operator domain holds no mailboxes
        ("Dr Muller <dr.muller@medecin.mssante.fr>", False),
        (" dr.muller@medecin.mssante.fr", False),
        ("dr..muller@medecin.mssante.fr", False),
        ("dr.muller@medecin..mssante.fr", False),
        ("dr.muller@-medecin.mssante.fr", False),
        ("dr.muller@medecin.mssante.fr\n", False),
        ("", False),
        ("x" * 65 + "@medecin.mssante.fr", False),
    ],
)
def test_mssante_address_rule(address, valid):
    assert is_valid_mssante_address(address) is valid


def test_a_letter_is_queued_with_its_attachments_and_message_id_in_the_transaction(app, db):
    assert app.config["MAIL_TRANSPORT"] == "none"  # MSSanté mail stays queued, visible
    row = _letter()
    other = queue_mail("b@pro.mssante.fr", "Objet", "Corps", kind="mssante")
    assert row is not None and other is not None
    assert row.kind == "mssante" and row.status == MailStatus.PENDING
    assert row.message_id.startswith("<") and row.message_id.endswith("@ptap.invalid>")
    assert row.message_id != other.message_id
    db.session.commit()
    stored = db.session.get(MailMessage, row.id)
    assert [(a.filename, a.content_type, a.data) for a in stored.attachments] == [
        ("lettre.pdf", "application/pdf", PDF.data),
        ("IHE_XDM.ZIP", "application/zip", XDM.data),
    ]


def test_nothing_is_stored_when_the_transaction_rolls_back(db):
    _letter()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailAttachmentRecord)) == 0


@pytest.mark.parametrize("address", ["dr.muller@gmail.com", "pas une adresse", ""])
def test_mssante_mail_to_another_address_is_refused_naming_the_field(db, address):
    with pytest.raises(InvalidInput) as error:
        queue_mail(address, "Objet", "Corps", attachments=[PDF], kind="mssante")
    assert error.value.field == "recipient" and "MSSanté" in error.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0


@pytest.mark.parametrize(
    "attachment",
    [MailAttachment("../x.pdf", "application/pdf", b""), MailAttachment("x", "pdf", b"")],
)
def test_unusable_attachment_is_refused(db, attachment):
    with pytest.raises(InvalidInput) as error:
        queue_mail(TO, "Objet", "Corps", attachments=[attachment], kind="mssante")
    assert error.value.field == "attachments"


def test_notification_calls_without_attachments_still_work(db, relay):
    row = queue_mail("a@example.test", "PTAP", "Bonjour")
    assert row is not None and row.kind == "notification" and row.attachments == []
    db.session.commit()
    assert send_queued_mail() == {"sent": 1}
    assert relay.sent[0]["Message-ID"] == row.message_id
    assert not relay.sent[0].is_multipart()


def test_4xx_is_retried_with_backoff_and_the_same_message_id(db, relay):
    with clock.frozen(T0):
        row_id = _letter().id
        db.session.commit()
        relay.replies.append((451, "4.7.1 greylisted, try again later"))
        assert send_queued_mail() == {"pending": 1}
    row = _row(db)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert "451 4.7.1 greylisted" in row.last_error
    assert T0 + timedelta(seconds=30) <= row.next_attempt_at <= T0 + timedelta(seconds=60)
    assert row.delivery_started_at is None and row.lease_token is None
    with clock.frozen(T0 + timedelta(seconds=20)):
        assert send_queued_mail() == {}  # still in backoff
    with clock.frozen(T0 + timedelta(minutes=2)):
        assert send_queued_mail() == {"sent": 1}
    [message] = relay.sent
    row = _row(db)
    assert row.id == row_id and message["Message-ID"] == row.message_id
    assert (row.status, row.attempts, row.last_error) == (MailStatus.SENT, 2, "")
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == ["lettre.pdf", "IHE_XDM.ZIP"]


def test_5xx_fails_at_once_with_the_relay_reason(db, relay):
    _letter()
    db.session.commit()
    relay.replies.append((550, "5.1.1 boîte inconnue"))
    assert send_queued_mail() == {"failed": 1}
    row = _row(db)
    assert (row.status, row.attempts) == (MailStatus.FAILED, 1)
    assert "550 5.1.1 boîte inconnue" in row.last_error and "Destinataire" in row.last_error
    assert send_queued_mail() == {}
    assert relay.sent == []
    retry_mail(row)  # a person fixed the address book: same Message-ID, sent this time
    db.session.commit()
    assert send_queued_mail() == {"sent": 1}
    assert relay.sent[0]["Message-ID"] == _row(db).message_id


def test_relay_down_then_recovering_sends_the_letter_once(db, relay):
    relay.down = True
    with clock.frozen(T0):
        _letter()
        db.session.commit()
        assert send_queued_mail() == {"pending": 1}
    for minutes in range(1, 20):
        with clock.frozen(T0 + timedelta(minutes=minutes)):
            send_queued_mail()
    assert relay.sent == [] and _row(db).status == MailStatus.PENDING
    message_id = _row(db).message_id
    relay.down = False
    with clock.frozen(T0 + timedelta(hours=2)):
        assert send_queued_mail() == {"sent": 1}
        assert send_queued_mail() == {}
    assert [m["Message-ID"] for m in relay.sent] == [message_id]


class _Crash(BaseException):
    """The worker process dies (kill -9, OOM): nothing after this point runs."""


def _crashing_deliver(after_handover: bool):
    def deliver(transport, cfg, message, before_data=lambda: None):
        if after_handover:
            before_data()
            smtp.MEMORY_RELAY.sent.append(message)  # the relay got it
        raise _Crash

    return deliver


def _crash_then_run_again(app, db, monkeypatch, after_handover: bool) -> MailMessage:
    with clock.frozen(T0):
        _letter()
        db.session.commit()
        with monkeypatch.context() as patch:
            patch.setattr(smtp, "deliver", _crashing_deliver(after_handover))
            with pytest.raises(_Crash):
                send_queued_mail()
        db.session.rollback()
    lease = timedelta(seconds=float(app.config["MAIL_LEASE_SECONDS"]))
    with clock.frozen(T0 + lease + timedelta(seconds=1)):
        send_queued_mail()
        send_queued_mail()
    return _row(db)


def test_a_crash_after_the_hand_over_never_sends_the_letter_twice(app, db, relay, monkeypatch):
    row = _crash_then_run_again(app, db, monkeypatch, after_handover=True)
    assert len(relay.sent) == 1
    assert row.status == MailStatus.FAILED and row.attempts == 1
    assert "peut-être été reçu" in row.last_error and row.message_id in row.last_error


def test_a_crash_before_the_hand_over_is_retried_and_sent_once(app, db, relay, monkeypatch):
    row = _crash_then_run_again(app, db, monkeypatch, after_handover=False)
    assert len(relay.sent) == 1 and relay.sent[0]["Message-ID"] == row.message_id
    assert (row.status, row.attempts) == (MailStatus.SENT, 2)


class _DroppingSMTP:
    """An SMTP session whose connection breaks after the body was sent."""

    def mail(self, sender):
        return 250, b"OK"

    def rcpt(self, recipient):
        return 250, b"OK"

    def data(self, body):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_a_connection_lost_after_the_body_is_an_uncertain_outcome(app):
    with app.test_request_context():
        message = EmailMessage()
        message["From"], message["To"] = "a@example.test", TO
        handed_over = []
        with pytest.raises(smtp.MailUncertain):
            smtp._converse(_DroppingSMTP(), message, lambda: handed_over.append(True))
        assert handed_over == [True]


def test_check_config_validates_the_client_certificate_settings(tmp_path):
    assert smtp.check_tls_files({"MAIL_SMTP_CLIENT_CERT": "a.pem"})[0].startswith(
        "MAIL_SMTP_CLIENT_CERT and MAIL_SMTP_CLIENT_KEY go together"
    )
    missing = str(tmp_path / "absent.pem")
    problems = smtp.check_tls_files(
        {"MAIL_SMTP_CLIENT_CERT": missing, "MAIL_SMTP_CLIENT_KEY": missing}
    )
    assert "cannot be loaded" in problems[0]
    assert smtp.check_tls_files({}) == []
