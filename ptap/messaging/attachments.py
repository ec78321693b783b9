"""Attachment files: type sniffed from the content, size limit, storage outside the web root,
encrypted at rest.

The encryption at rest (AES-256-GCM, the file's own name as associated data, the key from
MESSAGING_ATTACHMENT_KEY or its key file) lives in ptap.core.sealed_files, shared with the
DMP documents filed into the coordination file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from ptap.core.aftercommit import on_rollback
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
from ptap.core.sealed_files import write_private as _write_private

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
    """A file written under UPLOAD_FOLDER/messages/."""

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
