"""The key ring of the audit chain: every key ever used, by id, and the current one.

Each seal records the id of the key it was made with, so the key can be rotated: the new key
seals from now on, the old ones stay in the ring to verify what they sealed. A process still
running with the old settings during the switch seals with the old key: harmless, both verify.
A retired key that leaked lets its holder re-seal the chain's tail after the last anchor
(anchors record the key id and hash of the head, so anchored seals stay protected).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The id of the single key of deployments made before rotation existed (and the default of
#: AUDIT_CHAIN_KEY_ID): their seals carry it.
DEFAULT_KEY_ID = "1"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MIN_KEY_LENGTH = 32


class KeyRingError(ValueError):
    """The audit key settings are inconsistent (message names the setting)."""


@dataclass(frozen=True)
class KeyRing:
    """Audit chain keys by id (oldest first); the key of `current_id` seals new events."""

    keys: Mapping[str, bytes]
    current_id: str

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise KeyRingError(f"the current audit key id {self.current_id!r} has no key")

    @classmethod
    def single(cls, key: bytes, key_id: str = DEFAULT_KEY_ID) -> KeyRing:
        """Return a ring of one key."""
        return cls({key_id: key}, key_id)

    @property
    def current(self) -> bytes:
        """Return the key that seals new events."""
        return self.keys[self.current_id]


def as_keyring(key: bytes | KeyRing) -> KeyRing:
    """Accept a single key (id DEFAULT_KEY_ID) or a ring."""
    return key if isinstance(key, KeyRing) else KeyRing.single(key)


def parse_keyring(keys_text: str, single_key: str, current_id: str) -> KeyRing:
    """Build the ring from AUDIT_CHAIN_KEYS ("id:key" entries, oldest first, separated by
    commas or white space), AUDIT_CHAIN_KEY (the key of id `current_id`, added last unless
    listed) and AUDIT_CHAIN_KEY_ID. Raises KeyRingError naming what is wrong."""
    keys: dict[str, bytes] = {}
    for entry in re.split(r"[\s,]+", keys_text.strip()):
        if not entry:
            continue
        key_id, sep, key = entry.partition(":")
        if not sep or not KEY_ID_RE.match(key_id) or not key:
            raise KeyRingError(
                "PTAP_AUDIT_CHAIN_KEYS entries must read id:key (id: letters, digits, . _ -)"
            )
        if key_id in keys:
            raise KeyRingError(f"PTAP_AUDIT_CHAIN_KEYS lists the key id {key_id!r} twice")
        keys[key_id] = key.encode()
    if not KEY_ID_RE.match(current_id):
        raise KeyRingError("PTAP_AUDIT_CHAIN_KEY_ID must be letters, digits, . _ - (40 at most)")
    if single_key:
        listed = keys.get(current_id)
        if listed is not None and listed != single_key.encode():
            raise KeyRingError(
                f"PTAP_AUDIT_CHAIN_KEY differs from the key {current_id!r} of PTAP_AUDIT_CHAIN_KEYS"
            )
        keys.setdefault(current_id, single_key.encode())
    if current_id not in keys:
        raise KeyRingError(
            f"no audit chain key has the current id {current_id!r} (PTAP_AUDIT_CHAIN_KEY_ID): "
            "set PTAP_AUDIT_CHAIN_KEY or list it in PTAP_AUDIT_CHAIN_KEYS"
        )
    return KeyRing(keys, current_id)


def next_key_id(ring: KeyRing) -> str:
    """Propose the id of the next key: one more than the largest numeric id."""
    numbers = [int(kid) for kid in ring.keys if kid.isdecimal()]
    return str(max(numbers, default=0) + 1)
