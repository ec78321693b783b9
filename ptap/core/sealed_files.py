"""Files encrypted at rest: AES-256-GCM with the file's own name as associated data.

Shared by message attachments (ptap.messaging.attachments) and the DMP documents filed into
the coordination file (ptap.filings.filed): one key, one format, kept in the blob storage
(ptap.core.blobs). Each blob is MAGIC + a 12-byte nonce + AES-256-GCM(content) with the last
part of its key as associated data, so a blob copied under another key does not decrypt. The
key never enters the database: MESSAGING_ATTACHMENT_KEY (from the environment, URL-safe
base64 of 32 bytes) or else the key file MESSAGING_ATTACHMENT_KEY_FILE (default
instance/attachments.key, mode 0600), generated on first use outside production and required
in production (ptap.settings.validate). Files written before encryption (no MAGIC) are still
read as they are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from ptap.core import blobs
from ptap.core.errors import InvalidInput

#: First bytes of an encrypted file (format version 1).
MAGIC = b"PTAPENC1"
_NONCE = 12


class AttachmentKeyError(RuntimeError):
    """The attachment key is missing or malformed (configuration error, not user input)."""


def decode_key(text: str) -> bytes:
    """Decode a URL-safe base64 key and check it is 32 bytes (AES-256)."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AttachmentKeyError("the attachment key is not URL-safe base64") from exc
    if len(key) != 32:
        raise AttachmentKeyError("the attachment key must be 32 bytes (URL-safe base64)")
    return key


def write_private(path: Path, data: bytes) -> None:
    """Create a new file readable by the owner only (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def _key_from_file(path: Path, *, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise AttachmentKeyError(
                f"no attachment key: set PTAP_MESSAGING_ATTACHMENT_KEY or create {path} (0600)"
            )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Another process may have generated it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            write_private(path, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
    return decode_key(path.read_text())


def attachment_key() -> bytes:
    """Return the key encrypting stored files (settings, else key file; generated outside
    production), read once per application."""
    cache = current_app.extensions.setdefault("ptap_attachment_key", {})
    if "key" not in cache:
        cfg = current_app.config
        configured = str(cfg.get("MESSAGING_ATTACHMENT_KEY") or "")
        cache["key"] = (
            decode_key(configured)
            if configured
            else _key_from_file(
                Path(cfg["MESSAGING_ATTACHMENT_KEY_FILE"]), create=cfg["ENV"] != "production"
            )
        )
    return bytes(cache["key"])


def encrypt(content: bytes, name: str) -> bytes:
    """Return the file bytes of `content` stored under `name` (MAGIC, nonce, ciphertext)."""
    nonce = secrets.token_bytes(_NONCE)
    return MAGIC + nonce + AESGCM(attachment_key()).encrypt(nonce, content, name.encode())


def decrypt(data: bytes, name: str) -> bytes:
    """Return the content of a stored file (files from before encryption pass unchanged)."""
    if not data.startswith(MAGIC):
        return data
    nonce = data[len(MAGIC) : len(MAGIC) + _NONCE]
    return AESGCM(attachment_key()).decrypt(nonce, data[len(MAGIC) + _NONCE :], name.encode())


def _in_folder(folder: str, storage_path: str) -> str:
    """Return the blob key if it is a well-formed key of `folder`, else refuse."""
    try:
        key = blobs.check_key(storage_path)
    except blobs.InvalidBlobKey as exc:
        raise InvalidInput("Chemin de fichier invalide.") from exc
    if not key.startswith(f"{folder}/"):
        raise InvalidInput("Chemin de fichier invalide.")
    return key


def _aad(key: str) -> str:
    """The associated data: the last part of the key (a copy under another key fails)."""
    return key.rsplit("/", 1)[-1]


def store_sealed(folder: str, content: bytes) -> str:
    """Encrypt `content` into a new blob of namespace `folder` (ptap.core.blobs: the database or
    the shared folder); return its key. The blob goes if the transaction rolls back."""
    key = blobs.new_key(folder)
    blobs.store(key, encrypt(content, _aad(key)))
    return key


def read_sealed(folder: str, storage_path: str) -> bytes:
    """Return the decrypted content of a blob of namespace `folder`."""
    key = _in_folder(folder, storage_path)
    return decrypt(blobs.read_blob(key), _aad(key))


def delete_sealed(folder: str, storage_path: str) -> None:
    """Delete a blob whose row the caller removes (at commit on the filesystem backend)."""
    blobs.discard(_in_folder(folder, storage_path))
