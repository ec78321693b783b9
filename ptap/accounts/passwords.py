"""argon2id password hashing and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ptap.core.errors import InvalidInput

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("ptap-dummy-password-for-timing")

MIN_LENGTH = 12


def hash_password(password: str) -> str:
    """Return the argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether `password` matches; spends the same time when there is no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether the hash uses outdated parameters."""
    return _hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, *, field: str = "password") -> None:
    """Refuse passwords shorter than MIN_LENGTH or made of one repeated character."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères.", field=field
        )
    if len(set(password)) < 4:
        raise InvalidInput("Le mot de passe est trop simple.", field=field)
