"""Test factories: add, flush, return (Indico's create_user, CTFd's gen_*)."""

from __future__ import annotations

import itertools
import time

import pyotp

from ptap.accounts.models import User
from ptap.accounts.passwords import hash_password
from ptap.core.identifiers import luhn_check_digit
from ptap.core.models import utcnow
from ptap.extensions import db

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)
# argon2 is deliberately slow: hash the shared test password once.
_PASSWORD_HASH = hash_password(PASSWORD)


def valid_rpps(n: int) -> str:
    partial = f"10{n:08d}"
    return partial + luhn_check_digit(partial)


def make_user(
    *,
    role: str = "professional",
    profession: str = "physician",
    email: str | None = None,
    totp: bool = True,
    rpps: str | None = None,
    **overrides: object,
) -> User:
    n = next(_seq)
    user = User(
        email=email or f"user{n}@example.test",
        first_name=f"Prénom{n}",
        last_name=f"Nom{n}",
        profession=profession,
        role=role,
        rpps=rpps,
        password_hash=_PASSWORD_HASH,
        password_changed_at=utcnow(),
        totp_secret=pyotp.random_base32(32) if totp else None,
        totp_confirmed_at=utcnow() if totp else None,
    )
    for key, value in overrides.items():
        setattr(user, key, value)
    db.session.add(user)
    db.session.flush()
    return user


def totp_code(user: User) -> str:
    """Return a TOTP code the server will accept now (a step after the last one used)."""
    assert user.totp_secret
    current = int(time.time() // 30)
    step = max(current, user.totp_last_step + 1)
    if step > current + 1:  # both acceptable steps used: wait for the next one
        time.sleep(30 - time.time() % 30 + 0.1)
        step = int(time.time() // 30)
    return pyotp.TOTP(user.totp_secret).at(step * 30)
