"""Login throttling by address, by e-mail and by (e-mail, address), with exponential locks.

Three counters are kept for each failed password (LoginThrottle rows):

- `pair:<e-mail>:<address>`: locks that address out of that account after LOGIN_MAX_FAILURES;
- `ip:<address>`: locks the address out of every account after LOGIN_MAX_FAILURES_PER_ADDRESS;
- `acct:<e-mail>`: locks the account after LOGIN_MAX_FAILURES_PER_ACCOUNT, but only for
  addresses that never completed a login on it: the user at a known address still gets in, so
  a stranger cannot keep a clinician out, while a distributed guesser is slowed down.

Each lock lasts LOGIN_LOCK_SECONDS doubled at each further failure, up to
LOGIN_LOCK_MAX_SECONDS. E-mails are counted whether an account exists or not and a lock gives
the same answer as a wrong password, so neither reveals which accounts exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from ptap.accounts.models import LoginThrottle
from ptap.core.models import utcnow
from ptap.extensions import db


@dataclass(frozen=True)
class LoginKeys:
    """The three throttle keys of a login attempt."""

    pair: str
    account: str
    address: str


def login_keys(email: str, address: str) -> LoginKeys:
    """Return the throttle keys of a login attempt for `email` from `address`."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    address = address[:64] or "unknown"
    return LoginKeys(
        pair=f"pair:{digest}:{address}", account=f"acct:{digest}", address=f"ip:{address}"
    )


def _rows(keys: LoginKeys) -> dict[str, LoginThrottle]:
    wanted = (keys.pair, keys.account, keys.address)
    stmt = sa.select(LoginThrottle).where(LoginThrottle.key.in_(wanted))
    rows = db.session.scalars(stmt.execution_options(populate_existing=True))
    return {row.key: row for row in rows}


def _locked(row: LoginThrottle | None, now: datetime) -> bool:
    return row is not None and row.locked_until is not None and row.locked_until > now


def login_allowed(keys: LoginKeys) -> bool:
    """Tell whether a login attempt may be checked at all (no lock applies to it)."""
    now = utcnow()
    rows = _rows(keys)
    pair = rows.get(keys.pair)
    if _locked(pair, now) or _locked(rows.get(keys.address), now):
        return False
    known_address = pair is not None and pair.trusted_at is not None
    return known_address or not _locked(rows.get(keys.account), now)


def _insert() -> Any:
    dialect = db.session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _increment(key: str, now: datetime) -> int:
    """Add one failure to `key` atomically (insert or update) and return the new count."""
    insert = _insert()
    reset_after = timedelta(hours=int(current_app.config["LOGIN_THROTTLE_RESET_HOURS"]))
    stmt = insert(LoginThrottle).values(key=key, failures=1, updated_at=now)
    # A counter left alone for a day starts again from one: old typos do not add up.
    stale = LoginThrottle.updated_at < now - reset_after
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": sa.case((stale, 1), else_=LoginThrottle.failures + 1),
            "updated_at": now,
        },
    )
    db.session.execute(stmt)
    count = db.session.scalar(sa.select(LoginThrottle.failures).where(LoginThrottle.key == key))
    return int(count or 0)


def _lock_seconds(failures: int, threshold: int) -> int:
    cfg = current_app.config
    over = failures - threshold
    if over < 0:
        return 0
    return int(
        min(int(cfg["LOGIN_LOCK_SECONDS"]) * 2 ** min(over, 30), cfg["LOGIN_LOCK_MAX_SECONDS"])
    )


def record_login_failure(keys: LoginKeys, *, account: bool = True) -> int:
    """Count a failure on the keys (the account key only when `account`); lock those over
    their threshold. Returns the longest lock set, in seconds (0: none)."""
    cfg = current_app.config
    now = utcnow()
    thresholds = {
        keys.pair: int(cfg["LOGIN_MAX_FAILURES"]),
        keys.address: int(cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    }
    if account:
        thresholds[keys.account] = int(cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"])
    longest = 0
    for key, threshold in thresholds.items():
        seconds = _lock_seconds(_increment(key, now), threshold)
        if seconds:
            db.session.execute(
                sa.update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(locked_until=now + timedelta(seconds=seconds))
            )
            longest = max(longest, seconds)
    return longest


def record_login_success(keys: LoginKeys) -> None:
    """After a full login (password and second factor): clear the (e-mail, address) counter
    and remember the address as known for the account."""
    now = utcnow()
    values = {"failures": 0, "locked_until": None, "trusted_at": now, "updated_at": now}
    stmt = _insert()(LoginThrottle).values(key=keys.pair, **values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=[LoginThrottle.key], set_=values))


def count_in_window(key: str, window: timedelta) -> int:
    """Count one more event on `key` in a fixed window (atomic insert or update) and return
    the count so far in the current window. The row's `updated_at` marks the window's start;
    a key whose window is over starts again from one. Used to cap requests (e.g. e-mailed
    codes per address) whatever the outcome, so the count says nothing about accounts."""
    now = utcnow()
    over = LoginThrottle.updated_at < now - window
    stmt = _insert()(LoginThrottle).values(key=key, failures=1, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": sa.case((over, 1), else_=LoginThrottle.failures + 1),
            "updated_at": sa.case(
                (over, sa.literal(now, type_=LoginThrottle.__table__.c.updated_at.type)),
                else_=LoginThrottle.updated_at,
            ),
        },
    )
    db.session.execute(stmt)
    count = db.session.scalar(sa.select(LoginThrottle.failures).where(LoginThrottle.key == key))
    return int(count or 0)
