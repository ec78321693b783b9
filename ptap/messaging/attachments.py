"""Attachment files: type sniffed from the content, size limit, storage outside the web root,
encrypted at rest.

Each file is written as MAGIC + a 12-byte nonce + AES-256-GCM(content), with the file's own
name as associated data (a file copied under another name does not decrypt), mode 0600 in a
0700 folder. The key never enters the database: MESSAGING_ATTACHMENT_KEY (from the
environment, URL-safe base64 of 32 bytes) or else the key file MESSAGING_ATTACHMENT_KEY_FILE
(default instance/attachments.key, mode 0600), generated on first use outside production and
required in production (ptap.settings.validate). Files written before encryption (no MAGIC)
are still read as they are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from ptap.core.aftercommit import on_rollback
from ptap.core.errors import InvalidInput

#: First bytes of an encrypted attachment file (format version 1).
MAGIC = b"PTAPENC1"
_NONCE = 12

#: Magic numbers of the types messaging can accept (the configuration picks among them).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}
IMAGE_TYPES = frozenset(t for t in EXTENSIONS if t.startswith("image/"))


class AttachmentTooLarge(InvalidInput):
    """The file is over MESSAGING_ATTACHMENT_MAX_MB (answered 413)."""

    status = 413
    title = "Fichier trop volumineux"


@dataclass(frozen=True)
class UploadedFile:
    """A file as received by the boundary: the client's name and the bytes (no claimed type)."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file written under UPLOAD_FOLDER/messages/."""

    filename: str
    content_type: str
    size: int
    sha256: str
    storage_path: str


def sniff_type(content: bytes) -> str | None:
    """Return the MIME type the content's first bytes prove, or None."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


def clean_filename(name: str, content_type: str) -> str:
    """Return a safe display name whose extension matches the sniffed type."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    stem = re.sub(r"[^\w .()-]+", "_", Path(name).stem).strip(" .") or "piece-jointe"
    return stem[:150] + EXTENSIONS[content_type]


def store_attachment(upload: UploadedFile) -> StoredFile:
    """Check and write an uploaded file; refuse types not allowed and files over the limit."""
    cfg = current_app.config
    limit = int(float(cfg["MESSAGING_ATTACHMENT_MAX_MB"]) * 1024 * 1024)
    if len(upload.content) > limit:
        raise AttachmentTooLarge(
            f"La pièce jointe dépasse {cfg['MESSAGING_ATTACHMENT_MAX_MB']} Mo.", field="file"
        )
    if not upload.content:
        raise InvalidInput("Le fichier est vide.", field="file")
    kind = sniff_type(upload.content)
    if kind is None or kind not in cfg["MESSAGING_ATTACHMENT_TYPES"]:
        raise InvalidInput(
            "Type de fichier refusé : seuls les PDF et les images (PNG, JPEG, GIF, WebP) sont "
            "acceptés, d'après leur contenu.",
            field="file",
        )
    folder = Path(cfg["UPLOAD_FOLDER"]) / "messages"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    _write_private(folder / name, encrypt(upload.content, name))
    # The message row commits or not: a rollback must not leave an orphan file behind.
    on_rollback(lambda: delete_file(f"messages/{name}"))
    return StoredFile(
        filename=clean_filename(upload.filename, kind),
        content_type=kind,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        storage_path=f"messages/{name}",
    )


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


def _write_private(path: Path, data: bytes) -> None:
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
            _write_private(path, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
    return decode_key(path.read_text())


def attachment_key() -> bytes:
    """Return the key encrypting attachments (settings, else key file; generated outside
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


def read_attachment(storage_path: str) -> bytes:
    """Return the decrypted content of a stored attachment."""
    path = attachment_path(storage_path)
    return decrypt(path.read_bytes(), path.name)


def encrypt_plaintext_files() -> int:
    """Encrypt in place the attachment files written before encryption; return how many.

    Idempotent (encrypted files are left alone); each file is replaced atomically.
    """
    folder = Path(current_app.config["UPLOAD_FOLDER"]) / "messages"
    if not folder.is_dir():
        return 0
    folder.chmod(0o700)
    count = 0
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.endswith(".tmp"):
            continue
        data = path.read_bytes()
        if data.startswith(MAGIC):
            continue
        temporary = path.with_name(path.name + ".tmp")
        temporary.unlink(missing_ok=True)  # left by an interrupted run
        _write_private(temporary, encrypt(data, path.name))
        os.replace(temporary, path)
        count += 1
    return count


def attachment_path(storage_path: str) -> Path:
    """Return the absolute path of a stored attachment (inside UPLOAD_FOLDER/messages only)."""
    root = (Path(current_app.config["UPLOAD_FOLDER"]) / "messages").resolve()
    path = (Path(current_app.config["UPLOAD_FOLDER"]) / storage_path).resolve()
    if root not in path.parents:
        raise InvalidInput("Chemin de pièce jointe invalide.")
    return path


def delete_file(storage_path: str) -> None:
    """Remove a stored attachment file if it is still there."""
    attachment_path(storage_path).unlink(missing_ok=True)
