"""An urgent message to many members queues e-mails: no SMTP inside the socket handler."""

import smtplib

import sqlalchemy as sa

from ptap.core.mail import MailMessage, MailStatus, send_queued_mail
from ptap.messaging import services
from tests.factories import add_member, make_user
from tests.messaging.conftest import NS


class RecordingSMTP:
    """Stands for smtplib.SMTP: records every connection (none is expected in the handler)."""

    opened: list[tuple[str, int]] = []
    sent: list[str] = []

    def __init__(self, host: str, port: int, timeout: float = 0) -> None:
        RecordingSMTP.opened.append((host, port))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def ehlo(self) -> None:
        return None

    def mail(self, sender: str) -> tuple[int, bytes]:
        return 250, b"OK"

    def rcpt(self, recipient: str) -> tuple[int, bytes]:
        self.recipient = recipient
        return 250, b"OK"

    def data(self, body: bytes) -> tuple[int, bytes]:
        RecordingSMTP.sent.append(self.recipient)
        return 250, b"OK"

    def quit(self) -> tuple[int, bytes]:
        return 221, b"Bye"

    def close(self) -> None:
        return None


def test_urgent_message_to_many_members_calls_no_smtp_in_the_socket_handler(
    app, db, world, messaging_socket, monkeypatch
):
    app.config.update(
        MAIL_TRANSPORT="smtp",
        MAIL_SMTP_HOST="relay.invalid",
        MAIL_SMTP_PORT=25,
        MAIL_SMTP_STARTTLS=False,
    )
    RecordingSMTP.opened, RecordingSMTP.sent = [], []
    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    members = [make_user(email=f"membre{i}@example.test") for i in range(30)]
    for member in members:
        add_member(world.team, member)
    conversation = services.get_or_create_team_conversation(world.coord, world.team)
    db.session.commit()

    sock = messaging_socket(world.coord)
    ack = sock.emit(
        "send_message",
        {
            "conversation_id": conversation.id,
            "client_id": "urgent-1",
            "body": "Chute",
            "priority": "urgent",
        },
        namespace=NS,
        callback=True,
    )
    assert ack["ok"], ack
    assert RecordingSMTP.opened == []  # the handler only queued rows
    db.session.expire_all()
    queued = db.session.scalars(sa.select(MailMessage)).all()
    expected = {m.email for m in members} | {world.member.email}
    assert {row.recipient for row in queued} == expected
    assert all(row.status == MailStatus.PENDING for row in queued)

    assert send_queued_mail() == {"sent": len(expected)}  # the scheduler job sends them
    assert sorted(RecordingSMTP.sent) == sorted(expected)
