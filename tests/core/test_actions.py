"""The form-action helper owns the transaction: one commit on success, rollback otherwise."""

import pytest
import sqlalchemy as sa
from flask import get_flashed_messages

from ptap.accounts.models import User
from ptap.core.actions import run_action
from ptap.core.aftercommit import on_commit
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from tests.factories import make_user


@pytest.fixture
def commits(db):
    """Count the commits of the session during the test."""
    seen: list[int] = []

    def count(_session):
        seen.append(1)

    sa.event.listen(db.session(), "after_commit", count)
    yield seen
    sa.event.remove(db.session(), "after_commit", count)


def _emails(db) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(User.email)))


def test_success_commits_once_runs_after_commit_hooks_and_flashes(app, db, commits):
    fired: list[str] = []

    def service():
        make_user(email="ok@example.test")
        on_commit(lambda: fired.append("sent"))
        return 42

    with app.test_request_context("/"):
        outcome = run_action(service, success="Enregistré.")
        assert outcome.ok and outcome.value == 42 and outcome.error is None
        assert get_flashed_messages(with_categories=True) == [("success", "Enregistré.")]
    assert len(commits) == 1
    assert fired == ["sent"]
    db.session.rollback()  # a rollback after the commit cannot undo it
    assert "ok@example.test" in _emails(db)


def test_domain_error_rolls_back_and_is_handed_back(app, db, commits):
    fired: list[str] = []

    def service():
        make_user(email="refused@example.test")
        on_commit(lambda: fired.append("sent"))
        raise InvalidInput("Date invalide.", field="starts_on")

    with app.test_request_context("/"):
        outcome = run_action(service, catch=(InvalidInput, Conflict), success="Enregistré.")
        assert not outcome.ok
        assert isinstance(outcome.failure, InvalidInput)
        assert outcome.failure.field == "starts_on"
        assert get_flashed_messages() == []  # no confirmation for a refusal
        with pytest.raises(RuntimeError):
            outcome.value  # noqa: B018
    db.session.commit()  # nothing left to commit: the service's writes are gone
    assert "refused@example.test" not in _emails(db)
    assert fired == []


def test_success_has_no_failure(app, db):
    with app.test_request_context("/"):
        outcome = run_action(lambda: None)
    assert outcome.ok
    with pytest.raises(RuntimeError):
        outcome.failure  # noqa: B018


def test_uncaught_domain_error_propagates_after_rollback(app, db, commits):
    def service():
        make_user(email="denied@example.test")
        raise PermissionDenied()

    with app.test_request_context("/"), pytest.raises(PermissionDenied):
        run_action(service, catch=(InvalidInput, Conflict))
    assert commits == []
    db.session.commit()
    assert "denied@example.test" not in _emails(db)


def test_unexpected_exception_propagates_and_rolls_back(app, db, commits):
    fired: list[str] = []

    def service():
        make_user(email="boom@example.test")
        on_commit(lambda: fired.append("sent"))
        raise RuntimeError("bug")

    with app.test_request_context("/"), pytest.raises(RuntimeError, match="bug"):
        run_action(service)
    assert commits == []
    db.session.commit()
    assert "boom@example.test" not in _emails(db)
    assert fired == []
