"""argon2id password hashing and the password policy."""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ptap.core.errors import InvalidInput

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the e-mail is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("ptap-dummy-password-for-timing")

MIN_LENGTH = 12
#: Common passwords, lower-cased, one a line: the zxcvbn-ts "common" list (about 49,000 entries
#: from leaked-password corpora, MIT licence, see data/common_passwords.LICENSE.txt).
COMMON_PASSWORDS_FILE = "common_passwords.txt.gz"
_TRAILING_NOISE = re.compile(r"[\d\W_]+$")
_LEADING_NOISE = re.compile(r"^[\d\W_]+")
COMMON_PASSWORD_MESSAGE = (
    "Ce mot de passe figure parmi les mots de passe les plus courants ou déjà divulgués : "  # noqa: S105
    "choisissez-en un autre (une phrase de plusieurs mots, par exemple)."
)


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
    """Refuse short, too simple (few distinct characters) and common or breached passwords."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères.", field=field
        )
    if len(set(password)) < 4:
        raise InvalidInput("Le mot de passe est trop simple.", field=field)
    if is_common_password(password):
        raise InvalidInput(COMMON_PASSWORD_MESSAGE, field=field)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Load the packaged list of common passwords (once; no network)."""
    data = resources.files("ptap.accounts").joinpath("data", COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def is_common_password(password: str) -> bool:
    """Tell whether `password`, or its core without leading/trailing digits and symbols, or a
    repetition of a common one, is in the common-password list (case-insensitive)."""
    common = common_passwords()
    lowered = password.strip().lower()
    core = _LEADING_NOISE.sub("", _TRAILING_NOISE.sub("", lowered))
    if lowered in common or (len(core) >= 4 and core in common):
        return True
    # "azertyazerty", "motdepassemotdepasse": a common word repeated.
    for size in range(4, len(core) // 2 + 1):
        if len(core) % size == 0 and core[:size] * (len(core) // size) == core:
            return core[:size] in common
    return False
