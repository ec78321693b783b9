"""Messaging jobs: urgent re-notification (frozen clock) and the audited retention purge."""

from datetime import timedelta

import sqlalchemy as sa

from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.messaging import queries, services
from ptap.messaging.models import Attachment, Message, UrgentReminderLog
from ptap.messaging.tasks import purge_expired_messages, renotify_urgent_messages
from ptap.scheduler import JOBS, run_job
from tests.factories import add_member, make_user
from tests.messaging.conftest import send


def _reminders(db, user):
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.kind == "message_urgent",
            Notification.title.startswith("Rappel"),
        )
    )


def test_urgent_renotification_stops_after_acknowledgement(app, world, patient_conversation, db):
    third = world.member  # the only other member of the circle
    message = send(world.coord, patient_conversation, "Chute", priority="urgent").message
    db.session.commit()
    t = message.created_at
    n = timedelta(minutes=app.config["MESSAGING_URGENT_RENOTIFY_MINUTES"])

    assert renotify_urgent_messages(now=t + n / 2) == 0  # not yet due
    assert renotify_urgent_messages(now=t + n) == 1
    assert renotify_urgent_messages(now=t + n + timedelta(seconds=30)) == 0  # same interval
    assert renotify_urgent_messages(now=t + 2 * n) == 1
    db.session.commit()
    assert _reminders(db, third) == 2
    assert _reminders(db, world.coord) == 0  # never the author

    services.acknowledge_message(third, message, world.ctx(third))
    db.session.commit()
    assert renotify_urgent_messages(now=t + 3 * n) == 0
    assert renotify_urgent_messages(now=t + 4 * n) == 0
    assert _reminders(db, third) == 2
    slots = db.session.scalars(sa.select(UrgentReminderLog.slot).order_by(UrgentReminderLog.slot))
    assert list(slots) == [1, 2]


def test_renotification_skips_who_lost_access(app, world, patient_conversation, db):
    from ptap.care_teams import circle

    message = send(world.coord, patient_conversation, "Chute", priority="urgent").message
    circle.record_consent(
        world.coord, world.patient, "sharing", False, "oral", "", world.ctx(world.coord)
    )
    db.session.commit()
    n = timedelta(minutes=app.config["MESSAGING_URGENT_RENOTIFY_MINUTES"])
    assert renotify_urgent_messages(now=message.created_at + n) == 0


def test_normal_and_retracted_messages_are_not_renotified(app, world, patient_conversation, db):
    send(world.coord, patient_conversation, "Info")
    urgent = send(world.coord, patient_conversation, "Oups", priority="urgent").message
    services.retract_message(world.coord, urgent, world.ctx(world.coord))
    db.session.commit()
    assert renotify_urgent_messages(now=urgent.created_at + timedelta(hours=1)) == 0


def test_renotification_costs_the_same_statements_for_3_or_30_recipients(
    app, world, patient_conversation, db, count_queries
):
    n = timedelta(minutes=app.config["MESSAGING_URGENT_RENOTIFY_MINUTES"])
    costs = []
    for extra in (2, 27):  # members besides the author and world.member
        for _ in range(extra):
            add_member(world.team, make_user())
        message = send(world.coord, patient_conversation, "Chute", priority="urgent").message
        db.session.commit()
        recipients = len(queries.member_ids(patient_conversation)) - 1
        with count_queries() as statements:
            assert renotify_urgent_messages(now=message.created_at + n) == recipients
        db.session.commit()
        services.acknowledge_message(world.member, message, world.ctx(world.member))
        db.session.commit()
        costs.append(len(statements))
    assert costs[0] == costs[1]


def test_purge_keeps_everything_when_retention_is_zero(app, world, team_conversation, db):
    send(world.coord, team_conversation)
    assert purge_expired_messages() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_purge_deletes_old_messages_and_is_audited(app, client, world, team_conversation, db):
    import io

    from tests.messaging.conftest import headers

    app.config["MESSAGING_RETENTION_DAYS"] = 30
    old = send(world.coord, team_conversation, "ancien rendez-vous").message
    client.post(
        f"/api/v1/conversations/{team_conversation.id}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 x"), "cr.pdf"), "client_id": "f"},
        headers=headers(world.coord),
        content_type="multipart/form-data",
    )
    recent = send(world.coord, team_conversation, "nouveau rendez-vous").message
    db.session.commit()
    attachment = db.session.scalars(sa.select(Attachment)).one()
    from ptap.messaging.attachments import attachment_path

    path = attachment_path(attachment.storage_path)
    assert path.exists()
    now = old.created_at + timedelta(days=31)
    db.session.execute(
        sa.update(Message)
        .where(Message.id != recent.id)
        .values(created_at=old.created_at - timedelta(days=1))
    )
    db.session.execute(
        sa.update(Message).where(Message.id == recent.id).values(created_at=now - timedelta(days=1))
    )
    db.session.commit()
    assert purge_expired_messages(now=now) == 2
    db.session.commit()
    assert db.session.scalars(sa.select(Message.id)).all() == [recent.id]
    assert not path.exists()
    [event] = db.session.scalars(sa.select(AuditEvent).filter_by(action="message.purge")).all()
    assert event.reason.startswith("2 messages created before")
    # The full-text index followed the deletion.
    hits = db.session.scalars(services.queries.search_query(world.coord.id, "rendez-vous")).all()
    assert [m.id for m in hits] == [recent.id]


def test_jobs_are_in_the_job_table(app, world, db):
    ids = {job.id for job in JOBS}
    assert {"renotify_urgent_messages", "purge_expired_messages"} <= ids
    for job in JOBS:
        if job.id in {"renotify_urgent_messages", "purge_expired_messages"}:
            run_job(app, job)  # runs, commits, does not raise
