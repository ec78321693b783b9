import pytest

from ptap.accounts.notifications import notify
from ptap.core import mail
from tests.factories import make_user


@pytest.fixture
def outbox(app):
    app.config["MAIL_TRANSPORT"] = "memory"
    mail.MEMORY_OUTBOX.clear()
    yield mail.MEMORY_OUTBOX
    mail.MEMORY_OUTBOX.clear()


def test_notification_mail_leaves_after_commit_without_health_data(db, outbox):
    user = make_user(email="soignant@example.test")
    notify(user.id, "task_due_soon", "Action à réaliser : pansement de Mme EXEMPLE", "/tasks")
    assert outbox == []  # nothing before the commit
    db.session.commit()
    assert len(outbox) == 1
    message = outbox[0]
    assert message["To"] == "soignant@example.test"
    text = message.get_content() + message["Subject"]
    assert "EXEMPLE" not in text and "pansement" not in text
    assert "/notifications" in text


def test_no_mail_on_rollback(db, outbox):
    user = make_user()
    notify(user.id, "x", "titre")
    db.session.rollback()
    db.session.commit()
    assert outbox == []


def test_no_mail_when_not_configured(app, db):
    mail.MEMORY_OUTBOX.clear()
    assert app.config["MAIL_TRANSPORT"] == "none"
    user = make_user()
    notify(user.id, "x", "titre")
    db.session.commit()
    assert mail.MEMORY_OUTBOX == []


def test_smtp_failure_is_logged_not_raised(app, db, caplog):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SMTP_HOST="127.0.0.1", MAIL_SMTP_PORT=9)
    user = make_user()
    notify(user.id, "x", "titre")
    db.session.commit()  # the connection to port 9 is refused: logged, the commit stands
    assert "e-mail to" in caplog.text
