"""Attachment files: type sniffed from the content, size limit, kept in the blob storage
(ptap.core.blobs: the database or a shared folder, never the web root), encrypted at rest.

The encryption at rest (AES-256-GCM, the last part of the blob's key as associated data, the
key from MESSAGING_ATTACHMENT_KEY or its key file) lives in ptap.core.sealed_files, shared with
the DMP documents filed into the coordination file. Files written before encryption (no MAGIC)
are still read as they are.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from ptap.core import blobs
from ptap.core.errors import InvalidInput

# The encryption at rest is shared with the DMP documents filed into the coordination file.
from ptap.core.sealed_files import (  # noqa: F401 - re-exported for callers and tests
    MAGIC,
    AttachmentKeyError,
    attachment_key,
    decode_key,
    decrypt,
    encrypt,
)

#: Magic numbers of the types messaging can accept (the configuration picks among them).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    DOCX: ".docx",
    XLSX: ".xlsx",
    ODT: ".odt",
    ODS: ".ods",
}
IMAGE_TYPES = frozenset(t for t in EXTENSIONS if t.startswith("image/"))
#: The extensions a client name may carry for each type (a name saying another is refused).
_NAME_EXTENSIONS = {**{ext: kind for kind, ext in EXTENSIONS.items()}, ".jpeg": "image/jpeg"}
#: OOXML: the content type [Content_Types].xml gives the main part, and that part's name.
_OOXML_MAIN = (
    (DOCX, DOCX + ".main+xml", "word/document.xml"),
    (XLSX, XLSX + ".main+xml", "xl/workbook.xml"),
)
_ODF_TYPES = frozenset({ODT, ODS})
_OFFICE_TYPES = frozenset({DOCX, XLSX, ODT, ODS})
#: Reading a document's manifest stops here (a real [Content_Types].xml is a few kB).
_MANIFEST_MAX = 256 * 1024
_ZIP_MAX_ENTRIES = 10_000
#: Where an ODF document keeps its macros (Basic) and scripts (Python, JavaScript, BeanShell).
_ODF_MACRO_FOLDERS = ("Basic/", "Scripts/")


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
    """An attachment stored in the blob storage under `storage_path` (messages/<random>)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    storage_path: str


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """Return a member's first bytes, or None when it is larger than a manifest can be."""
    with archive.open(name) as member:
        data = member.read(_MANIFEST_MAX + 1)
    return data if len(data) <= _MANIFEST_MAX else None


def _office_type(archive: zipfile.ZipFile) -> str | None:
    """Return the office type a ZIP container proves by its own manifest, or None.

    ODF: the first entry is `mimetype` (stored, as the standard requires), naming a text or a
    spreadsheet, and `content.xml` is there. OOXML: `[Content_Types].xml` declares the main
    part of a Word or Excel document, and that part is there. Macro projects are refused
    (a macro-enabled document renamed .docx declares another type, but is checked anyway), and
    so are an ODF document's Basic macros and scripts.
    """
    entries = archive.infolist()
    names = {e.filename for e in entries}
    if len(entries) > _ZIP_MAX_ENTRIES or any(n.lower().endswith("vbaproject.bin") for n in names):
        return None
    if any(n.startswith(_ODF_MACRO_FOLDERS) for n in names):  # LibreOffice macros or scripts
        return None
    if entries and entries[0].filename == "mimetype":
        declared = _read_member(archive, "mimetype") or b""
        kind = declared.decode("ascii", "replace").strip()
        stored = entries[0].compress_type == zipfile.ZIP_STORED
        return kind if kind in _ODF_TYPES and stored and "content.xml" in names else None
    if "[Content_Types].xml" not in names:
        return None
    manifest = (_read_member(archive, "[Content_Types].xml") or b"").decode("utf-8", "replace")
    for kind, main_type, part in _OOXML_MAIN:
        declares = re.search(
            r'PartName="/' + re.escape(part) + r'"\s+ContentType="' + re.escape(main_type) + '"',
            manifest,
        ) or re.search(
            r'ContentType="' + re.escape(main_type) + r'"\s+PartName="/' + re.escape(part) + '"',
            manifest,
        )
        if declares and part in names:
            return kind
    return None


def _sniff_zip(content: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return _office_type(archive)
    # A damaged, encrypted or exotic archive proves nothing.
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        RuntimeError,
        ValueError,
        NotImplementedError,
        KeyError,
    ):
        return None


def sniff_type(content: bytes) -> str | None:
    """Return the MIME type the content proves (first bytes; an office document's manifest),
    or None."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content.startswith(b"PK\x03\x04"):
        return _sniff_zip(content)
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


def _name_contradicts(name: str, kind: str) -> bool:
    """Tell whether the client's name announces an office document the content is not (a
    .docx holding a spreadsheet or an image). PDFs and images keep the older rule: the content
    decides and the name is corrected (scan.pdf holding a PNG is stored as scan.png)."""
    claimed = _NAME_EXTENSIONS.get(Path(name.replace("\\", "/")).suffix.lower())
    return claimed in _OFFICE_TYPES and claimed != kind


def _shown_name(name: str) -> str:
    """The client's file name as quoted in an error (no path, bounded)."""
    return Path(name.replace("\\", "/")).name[:80] or "fichier"


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
            f"« {_shown_name(upload.filename)} » dépasse la taille maximale d'une pièce "
            f"jointe ({cfg['MESSAGING_ATTACHMENT_MAX_MB']} Mo).",
            field="file",
        )
    if not upload.content:
        raise InvalidInput(f"Le fichier « {_shown_name(upload.filename)} » est vide.", field="file")
    kind = sniff_type(upload.content)
    if kind is None or kind not in cfg["MESSAGING_ATTACHMENT_TYPES"]:
        raise InvalidInput(
            f"Type de fichier refusé pour « {_shown_name(upload.filename)} » : seuls les PDF, "
            "les images (PNG, JPEG, GIF, WebP) et les documents Word, Excel ou LibreOffice "
            "(DOCX, XLSX, ODT, ODS) sont acceptés, d'après leur contenu.",
            field="file",
        )
    if _name_contradicts(upload.filename, kind):
        raise InvalidInput(
            f"Le contenu de « {_shown_name(upload.filename)} » ne correspond pas à son "
            f"extension (c'est un fichier {EXTENSIONS[kind]}) : vérifiez le fichier choisi.",
            field="file",
        )
    key = blobs.new_key("messages")
    # Same transaction as the message row: a rollback leaves no orphan blob behind.
    blobs.store(key, encrypt(upload.content, _aad(key)), max_bytes=limit + len(MAGIC) + 64)
    return StoredFile(
        filename=clean_filename(upload.filename, kind),
        content_type=kind,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        storage_path=key,
    )


def _aad(key: str) -> str:
    """The associated data of a blob: the last part of its key (the file name, as before)."""
    return key.rsplit("/", 1)[-1]


def read_attachment(storage_path: str) -> bytes:
    """Return the decrypted content of a stored attachment (whole: AES-GCM checks it at once;
    attachments are bounded by MESSAGING_ATTACHMENT_MAX_MB)."""
    return decrypt(blobs.read_blob(blobs.check_key(storage_path)), _aad(storage_path))


def encrypt_plaintext_files() -> int:
    """Encrypt in place the attachment blobs written before encryption; return how many.

    Idempotent (encrypted blobs are left alone); each blob is replaced atomically (a renamed
    temporary file, or one transaction the caller commits).
    """
    backend = blobs.storage()
    count = 0
    for entry in list(backend.entries()):
        if not entry.key.startswith("messages/"):
            continue
        data = b"".join(backend.open(entry.key))
        if data.startswith(MAGIC):
            continue
        backend.put(entry.key, encrypt(data, _aad(entry.key)))
        count += 1
    return count


def attachment_path(storage_path: str) -> Path:
    """Return the file of a stored attachment (filesystem backend only; tests and tools)."""
    backend = blobs.storage()
    if not isinstance(backend, blobs.FilesystemStorage) or not storage_path.startswith("messages/"):
        raise InvalidInput("Chemin de pièce jointe invalide.")
    try:
        return backend.path_for(storage_path)
    except blobs.InvalidBlobKey as exc:
        raise InvalidInput("Chemin de pièce jointe invalide.") from exc


def delete_file(storage_path: str) -> None:
    """Delete a stored attachment whose row is being deleted (after the commit on disk)."""
    blobs.discard(storage_path)
