"""Files encrypted at rest: AES-256-GCM with the file's own name as associated data.

Shared by message attachments (ptap.messaging.attachments) and the DMP documents filed into
the coordination file (ptap.filings.filed): one key, one format. Each file is written as
MAGIC + a 12-byte nonce + AES-256-GCM(content), mode 0600 in a 0700 folder, so a file copied
under another name does not decrypt. The key never enters the database:
MESSAGING_ATTACHMENT_KEY (from the environment, URL-safe base64 of 32 bytes) or else the key
file MESSAGING_ATTACHMENT_KEY_FILE (default instance/attachments.key, mode 0600), generated
on first use outside production and required in production (ptap.settings.validate). Files
written before encryption (no MAGIC) are still read as they are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from ptap.core.aftercommit import on_rollback
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


def sealed_path(folder: str, storage_path: str) -> Path:
    """Return the absolute path of a stored file, refusing any outside UPLOAD_FOLDER/folder."""
    upload = Path(current_app.config["UPLOAD_FOLDER"])
    root = (upload / folder).resolve()
    path = (upload / storage_path).resolve()
    if root not in path.parents:
        raise InvalidInput("Chemin de fichier invalide.")
    return path


def store_sealed(folder: str, content: bytes) -> str:
    """Encrypt and write `content` under UPLOAD_FOLDER/folder with a random name; return its
    storage path (relative to UPLOAD_FOLDER). The file is removed if the transaction rolls
    back (no orphan file)."""
    directory = Path(current_app.config["UPLOAD_FOLDER"]) / folder
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    write_private(directory / name, encrypt(content, name))
    storage_path = f"{folder}/{name}"
    on_rollback(lambda: delete_sealed(folder, storage_path))
    return storage_path


def read_sealed(folder: str, storage_path: str) -> bytes:
    """Return the decrypted content of a file stored under UPLOAD_FOLDER/folder."""
    path = sealed_path(folder, storage_path)
    return decrypt(path.read_bytes(), path.name)


def delete_sealed(folder: str, storage_path: str) -> None:
    """Remove a stored file if it is still there."""
    sealed_path(folder, storage_path).unlink(missing_ok=True)
