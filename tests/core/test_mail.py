"""The mail outbox: queued with the transaction, sent by the job, retried, never lost or doubled."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.notifications import notify
from ptap.core import clock, mail
from ptap.core import outbox as core_outbox
from ptap.core.mail import MailMessage, MailStatus, queue_mail, send_queued_mail
from ptap.scheduler import JOBS
from tests.factories import make_user

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def relay(app):
    app.config["MAIL_TRANSPORT"] = "memory"
    mail.MEMORY_RELAY.sent.clear()
    mail.MEMORY_RELAY.down = False
    yield mail.MEMORY_RELAY
    mail.MEMORY_RELAY.sent.clear()
    mail.MEMORY_RELAY.down = False


def _rows(db) -> list[MailMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(MailMessage).order_by(MailMessage.id)))


def test_notification_mail_is_queued_then_sent_by_the_job_without_health_data(db, relay):
    user = make_user(email="soignant@example.test")
    notify(user.id, "task_due_soon", "Action à réaliser : pansement de Mme EXEMPLE", "/tasks")
    db.session.commit()
    assert relay.sent == []  # committing sends nothing: the job does
    [row] = _rows(db)
    assert (row.recipient, row.status) == ("soignant@example.test", MailStatus.PENDING)
    assert send_queued_mail() == {"sent": 1}
    [message] = relay.sent
    assert message["To"] == "soignant@example.test"
    text = message.get_content() + message["Subject"]
    assert "EXEMPLE" not in text and "pansement" not in text
    assert "/notifications" in text
    assert _rows(db)[0].status == MailStatus.SENT
    assert send_queued_mail() == {}  # sent rows are not sent again


def test_no_mail_row_on_rollback(db, relay):
    user = make_user()
    notify(user.id, "x", "titre")
    db.session.rollback()
    assert _rows(db) == []
    assert send_queued_mail() == {}
    assert relay.sent == []


def test_no_mail_when_not_configured(app, db):
    assert app.config["MAIL_TRANSPORT"] == "none"
    user = make_user()
    notify(user.id, "x", "titre")
    db.session.commit()
    assert _rows(db) == []


def test_relay_down_then_up_sends_each_mail_exactly_once(app, db, relay):
    recipients = [f"membre{i}@example.test" for i in range(6)]
    with clock.frozen(T0):
        for to in recipients:
            queue_mail(to, "PTAP : une nouvelle notification vous attend", "Bonjour")
        db.session.commit()
        relay.down = True
        # The relay refuses: the run stops at the first failure (no timeout per row).
        assert send_queued_mail() == {"pending": 1}
        first = _rows(db)[0]
        assert (first.attempts, first.status) == (1, MailStatus.PENDING)
        assert "relais" in first.last_error
        assert first.next_attempt_at > T0  # backoff
        assert first.lease_token is None
        # Still down a minute later: the other rows fail too, each one once per run.
    for minute in range(1, 30):
        with clock.frozen(T0 + timedelta(minutes=minute)):
            send_queued_mail()
    assert relay.sent == []
    assert all(r.status == MailStatus.PENDING and r.attempts >= 1 for r in _rows(db))
    relay.down = False
    with clock.frozen(T0 + timedelta(hours=3)):
        assert send_queued_mail() == {"sent": 6}
        assert send_queued_mail() == {}
    assert Counter(m["To"] for m in relay.sent) == Counter(recipients)  # none lost, none twice
    assert all(r.status == MailStatus.SENT and r.sent_at for r in _rows(db))


def test_backoff_grows_and_the_mail_fails_with_the_reason_after_the_last_attempt(app, db, relay):
    app.config.update(MAIL_MAX_ATTEMPTS=3, MAIL_BACKOFF_SECONDS=60)
    relay.down = True
    now = T0
    with clock.frozen(now):
        queue_mail("a@example.test", "Objet", "Corps")
        db.session.commit()
    delays = []
    for _ in range(3):
        with clock.frozen(now):
            send_queued_mail()
        row = _rows(db)[0]
        if row.status == MailStatus.FAILED:
            break
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert row.status == MailStatus.FAILED and row.attempts == 3
    assert row.last_error.startswith("Échec après 3 tentative(s)")
    assert "relais" in row.last_error
    assert timedelta(seconds=30) <= delays[0] <= timedelta(seconds=60)
    assert timedelta(seconds=60) <= delays[1] <= timedelta(seconds=120)
    with clock.frozen(now + timedelta(days=1)):
        assert send_queued_mail() == {}  # a failed mail is not retried by the job


def test_smtp_relay_unreachable_keeps_the_mail_for_a_retry(app, db):
    # Port 9 on loopback refuses connections: a real SMTP attempt, no outside network.
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SMTP_HOST="127.0.0.1", MAIL_SMTP_PORT=9)
    queue_mail("a@example.test", "Objet", "Corps")
    db.session.commit()
    assert send_queued_mail() == {"pending": 1}
    [row] = _rows(db)
    assert row.attempts == 1 and row.last_error


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_holder(app, db, relay):
    with clock.frozen(T0):
        queue_mail("a@example.test", "Objet", "Corps")
        db.session.commit()
        lease = timedelta(seconds=float(app.config["MAIL_LEASE_SECONDS"]))
        due = mail._due(T0)
        first = core_outbox.claim_one(MailMessage, due, lease=lease, in_progress="sending")
    later = T0 + lease + timedelta(seconds=1)
    with clock.frozen(later):
        second = core_outbox.claim_one(
            MailMessage, mail._due(later), lease=lease, in_progress="sending", worker="w2"
        )
        assert first is not None and second is not None
        assert first.row_id == second.row_id and first.token != second.token
        row = db.session.get(MailMessage, first.row_id)
        row.status = MailStatus.FAILED  # the late worker tries to record its outcome
        with pytest.raises(core_outbox.LeaseLost):
            core_outbox.commit_held(MailMessage, first, lease, release=True)
    [row] = _rows(db)
    assert (row.status, row.lease_token, row.claimed_by) == ("sending", second.token, "w2")


def test_the_mail_job_is_in_the_job_table():
    assert any(job.id == "send_queued_mail" and job.func is send_queued_mail for job in JOBS)


def test_a_message_that_cannot_be_built_fails_its_row_and_the_job_goes_on(app, db, relay):
    queue_mail("a@example.test", "Objet\r\nBcc: x@example.test", "corps")
    queue_mail("b@example.test", "Objet correct", "corps")
    db.session.commit()
    assert send_queued_mail() == {"failed": 1, "sent": 1}
    bad, good = _rows(db)
    assert bad.status == MailStatus.FAILED and "impossible à construire" in bad.last_error
    assert good.status == MailStatus.SENT
    assert [m["To"] for m in relay.sent] == ["b@example.test"]
    assert send_queued_mail() == {}  # never tried again
