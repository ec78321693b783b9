"""Notifications: many recipients in one insert, each pushed to its own room after commit."""

import sqlalchemy as sa

from ptap.accounts.notifications import Notification, NotificationDraft, notify_all
from ptap.extensions import socketio
from tests.factories import make_user


def test_notify_all_is_one_insert_and_pushes_each_id_after_commit(db, count_queries, monkeypatch):
    users = [make_user() for _ in range(5)]
    db.session.commit()
    pushed = []
    monkeypatch.setattr(socketio, "emit", lambda event, data, **kw: pushed.append((kw["to"], data)))
    drafts = [NotificationDraft(u.id, "message_urgent", "Message urgent", "/c/1") for u in users]
    drafts.append(NotificationDraft(users[0].id, "message_urgent", "Message urgent", "/c/1"))
    with count_queries() as statements:
        ids = notify_all(drafts)
    assert len(statements) == 1
    assert len(set(ids)) == 6
    assert pushed == []  # nothing before the commit
    db.session.commit()
    stored = dict(db.session.execute(sa.select(Notification.id, Notification.user_id)).all())
    assert [stored[i] for i in ids] == [d.user_id for d in drafts]
    assert sorted((room, data["id"]) for room, data in pushed) == sorted(
        (f"user:{d.user_id}", i) for d, i in zip(drafts, ids, strict=True)
    )


def test_notify_all_of_nothing_runs_no_statement(db, count_queries):
    with count_queries() as statements:
        assert notify_all([]) == []
    assert statements == []


def test_nothing_is_pushed_when_the_transaction_rolls_back(db, monkeypatch):
    user = make_user()
    db.session.commit()
    pushed = []
    monkeypatch.setattr(socketio, "emit", lambda *a, **kw: pushed.append(a))
    notify_all([NotificationDraft(user.id, "x", "titre")])
    db.session.rollback()
    db.session.commit()
    assert pushed == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
