"""Attachment files: type sniffed from the content, size limit, storage outside the web root."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from ptap.core.aftercommit import on_rollback
from ptap.core.errors import InvalidInput

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
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    (folder / name).write_bytes(upload.content)
    # The message row commits or not: a rollback must not leave an orphan file behind.
    on_rollback(lambda: delete_file(f"messages/{name}"))
    return StoredFile(
        filename=clean_filename(upload.filename, kind),
        content_type=kind,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        storage_path=f"messages/{name}",
    )


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
